"""Ledger rows -> one table (one row per scenario) -> results.parquet and results.csv; tornado and sensitivity
figures computed here, drawn in `planner.report`.

Columns: `scenario`, the parameter values (named by path), `status`, `cost_usd_per_hour`, `tokens_per_usd`,
`usd_per_mtok`, `output_tok_s`, `capex_usd`, `facility_power_kw`, `gpus`, `profit_usd_per_hour` where token
prices give one, per workload `<id>.accelerator`, `.system`, `.model`, `.precision`, `.serving` (and `.engine`
where plans carry one), `reused_candidates`, `error`.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import pandas as pd

from planner.outputs import safe_cell
from planner.sweep.ledger import Ledger

METRIC_COLUMNS = ("cost_usd_per_hour", "tokens_per_usd", "usd_per_mtok", "output_tok_s", "capex_usd",
                  "facility_power_kw", "it_power_kw", "gpus", "profit_usd_per_hour", "revenue_usd_per_hour")
CHOICE_FIELDS = ("accelerator", "system", "model", "precision", "serving", "engine")
SOLVED = ("optimal", "feasible_time_limit")


@dataclass
class SweepData:
    """A ledger read back: its metadata and the results table."""

    meta: dict
    parameters: list[dict]
    table: pd.DataFrame

    @property
    def metric(self) -> str:
        return self.meta.get("metric", "cost_usd_per_hour")

    @property
    def paths(self) -> list[str]:
        return [p["path"] for p in self.parameters]

    @property
    def solved(self) -> pd.DataFrame:
        return self.table[self.table["status"].isin(SOLVED)]


def choices(deployments: list[dict] | None) -> dict[str, str]:
    """Per workload, what carries it: the accelerator, system, model, precision, serving mode (and engine) of
    its deployments, the largest by output first, joined with '+' when a workload is split."""
    out: dict[str, str] = {}
    by_w: dict[str, list[dict]] = {}
    for d in deployments or []:
        by_w.setdefault(d["workload"], []).append(d)
    for w, ds in sorted(by_w.items()):
        ds = sorted(ds, key=lambda d: (-(d.get("output_tok_s") or 0), str(d.get("system"))))
        for f in CHOICE_FIELDS:
            vals = list(dict.fromkeys(str(d[f]) for d in ds if d.get(f) is not None))
            if vals:
                out[f"{w}.{f}"] = "+".join(vals)
    return out


def table_from_rows(rows: list[dict], paths: list[str]) -> pd.DataFrame:
    recs = []
    for r in rows:
        m = r.get("metrics") or {}
        rec = {"scenario": r["idx"]}
        rec.update({p: (r.get("params") or {}).get(p) for p in paths})
        rec["varied"] = r.get("varied")
        rec["status"] = r["status"]
        rec["objective"] = r.get("objective")
        rec.update({c: m.get(c) for c in METRIC_COLUMNS})
        rec.update(choices(r.get("deployments")))
        rec["reused_candidates"] = bool(r.get("reused"))
        rec["error"] = r.get("error")
        recs.append(rec)
    df = pd.DataFrame(recs)
    if df.empty:
        return pd.DataFrame(columns=["scenario", *paths, "status"])
    keep = [c for c in df.columns if c not in ("profit_usd_per_hour", "revenue_usd_per_hour", "varied")
            or df[c].notna().any()]
    return df[keep]


def read(led: Ledger) -> SweepData:
    meta = led.meta()
    params = json.loads(meta.get("parameters", "[]"))
    return SweepData(meta, params, table_from_rows(led.rows(), [p["path"] for p in params]))


def csv_text(df: pd.DataFrame) -> str:
    """CSV with cells that a spreadsheet would run as formulas neutralized (user strings reach the table)."""
    safe = df.copy()
    for c in safe.columns:
        if safe[c].dtype == object:
            safe[c] = [safe_cell(v) for v in safe[c]]
    buf = io.StringIO()
    safe.to_csv(buf, index=False)
    return buf.getvalue()


def parquet_bytes(df: pd.DataFrame) -> bytes | None:
    """results.parquet content, or None without pyarrow (`pip install 'planner[sweep]'`)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    buf = io.BytesIO()
    out = df.copy()
    for c in out.columns:  # mixed str/number parameter columns: parquet needs one type per column
        if out[c].dtype == object:
            out[c] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in out[c]]
    out.to_parquet(buf, index=False)
    return buf.getvalue()


