"""Engine factors per engine x architecture family, and the block-FP8 expert scale with them (issue 8).

    python benchmarks/engine_fit_family.py [--trials CACHE.pkl] [--blocks 1.0 0.7 0.5 0.35 0.25]

Runs the engine fit (planner.perf.engine_fit.fit_engines) on one set of trials per block_fp8_moe_eta_scale value
(the trials at efficiency.yaml's scale, cached with --trials; the rows the scale moves, GPUStack's DeepSeek runs
on H200 and TRTDG's H200 DeepSeek-R1 maxima, predicted again at each other value with every combo), with the
family split off (every engine x vendor pooled: fit_engines' family_split, the fit's setting) and on (a family
qualifying by engine_fit.family_qualifies gets its own efficiency factors, _family_fit), and prints the
issue-8 leave-one-source-out figures under load, the published maxima in sample / LOSO, TensorRT-LLM's entries,
and the NVL72 check of test_perf_engines (DeepSeek-R1 NVFP4 tokens per GPU at TPOT <= 10 ms, GB200 wide EP over
the best HGX B200 layout; the test asks > 2). The trials take 12 CPU-min, each other block value ~2.

What it showed (2026-12-01, main a7effd4's serving factors; LOSO under load: throughput median (P90), TPOT mean
both regimes, TTFT p99, TPOT p99, ITL p99; published maxima median / P90 in sample, LOSO; NVL72/HGX):
  block family  throughput    TPOT  TTFTp99 TPOTp99 ITLp99  published in / LOSO      trtllm nvidia|hopper|blackwell
  1.0   off     20.5 (136.8)  27.0  37.3    32.2    42.9    16.5/36.7  16.6/37.9   0.8/0.5/3/1ms          2.75x
  1.0   on      22.2 (136.6)  26.1  37.3    32.2    44.4    11.0/36.2  15.8/36.3   hopper eta 1.0, bw = nv 2.75x
  0.7   off     19.3 (121.9)  26.1  37.3    32.2    42.9    16.4/36.7  16.5/37.9   0.8/0.5/3/1ms          2.75x
  0.7   on      20.5 (110.8)  25.7  37.3    32.2    44.4    11.0/35.2  11.8/35.1   hopper eta 1.0         2.75x
  0.5   off     17.3 (119.2)  26.1  36.7    32.2    40.4    16.5/36.8  16.6/37.9   0.8/0.5/3/1ms          2.75x
  0.5   on      17.9 (106.7)  25.7  36.8    32.2    43.1    10.9/35.2  11.7/35.1   hopper eta 1.0         2.75x
  0.35  off     18.2 (106.7)  26.1  35.3    30.5    40.4    13.0/39.6  17.0/39.6   1.0/0.5/3/3ms          0.90x
  0.35  on      18.5 (85.4)   25.2  36.7    30.5    43.1    11.8/36.3  11.8/35.5   all 3 ms               0.35x
The family split moves TensorRT-LLM on Hopper to eta 1.0 (NVIDIA's own Hopper maxima, TRT10/TRTDG, run faster
than the model at 0.8) and nothing else that matters (vLLM's Hopper fit equals its vendor fit; no other group
qualifies). Published maxima gain (LOSO median 16.6 -> 15.8) but GPUStack's TensorRT-LLM runs on H100 (a third
party's runs of the same family) lose: throughput LOSO 27 -> 43% on its 10 rows, so the issue-8 throughput median
goes 20.5 -> 22.2 and ITL p99 42.9 -> 44.4. Fitted jointly (host factors per family too) TensorRT-LLM's
Hopper and Blackwell each took 3 ms a step (NVL72/HGX 0.35x); engine_fit._family_fit keeps the vendor's host
factors.
The block scale the serving fit picks on TRTDG's four H200 rows over (1.0, 0.7, 0.5, 0.35, 0.25) is 0.35 (its
other factors unchanged; serving in-sample 16.55/51.6 -> 16.4/49.4, its LOSO 17.35/56.2 unchanged: TRTDG held
out picks 1.0), and 0.35 moves pooled TensorRT-LLM/NVIDIA to 3 ms a step (NVL72/HGX 0.90x, 0.35x with the
families): it fails the NVL72 check either way. 0.5-0.7 would pass it and improve LOSO, but the fit does not
pick them, and picking the value by its LOSO figures would leave no out-of-sample figure to report.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf import engine_fit, max_batch_meeting
from planner.perf.fidelity import published_predictions
from planner.perf.params import load_efficiency
from planner.perf.serving_fidelity import load_predictions, load_targets

BLOCK = "block_fp8_moe_eta_scale"


def _at_block(t, cat, eff, block: float):
    """Trials `t` (at eff's block scale) with the rows the scale moves predicted again at `block`."""
    effb = dataclasses.replace(eff, serving=dict(eff.serving) | {BLOCK: block})
    mapped = t.base.drop(columns=["predicted", "regime", "why_not"])
    n = t.n_load

    def pred(combo, base_mask, pub_mask):
        trial = engine_fit._with_engines(effb, combo, cat.engines)
        a = load_predictions(mapped[base_mask], cat, trial)["predicted"].to_numpy(dtype=float) \
            if base_mask.any() else np.zeros(0)
        p = published_predictions(t.pub[pub_mask], cat, trial)["predicted"].to_numpy(dtype=float) \
            if pub_mask.any() else np.zeros(0)
        return a, p

    a, p = pred(t.combos[0], np.ones(n, dtype=bool), np.ones(len(t.pub), dtype=bool))
    moved_load = ~np.isclose(a, t.values[0, :n], equal_nan=True)
    moved_pub = ~np.isclose(p, t.values[0, n:], equal_nan=True)
    values = t.values.copy()
    for k, combo in enumerate(t.combos):
        a, p = pred(combo, moved_load, moved_pub)
        values[k, np.flatnonzero(moved_load)] = a
        values[k, n + np.flatnonzero(moved_pub)] = p
    logs = np.abs(np.log(values / t.actual))
    return dataclasses.replace(t, values=values, logs=np.where(np.isfinite(logs), logs, np.nan)), effb


def _nvl72_ratio(cat, eff) -> float:
    """test_perf_engines' NVL72 check on TensorRT-LLM: best GB200 wide-EP over best HGX B200 tokens per GPU."""
    rows = [dict(accelerator="b200", tp=8, attn_dp=1, ep=8), dict(accelerator="b200", tp=1, attn_dp=8, ep=8),
            *(dict(accelerator="gb200", tp=1, attn_dp=d, ep=d) for d in (32, 64))]
    g = pd.DataFrame([r | dict(model="deepseek-r1", precision="nvfp4", kv_precision="fp8", isl=1024, osl=1024,
                               engine="trtllm") for r in rows])
    r = max_batch_meeting(g, cat, tpot_s=0.010, efficiency=eff)["output_tok_s_per_gpu"]
    return float(r.iloc[2:].max() / r.iloc[:2].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=Path, default=None, help="trials cache at efficiency.yaml's block scale")
    ap.add_argument("--blocks", type=float, nargs="+", default=[1.0, 0.5, 0.35])
    args = ap.parse_args()
    cat = load_catalog()
    eff = load_efficiency(cat)
    if args.trials is not None and args.trials.is_file():
        trials = pickle.loads(args.trials.read_bytes())
    else:
        trials = engine_fit._trials(cat, eff)
        if args.trials is not None:
            args.trials.write_bytes(pickle.dumps(trials))
    for block in args.blocks:
        t, effb = (trials, eff) if block == eff.serving.get(BLOCK, 1.0) else _at_block(trials, cat, eff, block)
        for name, split in (("off", False), ("on", True)):
            engines, stats, _ = engine_fit.fit_engines(cat, effb, family_split=split, trials=t)
            pub = stats["published"]
            print(f"== block {block:g}, family split {name}: " + "; ".join(
                f"{x['target']}: {x['loso_median_abs_pct']} (P90 {x['loso_p90_abs_pct']})"
                for x in load_targets(stats["groups"])))
            print("   published in sample {median_abs_pct}/{p90_abs_pct}".format(**pub["in_sample"])
                  + ", LOSO {median_abs_pct}/{p90_abs_pct}".format(**pub["leave_one_source_out"]))
            for where, d in sorted(engines.get("trtllm", {}).items()):
                print(f"   trtllm/{where}: " + " ".join(f"{k}={d[k]['value']:g}" for k in d))
            ratio = _nvl72_ratio(cat, dataclasses.replace(effb, engines=engines))
            print(f"   NVL72 / HGX B200 (TensorRT-LLM, DeepSeek-R1 NVFP4, TPOT <= 10 ms): {ratio:.2f}x")


if __name__ == "__main__":
    main()
