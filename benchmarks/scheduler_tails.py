"""Where the simulated ITL p99 of GPUStack's bursts comes from, engine by engine (issue 8, latency tails).

    python benchmarks/scheduler_tails.py [--engines sglang,vllm,trtllm] [--intake 0.1,1,3]

GPUStack's engine comparisons (serving_under_load.csv GPS-, 1,000 ShareGPT prompts at once, no speculation) run
through the simulator as calibrate runs them (serving_fidelity: the fitted engine factors of efficiency.yaml).
Per run: measured / simulated ITL mean and p99, TPOT p99, TTFT p99; the simulated share of ITL gaps longer than
four decode steps ("pauses": a prompt step or a chain of them ran while the sequence waited) and the longest
such gap; the measured p99 / mean. For the measured ITL p99 to be a pause, at least 1% of all gaps must be one,
about two per request at ShareGPT's ~200 output tokens.

What it showed (main ca643ec, 2026-12-01): SGLang (prefill_first: prompt steps run alone) simulates the burst as
one chain of prompt steps (every prompt is queued within ~0.75 s of serial intake, and a prompt step is never
shorter than the serial time per request, so the queue never empties before every prompt is in): each request
waits once, from its first token to the end of the chain; those gaps are ~0.5% of all, so the simulated p99 is a
decode step (DeepSeek-R1 H200: 82 ms, below its own mean 87 ms; measured 1,160 ms, 8x its mean 139 ms). The
measured p99 needs a pause in >= 1% of gaps while TPOT p99 (2,473 ms measured, 995 simulated) needs the long
single wait of the chain: the measured runs have both. `--intake` varies arrivals.API_SERIAL_SHARE: slower
intake spreads TTFT but the chain stays one chain (each prompt step outlasts the time between arrivals), and ITL
p99 does not move. Counterfactual schedules tried in the simulator and not kept (median over SGLang's 14 GPS
bursts, signed error ITL p99 / TPOT p99 / TTFT p99, in sample): as is -79 / -29 / -23%; a decode step between
any two prompt steps (a schedule SGLang 0.5 does not have) -38 / -65 / -18%; new requests reserving their whole
output in the step that admits them (SGLang PrefillAdder) -75 / -26 / -23%; no admission after a refusal until a
request finishes (SGLang batch_is_full) -79 / -29 / -23%; chunks coalescing behind an API server taking 0.2 ms per
streamed chunk -68 / -29 / -23%. Intake forms (same tries): serial time 3x the fitted share (22 ms a request)
-73 / +7 / +7%; that mean, each request's time in proportion to its prompt (long prompts leave gaps in which the
queue empties and decode steps run) -18 / -9 / +8% signed, yet median |error| ITL p99 75% (79% as is) and TTFT
p99 49% (29%): as many runs overshoot as undershoot; exponential times of that mean -12 / -51 / +8%. Over every
source (benchmarks/api_serial_share.py, prompt-proportional form) GPS's mean |log error| grows from 0.53 at share
0.1 to 0.84 at 3, and each source held out picks 0.1. None reproduces both tails: not kept.
The same SGLang DeepSeek-R1 TP8 configuration measured three times (GPS-deepseek-r1-h200-1, -3, -4: the last two
add --enable-dp-attention, inert without --dp-size, and torch.compile) gives ITL p99 1,160 / 465 / 596 ms and
TTFT p99 13.7 / 9.7 / 10.9 s at throughput within 4%: the measured ITL p99 itself moves 2.5x between runs.
ShareGPT's own length shapes (planner/perf/sharegpt_lengths.py, 2026-12-01, refit): the chain is still one wait
per request (~0.5% of gaps: the count of gaps is the output tokens, the count of waits the requests), so SGLang's
ITL p99 stays a decode step (16 burst rows, LOSO median |error| 85.3 -> 84.5%); what moved is mean TPOT, which the
short outputs beside the chain set (SGLang bursts signed -49.5 -> -34.7%, vLLM -28.0 -> -14.6%).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAUSE_STEPS = 4.0  # a gap longer than this many median gaps held a prompt step (or a chain of them)


def _runs(engines: list[str]):
    """(runs, measured, tables) of GPUStack's bursts without speculation, as serving_fidelity builds them."""
    from planner.cli.common import load_run_catalog
    from planner.perf.evaluate import engine_batch_cap_of
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import normalize_grid, resolve
    from planner.perf.serving_fidelity import CFG, SIMULATED_SEAT_CAP
    from planner.perf.steptable import build_step_tables
    from planner.perf.under_load_mapping import load_mapping

    cat = load_run_catalog(())
    eff = load_efficiency(cat)
    m = load_mapping(cat)
    m = m[m["expressible"] & (m["source_family"] == "GPS") & m["engine"].isin(engines)
          & (m["speculative"] == "none") & (m["load"] == "burst") & m["num_requests"].notna()].copy()
    m["run"] = m["id"].str.rsplit("-", n=1).str[0]
    runs = m.drop_duplicates("run").reset_index(drop=True)
    measured = m.pivot_table(index="run", columns="metric", values="actual", aggfunc="first")
    cfg = runs[CFG].copy()
    c, reason = resolve(normalize_grid(cfg.assign(batch=1)), cat, eff)
    cap = np.minimum(engine_batch_cap_of(c), SIMULATED_SEAT_CAP)
    tab = build_step_tables(cfg, cat, efficiency=eff, max_seqs=cap, resolved=(c, reason))
    keep = np.flatnonzero(reason == "")
    return runs, measured, tab, keep


