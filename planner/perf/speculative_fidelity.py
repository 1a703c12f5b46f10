"""Speculative-decoding figures of `serving_under_load.csv` as ratios of the model's own predictions.

Reported as their own group, beside (never inside) the throughput and latency targets:

`speedup_x` (EAGLE-3 / MTP throughput over the same run without speculation, as the source prints it): the
    row's run through `serving_fidelity.load_predictions` twice, with its draft and with `speculative none`
    (same engine, model, GPU, layout, lengths and load), predicted = the ratio of the two output throughputs.
`acceptance_length` (mean tokens emitted per verification step, bonus token included): the catalog's acceptance
    for the method and workload class (engines.yaml `speculative:`), stated at its `draft_tokens` k0. A run at
    another draft length k is predicted with the geometric acceptance model: each drafted token is accepted
    with the same probability a, independently of the previous ones (Leviathan et al. 2023), so
    AL(k) = (1 - a^(k+1)) / (1 - a), with a solved from AL(k0). Rows whose own figure the catalog copies
    (k = k0 on the source the catalog cites) are marked `in_sample`.
Dataset -> workload class (the keys of engines.yaml acceptance): MT-Bench -> chat, HumanEval -> coding-assistant,
anything else -> default. Not expressible: methods the catalog has no entry for (P-EAGLE), tree drafts (top-k > 1),
rows without a GPU.
`acceptance_assumed`: the catalog's acceptance for the row's model is copied from another model's draft
(engines.yaml `assumed: true`): such a row checks the assumption as much as the model (every speedup_x row today:
REAG's Kimi-K2.5 / MiniMax-M2.5 drafts have no published acceptance).

What the speed-up error is made of (REAG, the only expressible speedup_x rows: vLLM, MI355X TP4, 1K/1K closed
loop at concurrency c, k = 3; benchmarks/speculative_shape.py prints every figure below). The baseline is the
source's own: its no-draft run at the same c (it prints EAGLE3 / no-spec throughput), closed loop on both sides,
neither saturated. The modelled speed-up rises from c 16 to 64 (Kimi-K2.5 1.32 -> 1.83, MiniMax-M2.5 1.65 ->
2.02, steady state; MiniMax at EP4 as the page states, "TP4 with expert parallelism") because of the routed
experts' weight reads: the plain step's grow 2.4 -> 22.0 ms (Kimi) and
1.5 -> 10.8 ms (MiniMax) from c 4 to 64 as 4 -> 64 tokens touch 8% -> 74% / 12% -> 87% of the experts, while the
verify step's (4 tokens a sequence) saturate from c 16 (29.6 / 12.4 ms at 64); the draft (0.7-1.2 / 0.2-0.3 ms)
and the prompt work a real step carries (accept x the plain run's: prompts finish accept times faster) pull the
other way, too little. Against the data, the speed-up's error factors exactly into acceptance x plain step x 1 /
real verify step, with the acceptance the data imply model-free: the plain run at c = 4b carries the GEMMs the
tokens the speculative run at b verifies, so where a step is set by its tokens the two share it, and (after the
modelled attention and prompt-work differences) the acceptance is 2.9-3.1 for Kimi's draft and 2.0-2.2 for
MiniMax's (the catalog's 2.53 is gpt-oss-20b's, assumed). Then from c 4 to 64 the modelled / measured speed-up
rises x1.40 (Kimi) and x1.49 (MiniMax), of which the plain runs' step makes x1.34 / x1.37 (modelled / measured
0.82 -> 1.10 and 0.81 -> 1.11: the same plain rows' throughput errors, +22% / +23% at c 4 to -9% / -10% at 64)
and the real verify step x1.04 / x1.09 (within -8..+15% at every c; it saturates in the model where the measured
one still grows ~0.06-0.11 ms a token past 128 tokens). So the shape is the target's step against its batch on
this stack (too fast at a few tokens, too steep up to 64), priced for the plain runs as for the verify; the
speculative terms (draft, verify tokens, prompt share) are not where it comes from. Tried (h83, not kept, printed
by the benchmark): a fixed cost per token through the GEMMs (0.05-0.1 ms) lowers the high-c speed-ups but
steepens the plain runs' error further (-8 -> -29% at c 64); experts of unequal popularity (lognormal sigma
1-1.5) flatten the plain runs and the speed-up (MiniMax 1.93 -> 1.76) but do not make it fall; neither has data
here (no MI355X GEMM probe: its efficiencies are H100/H200's; no routing statistics of these models). The TP4
all-reduces on the 3 of MI355X's 7 xGMI links a TP4 group holds (the step model gives any group all 7): c 64
speed-up 1.83 -> 1.75 (Kimi), 1.99 -> 1.95 (MiniMax), a small part.
Why Kimi's modelled speed-up dips at c 8-16 below c 4 and 32 (1.47 / 1.32 / 1.32 / 1.52 / 1.83, steady
state; the calibrate rows run the simulator, 1.45 / 1.30 / 1.29 / 1.45 / 1.72): speed-up = acceptance x plain
step / (verify + draft), and each step is a fixed part R (~7.3 ms: the graph launches, attention projections,
shared expert, TP all-reduces) plus the experts the step's tokens touch, E(T) = 384 (1 - (1 - 8/384)^T) of
them. The verify at c carries 4c tokens: E(4c) grows fastest (in ms) from 16 to 64 tokens (8.5 -> 22.0 ms,
c 4 -> 16), the plain step's from 16 to 64 too, which it reaches only at c 16 -> 64 (8.5 -> 22.0). So
(verify + draft) / plain = (R + E(4c) + draft) / (R + E(c)) goes 1.71, 1.91, 1.92, 1.67, 1.37 over c 4 .. 64:
up while the verify's reads climb and the plain step's do not yet, down once the verify's saturate (E(256) =
99.5% of the experts). MiniMax's 256 experts top-8 (1/32 a token) saturate at fewer tokens, so its ratio
peaks at c 8 (1.54) and its speed-up rises from there. That is the step model's MoE physics (the rise of an
MoE's speed-up with the batch while the verify's experts saturate is what MoESD, Huang et al. 2025,
arXiv 2505.19645, reports for sparse MoE, recalled, not held here), not a speculative term: the verify is
priced as the plain step of b (k + 1) tokens through every GEMM with b sequences' KV reads, and a dense
model's speed-up falls monotonically with the batch (tests/test_speculative_batch_shape.py pins both by hand,
and that no speed-up exceeds the acceptance nor any speculative run the datasheet roofline of what it
verifies). On AMD's stack the measured step is near a power of its tokens (Kimi 12.1 / 18.1 / 30.0 / 51.4 ms at
4 / 16 / 64 / 256 tokens, 0.11 ms a token from 64 to 256 where the model's falls to 0.09, then 0.04), which no
sourced
speculative term reproduces; the acceptance for these rows stays assumed (h105 re-read REAG's rows: their
notes state num_speculative_tokens, draft TP and seeds, no acceptance; the drafts' model cards are not held
here).
Earlier (h34): the k + 1 verified tokens of a sequence routed to correlated experts (touched experts counted for
1 + rho k tokens a sequence): rho 1 (independent, the model) 24.4% median |err| (signed -20.7), 0.8 22.4%
(-18.3), 0.5 14.3% (-8.3), 0 16.7% (+16.7); MiniMax's speed-up still rises with the batch at every rho, and the
only published routing analysis we know of (Mixtral, Jiang et al. 2024 sec. 5, recalled, not held here:
consecutive tokens share their first expert up to ~28% of the time where 12.5% is chance) puts rho near 0.8, so
a lower value would be a fit to these 15 assumed-acceptance rows.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.perf.engines import acceptance_is_assumed, spec_support
from planner.perf.evaluate import evaluate
from planner.perf.params import Efficiency
from planner.perf.serving_fidelity import CFG, load_predictions
from planner.perf.speculative_acceptance import acceptance_at
from planner.perf.under_load_mapping import LOAD_PATH, _engine, _map_row, catalog_model_id

SPEC_METRICS = ("speedup_x", "acceptance_length")
DATASET_CLASS = (("mt-bench", "chat"), ("humaneval", "coding-assistant"))
COLUMNS = ("id", "source_family", "metric", "model", "accelerator", "engine", "speculative", "draft_tokens",
           "concurrency", "actual", "predicted", "error_pct", "in_sample", "acceptance_assumed", "expressible",
           "why_not")


def _workload_class(text: str) -> str:
    t = text.lower()
    return next((cls for key, cls in DATASET_CLASS if key in t), "default")


def _acceptance_row(r: pd.Series, catalog: Catalog) -> dict:
    """One acceptance_length row: the method and draft length from the source's labels, the catalog's figure."""
    rid, fw = str(r["id"]), str(r["framework"])
    out = {"expressible": False, "why_not": ""}
    model = catalog_model_id(r["model"])
    if model is None or model not in catalog.models:
        return out | {"why_not": f"model {r['model']!r} not in the catalog"}
    if "P-EAGLE" in rid:
        return out | {"why_not": "P-EAGLE (parallel drafting) is not a catalog method"}
    if m := re.search(r"EAGLE-3-K(\d+)", rid):
        method, k = "eagle3", int(m.group(1))
    elif m := re.search(r"MTP_(\d+)-token_window", rid):
        method, k = "mtp", int(m.group(1)) - 1  # the window holds the k drafted tokens and the bonus token
    else:
        return out | {"why_not": "draft method / length not stated"}
    engine = _engine(fw) or ""
    family = catalog.models[model].family
    sup = spec_support(catalog, engine if engine in catalog.engines else "", method, family, model)
    if sup is None:
        return out | {"why_not": f"no {method} draft for {model} in engines.yaml"}
    klass = _workload_class(rid + " " + str(r["isl"]))
    a0 = sup.acceptance(klass)
    own = k == sup.draft_tokens and rid.split("-")[0] in sup.source  # the catalog copied this source at k0
    return {"expressible": True, "why_not": "", "model": model, "engine": engine, "speculative": method,
            "draft_tokens": k, "predicted": acceptance_at(a0, sup.draft_tokens, k), "in_sample": own,
            "acceptance_assumed": sup.assumed}


def _speedup_rows(rows: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> pd.DataFrame:
    """speedup_x rows: predicted throughput with the row's draft over the same run without it."""
    as_thr = rows.assign(metric="output_tok_s")
    mapped = pd.DataFrame([_map_row(r, catalog) for _, r in as_thr.iterrows()])
    mapped["id"] = rows["id"].to_numpy()
    ok = mapped["expressible"].to_numpy(dtype=bool).copy()
    tree = rows["framework"].str.contains(r"eagle-topk [2-9]", regex=True).to_numpy()
    pred = np.full(len(rows), np.nan)
    reason = np.where(ok, "", mapped["why_not"].fillna("").to_numpy(dtype=object)).astype(object)
    reason[tree & ok] = "tree drafts (top-k > 1) are not modelled"
    ok &= ~tree
    finite = mapped["num_requests"].notna().to_numpy() if "num_requests" in mapped else np.zeros(len(rows), bool)
    # finite runs: both sides through the simulator as the benchmark ran them (serving_fidelity.load_predictions)
    if (sel := ok & finite).any():
        sub = mapped[sel].reset_index(drop=True)
        with_draft = load_predictions(sub, catalog, eff)
        plain = load_predictions(sub.assign(speculative="none"), catalog, eff)
        pred[sel] = with_draft["predicted"].to_numpy() / plain["predicted"].to_numpy()
        reason[sel] = np.where(with_draft["why_not"].fillna("") != "", with_draft["why_not"],
                               plain["why_not"].fillna(""))
    # steady state: both sides through the step model at the running batch (= the concurrency), the one model
    # load_predictions has for a steady speculative run: a ratio of two different models would be the models' gap
    if (sel := ok & ~finite).any():
        cfg = mapped.loc[sel, CFG].reset_index(drop=True)
        cfg["batch"] = mapped.loc[sel, "concurrency"].to_numpy(dtype=float).astype(np.int64)
        with_draft = evaluate(cfg, catalog, efficiency=eff)
        plain = evaluate(cfg.assign(speculative="none"), catalog, efficiency=eff)
        fits = with_draft["fits"].to_numpy(dtype=bool) & plain["fits"].to_numpy(dtype=bool)
        pred[sel] = np.where(fits, with_draft["output_tok_s"] / plain["output_tok_s"], np.nan)
        reason[sel] = np.where(fits, "", with_draft["reason"].fillna("") + plain["reason"].fillna(""))
    out = mapped.reindex(columns=["model", "accelerator", "engine", "speculative", "concurrency"])
    assumed = [acceptance_is_assumed(catalog, str(e), str(s), str(m)) for e, s, m in
               zip(out["engine"], out["speculative"], out["model"], strict=True)]
    return out.assign(predicted=pred, why_not=reason, expressible=ok & np.isfinite(pred), in_sample=False,
                      acceptance_assumed=assumed)


