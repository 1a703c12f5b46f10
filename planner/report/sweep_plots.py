"""Sweep plots, PNG and SVG (matplotlib, Agg): tornado, metric vs each parameter, decision boundaries (a map
for two-parameter grids), Pareto frontier of cost vs a swept latency target, sensitivity-index bars.

Renderers only: every figure is drawn from a `SweepData` table and figures computed in `planner.sweep`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from planner.sweep.results import SweepData, decision_changes, tornado_basis

MAX_CATEGORIES = 10


def slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-").lower() or "parameter"


def decision_label(row: pd.Series, workloads: list[str]) -> str:
    """What was chosen, per workload: accelerator and precision (and engine where plans give one)."""
    parts = []
    for w in workloads:
        bits = [row.get(f"{w}.{f}") for f in ("accelerator", "precision", "engine")]
        bits = [str(b) for b in bits if isinstance(b, str) and b]
        if bits:
            parts.append(f"{w}: {' '.join(bits)}" if len(workloads) > 1 else " ".join(bits))
    return "; ".join(parts) or "no plan"


def workloads_of(df: pd.DataFrame) -> list[str]:
    return sorted({c.rsplit(".", 1)[0] for c in df.columns if c.endswith(".accelerator")})


def render_plots(data: SweepData, tornado: list[dict], sens: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "planner", "figure.dpi": 100})  # SVG ids stable between runs
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig, name: str) -> None:
        for ext in ("png", "svg"):
            p = out_dir / f"{name}.{ext}"
            fig.savefig(p, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
            written.append(p)
        plt.close(fig)

    df = data.solved
    metric = data.metric
    if tornado:
        save(_tornado(plt, tornado, metric, tornado_basis(data)), "tornado")
    for p in data.parameters:
        path = p["path"]
        if df.empty or path not in df or df[path].nunique() < 2 or not _numeric(df[path]):
            continue
        save(_versus(plt, df, path, p.get("label", path)), f"vs-{slug(path)}")
        save(_decisions_1d(plt, data, df, path, p.get("label", path)), f"decisions-{slug(path)}")
        if path.endswith(("ttft_ms", "tpot_ms")):
            others = [q["path"] for q in data.parameters if q["path"] != path]
            save(_pareto(plt, df, path, p.get("label", path), others), f"pareto-{slug(path)}")
    grid2 = [p["path"] for p in data.parameters if p["path"] in df and df[p["path"]].nunique() > 1]
    if len(grid2) == 2 and all(_numeric(df[c]) for c in grid2):
        save(_decision_map(plt, df, grid2), "decision-map")
    if sens.get("indices"):
        save(_sensitivity(plt, sens), "sensitivity")
    return written


def _numeric(s: pd.Series) -> bool:
    return bool(pd.to_numeric(s, errors="coerce").notna().all())


def _tornado(plt, bars: list[dict], metric: str, basis: str):
    fig, ax = plt.subplots(figsize=(8, 1 + 0.5 * len(bars)))
    base = bars[0]["base"]
    for i, b in enumerate(reversed(bars)):
        for value, color, side in ((b["metric_at_low"], "#4c72b0", "left"), (b["metric_at_high"], "#dd8452",
                                                                               "right")):
            if value is None:  # that end of the range has no plan: say so instead of drawing nothing
                ax.text(base, i, "no plan  " if side == "left" else "  no plan", ha="right" if side == "left"
                        else "left", va="center", fontsize=8, color=color)
            else:
                ax.barh(i, value - base, left=base, color=color)
    names = [f"{b['label']}\n{b['low_value']} .. {b['high_value']}" for b in reversed(bars)]
    ax.set_yticks(range(len(bars)), names)
    ax.axvline(base, color="black", linewidth=0.8)
    ax.set_xlabel(f"{metric} (blue: parameter at its low value, orange: at its high)")
    ax.set_title(f"Tornado: {basis}", fontsize=10)
    return fig


def _versus(plt, df: pd.DataFrame, path: str, label: str):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    x = pd.to_numeric(df[path])
    for ax, col in zip(axes, ("cost_usd_per_hour", "tokens_per_usd"), strict=True):
        if col not in df:
            continue
        ax.scatter(x, df[col], s=10, alpha=0.4, color="#999999", label="scenarios")
        mean = df.assign(_x=x).groupby("_x")[col].mean()
        ax.plot(mean.index, mean.to_numpy(), color="#4c72b0", marker="o", label="mean")
        ax.set_xlabel(label)
        ax.set_ylabel(col)
        ax.legend(fontsize=8)
    fig.suptitle(f"cost and tokens per $ vs {label}")
    return fig


def _categories(labels: pd.Series) -> tuple[list[str], pd.Series]:
    order = labels.value_counts().index.tolist()
    keep = order[:MAX_CATEGORIES]
    return keep + (["other"] if len(order) > MAX_CATEGORIES else []), labels.where(labels.isin(keep), "other")


def _decisions_1d(plt, data: SweepData, df: pd.DataFrame, path: str, label: str):
    ws = workloads_of(df)
    labels = df.apply(lambda r: decision_label(r, ws), axis=1)
    cats, labels = _categories(labels)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.35 * len(cats)))
    x = pd.to_numeric(df[path])
    ax.scatter(x, [cats.index(v) for v in labels], s=18, color="#4c72b0")
    ax.set_yticks(range(len(cats)), cats, fontsize=8)
    for ch in decision_changes(data, path):
        ax.axvline(sum(float(v) for v in ch["between"]) / 2, color="#dd8452", linestyle="--", linewidth=0.8)
    ax.set_xlabel(label)
    ax.set_title(f"chosen hardware and precision vs {label} (dashed: where a choice changes)")
    return fig


def _decision_map(plt, df: pd.DataFrame, cols: list[str]):
    ws = workloads_of(df)
    labels = df.apply(lambda r: decision_label(r, ws), axis=1)
    cats, labels = _categories(labels)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    cmap = plt.get_cmap("tab10")
    xs, ys = pd.to_numeric(df[cols[0]]), pd.to_numeric(df[cols[1]])
    for i, c in enumerate(cats):
        m = labels == c
        ax.scatter(xs[m], ys[m], s=120, marker="s", color=cmap(i % 10), label=c)
    ax.set_xlabel(cols[0])
    ax.set_ylabel(cols[1])
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("decision map: what the optimal plan runs on")
    return fig


def _frontier(x, y) -> list[tuple[float, float]]:
    """Non-dominated (target, cost) points: a looser target never needs to cost more."""
    front, best = [], float("inf")
    for a, b in sorted(zip(x, y, strict=True)):
        if b < best:
            front.append((a, b))
            best = b
    return front


def _pareto(plt, df: pd.DataFrame, path: str, label: str, others: list[str]):
    """Cost vs a latency target; one frontier per value of a second parameter when there is one with few values."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = pd.to_numeric(df[path])
    ax.scatter(x, df["cost_usd_per_hour"], s=12, alpha=0.5, color="#999999", label="scenarios")
    split = [o for o in others if o in df and 1 < df[o].nunique() <= 6]
    groups = df.groupby(split[0], sort=True) if len(split) == 1 and len(others) == 1 else [(None, df)]
    for key, g in groups:
        front = _frontier(pd.to_numeric(g[path]), g["cost_usd_per_hour"])
        if front:
            name = "Pareto frontier" if key is None else f"frontier, {split[0]} = {key}"
            ax.step([a for a, _ in front], [b for _, b in front], where="post", label=name)
    ax.set_xlabel(f"{label} (latency target)")
    ax.set_ylabel("cost_usd_per_hour")
    ax.legend(fontsize=8)
    ax.set_title("cheapest plan vs latency target")
    return fig


def _sensitivity(plt, sens: dict):
    names = sens["parameters"]
    idx = sens["indices"]
    keys = ("S1", "ST") if sens["method"] == "sobol" else ("mu_star", "sigma")
    fig, ax = plt.subplots(figsize=(8, 1 + 0.5 * len(names)))
    h = 0.38
    for j, k in enumerate(keys):
        vals = [idx[n].get(k) or 0.0 for n in names]
        ax.barh([i + j * h for i in range(len(names))], vals, height=h, label=k)
    ax.set_yticks([i + h / 2 for i in range(len(names))], names)
    ax.set_xlabel(f"{sens['method']} index of {sens['metric']}")
    ax.legend()
    ax.set_title("global sensitivity")
    return fig