def _simulate(runs, tab, r: int):
    from planner.perf.simulate import Workload, simulate_one

    wl = Workload(request_rate=math.inf, num_requests=int(runs["num_requests"].iloc[r]),
                  length_dist=str(runs["length_dist"].iloc[r]))
    return simulate_one(tab.row(r), wl, max_context=float(runs["max_context"].iloc[r]))


def anatomy(runs, measured, tab, keep) -> pd.DataFrame:
    """Per run: measured / simulated tails and the simulated pauses."""
    from planner.perf.simulate import summarize, weighted_percentile

    rows = []
    for r in keep:
        run = _simulate(runs, tab, r)
        s = summarize(run)
        a = measured.loc[runs["run"].iloc[r]]
        med = weighted_percentile(run.itl_s, run.itl_weight, 50)
        long = run.itl_s > PAUSE_STEPS * med
        rows.append({
            "run": runs["run"].iloc[r], "engine": runs["engine"].iloc[r],
            "itl_mean": f"{a['itl_mean_ms']:.0f}/{1e3 * s['itl_mean_s']:.0f}",
            "itl_p99": f"{a['itl_p99_ms']:.0f}/{1e3 * s['itl_p99_s']:.0f}",
            "p99/mean": f"{a['itl_p99_ms'] / a['itl_mean_ms']:.1f}/{s['itl_p99_s'] / s['itl_mean_s']:.1f}",
            "tpot_p99": f"{a['tpot_p99_ms']:.0f}/{1e3 * s['tpot_p99_s']:.0f}",
            "ttft_p99_s": f"{a['ttft_p99_ms'] / 1e3:.1f}/{s['ttft_p99_s'] + tab.request_s[r]:.1f}",
            "pause_%": round(100.0 * float(run.itl_weight[long].sum() / run.itl_weight.sum()), 2),
            "longest_s": round(float(run.itl_s.max()), 2),
        })
    return pd.DataFrame(rows).set_index("run")


def intake_sweep(runs, measured, tab, keep, shares: list[float]) -> pd.DataFrame:
    """Median signed error (%) of ITL p99, TPOT p99 and TTFT p99 per serial-intake share."""
    from planner.perf import arrivals
    from planner.perf.simulate import summarize

    keys = {"itl_p99": "itl_p99_ms", "tpot_p99": "tpot_p99_ms", "ttft_p99": "ttft_p99_ms"}
    out = []
    saved = arrivals.API_SERIAL_SHARE
    try:
        for share in shares:
            arrivals.API_SERIAL_SHARE = share
            err: dict[str, list[float]] = {k: [] for k in keys}
            for r in keep:
                s = summarize(_simulate(runs, tab, r))
                a = measured.loc[runs["run"].iloc[r]]
                for k, col in keys.items():
                    pred = 1e3 * (s[f"{k}_s"] + (tab.request_s[r] if k == "ttft_p99" else 0.0))
                    err[k].append(100.0 * (pred / a[col] - 1.0))
            out.append({"share": share, **{k: round(float(np.median(v)), 1) for k, v in err.items()}})
    finally:
        arrivals.API_SERIAL_SHARE = saved
    return pd.DataFrame(out).set_index("share")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="sglang,vllm,trtllm")
    ap.add_argument("--intake", default="", help="serial-intake shares to sweep, e.g. 0.1,1,3 (SGLang-style runs)")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    for eng in args.engines.split(","):
        runs, measured, tab, keep = _runs([eng])
        print(f"\n{eng}: measured/simulated (ITL ms, TPOT ms, TTFT s); simulated pauses (> {PAUSE_STEPS:g} median "
              "gaps) as % of all gaps")
        print(anatomy(runs, measured, tab, keep).to_string())
        if args.intake:
            print(f"{eng}: median signed error (%) per serial-intake share (arrivals.API_SERIAL_SHARE)")
            print(intake_sweep(runs, measured, tab, keep, [float(x) for x in args.intake.split(",")]).to_string())


if __name__ == "__main__":
    main()