def speculative_fidelity(catalog: Catalog, eff: Efficiency, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every speedup_x and acceptance_length row: predicted, error, whether in sample, or why not (COLUMNS)."""
    rows = pd.read_csv(LOAD_PATH) if rows is None else rows
    rows = rows[rows["metric"].isin(SPEC_METRICS)].reset_index(drop=True)
    base = pd.DataFrame({"id": rows["id"], "source_family": rows["id"].str.split("-").str[0],
                         "metric": rows["metric"], "actual": rows["value"].astype(float)})
    parts = []
    sp = rows["metric"] == "speedup_x"
    if sp.any():
        parts.append(_speedup_rows(rows[sp].reset_index(drop=True), catalog, eff).set_index(rows.index[sp]))
    acc = ~sp
    if acc.any():
        frame = pd.DataFrame([_acceptance_row(r, catalog) for _, r in rows[acc].iterrows()], index=rows.index[acc])
        parts.append(frame)
    out = base.join(pd.concat(parts).sort_index())
    out["predicted"] = out["predicted"].astype(float)
    out["error_pct"] = (out["predicted"] / out["actual"] - 1.0) * 100.0
    out["in_sample"] = out["in_sample"].fillna(False).astype(bool)
    out["acceptance_assumed"] = out["acceptance_assumed"].fillna(False).astype(bool)
    out["expressible"] = out["expressible"].fillna(False).astype(bool) & out["predicted"].notna()
    return out.reindex(columns=list(COLUMNS))


def speculative_summary(spec: pd.DataFrame) -> list[dict]:
    """Median / P90 |error| per metric, out of sample and all rows (in-sample rows are the catalog's own)."""
    rows = []
    for metric, g in spec[spec["expressible"]].groupby("metric"):
        for label, sel in (("out of sample", g[~g["in_sample"]]), ("all", g)):
            e = sel["error_pct"].abs().dropna()
            rows.append({"metric": metric, "rows": label, "n": len(e),
                         "assumed_acceptance": int(sel.loc[e.index, "acceptance_assumed"].sum()),
                         "median_abs_pct": round(float(e.median()), 1) if len(e) else float("nan"),
                         "p90_abs_pct": round(float(e.quantile(0.9)), 1) if len(e) else float("nan"),
                         "median_signed_pct": round(float(sel["error_pct"].median()), 1) if len(e) else
                         float("nan")})
    rows.append({"metric": "not expressible", "rows": "", "n": int((~spec["expressible"]).sum()),
                 "assumed_acceptance": 0,
                 "median_abs_pct": float("nan"), "p90_abs_pct": float("nan"), "median_signed_pct": float("nan")})
    return rows