def one_at_a_time(df: pd.DataFrame) -> bool:
    """Whether the scenarios vary one parameter at a time (the ledger's `varied` column names it)."""
    return "varied" in df and df["varied"].notna().any()


def tornado_basis(data: SweepData) -> str:
    """What a tornado's "at low" / "at high" are, for the reader: a grid's are means over the other parameters'
    values (quickstart-economics: demand 0.5 -> $30.65/h is the mean over five electricity prices, while the
    parameters table states electricity's base as $0.08), not the metric with the others at base."""
    if one_at_a_time(data.table):
        return "one parameter at a time, the others at base"
    return "mean over the scenarios at each value, the others varying"


def tornado(data: SweepData) -> list[dict]:
    """Per parameter: the metric at its lowest and highest value with the others at base (one-at-a-time
    scenarios), or, for other designs, the metric's mean over the scenarios at each of its values.
    `metric_at_low`/`_high` is None where that value has no plan (infeasible or failed)."""
    df = data.table
    metric = data.metric
    out = []
    if df.empty or metric not in df:
        return out
    df = df.assign(_m=df[metric].where(df["status"].isin(SOLVED)))
    oat = one_at_a_time(df)
    base_rows = df[df["varied"] == ""] if oat else df.iloc[0:0]
    # other designs: the mean over every scenario, the value a parameter without effect has at each of its
    # values in a full grid (the median put a bar under quickstart-economics' B200 price, swing 0)
    base = base_rows["_m"].iloc[0] if len(base_rows) else df["_m"].mean()
    if base is None or base != base:
        return out
    for p in data.parameters:
        path = p["path"]
        sub = pd.concat([df[df["varied"] == path], base_rows]) if oat else df
        means = sub.groupby(path, sort=True)["_m"].mean()  # NaN: no scenario at that value has a plan
        if len(means) < 2:
            continue
        lo, hi = _num(means.iloc[0]), _num(means.iloc[-1])
        have = means.dropna()
        out.append({"path": path, "label": p.get("label", path), "low_value": _py(means.index[0]),
                    "high_value": _py(means.index[-1]), "metric_at_low": lo, "metric_at_high": hi,
                    "swing": float(have.max() - have.min()) if len(have) else 0.0, "base": float(base),
                    "no_plan_at": [_py(v) for v, m in means.items() if m != m]})
    return sorted(out, key=lambda r: -r["swing"])


def _num(v) -> float | None:
    return None if v is None or v != v else float(v)


def decision_changes(data: SweepData, path: str) -> list[dict]:
    """Along one parameter (others at their most common value): the values where a workload's accelerator,
    precision, model or engine changes."""
    df = data.solved
    others = [p for p in data.paths if p != path]
    if df.empty:
        return []
    if others:
        mode = {p: df[p].mode().iloc[0] for p in others if df[p].notna().any()}
        for p, v in mode.items():
            df = df[df[p] == v]
    df = df.sort_values(path)
    cols = [c for c in df.columns if c.endswith((".accelerator", ".precision", ".model", ".engine"))]
    out = []
    prev = None
    for _, r in df.iterrows():
        cur = {c: r[c] for c in cols}
        if prev is not None:
            for c in cols:
                if cur[c] != prev[1][c]:
                    out.append({"column": c, "between": [_py(prev[0]), _py(r[path])], "from": prev[1][c],
                                "to": cur[c]})
        prev = (r[path], cur)
    return out


def _py(v):
    return v.item() if hasattr(v, "item") else v
