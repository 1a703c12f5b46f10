"""Modelled vs measured running batch of every burst in serving_under_load.csv (GPUStack's 1,000-prompt ShareGPT
runs and the like), per engine: printed, not asserted. `python benchmarks/running_batch.py [filter]`.

Measured, two ways from the run's own figures (both are estimates; the pages do not print the batch):
- `itl`: Little's law on the decode phase, output tok/s x mean ITL (= mean sequences decoding; the figure the
  README quotes). It reads low where an engine streams more chunks than tokens (TPOT >> ITL, TensorRT-LLM).
- `ttft`: the seats B a fluid first-come-first-served burst needs for the measured mean TTFT at the measured
  requests/s X: mean TTFT = (N - B)^2 / (2 N X), so B = N - sqrt(2 N X TTFT) (0 when TTFT > N / 2X: the
  queue lasted the whole run). Closer to the admission cap; blind to prefill time.
Modelled: the same two figures from the simulated run (the one `planner calibrate` compares), with the KV pool,
KV tokens and the seat cap (engine max batch and KV at the reserve share, queueing.service) beside.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf import queueing as Q
from planner.perf import serving_fidelity as SF
from planner.perf import under_load_mapping as ULM
from planner.perf.evaluate import engine_batch_cap_of
from planner.perf.memory import memory
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.simulate import Workload, simulate_one, summarize
from planner.perf.steptable import build_step_tables

KEY = ["source_family", "model", "accelerator", "engine", "tp", "pp", "ep", "attn_dp", "isl", "osl",
       "num_requests", "length_dist", "max_context"]
GIB = 2.0 ** 30


def fluid_seats(n: float, rate: float, ttft_mean_s: float) -> float:
    return max(0.0, n - float(np.sqrt(2.0 * n * rate * ttft_mean_s)))


def rows(selector: str = "") -> pd.DataFrame:
    cat = load_catalog()
    eff = load_efficiency(cat)
    mapped = ULM.load_mapping(cat)
    bursts = mapped[mapped["expressible"] & (mapped["load"] == "burst") & (mapped["speculative"] == "none")]
    out = []
    for key, g in bursts.groupby(KEY, sort=True, dropna=False):
        if selector and selector not in " ".join(map(str, key)):
            continue
        v = dict(zip(g["metric"], g["actual"], strict=True))
        if not {"itl_mean_ms", "output_tok_s", "ttft_mean_ms", "requests_s"} <= set(v):
            continue
        r0 = g.iloc[0]
        cfg = pd.DataFrame([{c: r0[c] for c in SF.CFG}])
        c, reason = resolve(normalize_grid(cfg.assign(batch=1)), cat, eff)
        mem = memory(c)
        cap = np.minimum(engine_batch_cap_of(c), SF.SIMULATED_SEAT_CAP)
        tab = build_step_tables(cfg, cat, efficiency=eff, max_seqs=cap, resolved=(c, reason))
        n = int(r0["num_requests"])
        s = summarize(simulate_one(tab.row(0), Workload(request_rate=np.inf, num_requests=n,
                                                        length_dist=r0["length_dist"]),
                                   max_context=float(r0["max_context"])))
        pool = mem["usable_bytes"] - mem["weight_bytes_per_gpu"] - mem["reserve_bytes_per_gpu"]
        out.append({"source": key[0], "model": r0["model"], "gpu": r0["accelerator"], "engine": r0["engine"],
                    "tp": int(r0["tp"]), "pool_gib": pool[0] / GIB, "kv_tokens": tab.kv_tokens[0],
                    "seats": Q.service(tab).cap[0],
                    "itl_meas": v["output_tok_s"] * v["itl_mean_ms"] / 1e3,
                    "itl_model": s["output_tok_s"] * s["itl_mean_s"],
                    "ttft_meas": fluid_seats(n, v["requests_s"], v["ttft_mean_ms"] / 1e3),
                    "ttft_model": fluid_seats(n, s["requests_s"], s["ttft_mean_s"])})
    res = pd.DataFrame(out)
    res["itl_x"] = res["itl_model"] / res["itl_meas"]
    res["ttft_x"] = res["ttft_model"] / res["ttft_meas"].where(res["ttft_meas"] > 0)
    return res


def main() -> None:
    res = rows(sys.argv[1] if len(sys.argv) > 1 else "")
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(res.round({"pool_gib": 1, "itl_meas": 0, "itl_model": 0, "ttft_meas": 0, "ttft_model": 0,
                         "itl_x": 2, "ttft_x": 2}).to_string(index=False))


if __name__ == "__main__":
    main()
