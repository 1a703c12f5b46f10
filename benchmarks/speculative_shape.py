"""Why the modelled EAGLE-3 speed-up rises with concurrency where AMD's measured one falls (serving_under_load.csv
REAG-*: vLLM, MI355X TP4, 1K/1K closed loop, k = 3). Printed, not asserted (a negative result's evidence).

    python benchmarks/speculative_shape.py

speedup_x is computed (speculative_fidelity._speedup_rows) as the ratio of two runs of the same model, engine,
layout, lengths and load: the row's draft against `speculative none`, closed loop at the same concurrency c
(Kimi: 10 x c prompts through the simulator; MiniMax: num_prompts not stated, the step model at batch c). The
baseline is the source's (its table prints EAGLE3 / no-spec throughput at the same c), and neither side
saturates (no queue in a closed loop), so the mapping is not the cause. Tables (steady state, evaluate):
1. per c, ms per output token of a seat (c / output tok/s) measured and modelled, and the step model's terms:
   the plain decode step's routed experts, the verify step's (1 + k tokens a sequence), attention, the rest,
   the k draft passes, and the prompt work a real step carries (accept x more with a draft: prompts finish
   accept times faster);
2. model-free: the plain run at c = 4b carries the same tokens through the GEMMs a step as the speculative run
   at b (4b verified tokens), so where the step is set by the tokens it carries the two share a step, and
   acceptance = (plain ms at 4b + draft) / (speculative ms at b); then the real step against the tokens it
   carries, measured (plain runs up to 64 tokens, speculative runs x that acceptance above) and modelled;
3. what-ifs (not in the model): a fixed cost per token through the GEMMs, routed experts of unequal
   popularity (lognormal, sigma), which touch fewer experts than E (1 - (1 - k/E)^T) at the same tokens, and
   the TP collectives on the links a TP4 group holds in MI355X's full xGMI mesh (3 of 7).

MiniMax-M2.5 runs at EP4 since h105 (the page: "TP4 with expert parallelism"; under_load_mapping reads it): its
modelled speed-up 1.75 / 1.62 / 1.65 / 1.85 / 2.02 (was 1.72 / 1.59 / 1.62 / 1.82 / 1.99 at EP1), plain step
factor 0.81 -> 1.11, the figures below otherwise as read.
Read on 2026-12-02 (h83, main 11cb4d2); what the tables say (speculative_fidelity's docstring keeps the gist):
- (1) the rise is the routed experts' weight reads. Plain: 2.4 -> 22.0 ms (Kimi) and 1.5 -> 10.8 ms (MiniMax)
  from c 4 to 64, as 4 -> 64 tokens touch 8% -> 74% / 12% -> 87% of the experts; verify: 8.5 -> 29.6 and
  4.9 -> 12.4 ms, saturated from c 16. (verify + draft) / plain falls 1.71 -> 1.37 / 1.45 -> 1.17 at a fixed
  acceptance, so the speed-up rises. The draft (0.7-1.2 / 0.2-0.3 ms) and the prompt work (speculative 0.3 ->
  2.6 / 0.3 -> 4.4 ms a real step, plain 0.1 -> 1.4 / 0.1 -> 2.0) pull the other way, too little.
- (2) acceptance implied 2.87 / 3.12 / 2.91 (Kimi) and 2.24 / 2.19 / 1.97 (MiniMax) at 16 / 32 / 64 tokens (the
  catalog's 2.53 is assumed). The real step against its tokens: measured 12.1 -> 30.0 -> 51.4 ms (Kimi, 4 / 64 /
  256 tokens), modelled 9.9 -> 33.0 -> 44.4; MiniMax 11.1 -> 19.5 -> 29.7 against 8.4 -> 21.2 -> 26.6. The
  speed-up's modelled / measured (Kimi 0.77 -> 1.08, MiniMax 0.96 -> 1.44 from c 4 to 64) = acceptance (0.85 /
  1.19) x plain step (0.82 -> 1.10 / 0.76 -> 1.09) x 1 / real verify step (1.11, 0.93 .. 1.15 / 1.06, 0.96 ..
  1.12): the plain runs' step makes x1.34 / x1.42 of the x1.40 / x1.50 rise. The model's step is too fast at a
  few tokens and too steep up to 64 (the plain runs), and flat past 128 (the verify at c 64).
- (3) a per-token cost alone lowers the high-c speed-ups but steepens the plain runs' error further (c 64: -8 ->
  -29%, MiniMax); skewed routing flattens the plain runs (sigma 1.5: +35 .. +14%) and the speed-up (1.93 ->
  1.76 MiniMax) but does not make it fall; a TP4 group's 3 of the 7 xGMI links (the model gives any group
  all 7) adds 0.4-2 ms at 256 tokens: c 64 speed-up 1.83 -> 1.75 (Kimi), 1.99 -> 1.95. The first two have no
  data here (no MI355X GEMM probe: its efficiencies are H100/H200's, efficiency.yaml `mi355x`; no routing
  statistics of these models), and a skew or per-token cost chosen to fit would be a fit to these 15
  assumed-acceptance rows; the mesh is a lead for the step model (step_comm), small here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import planner.perf.serving as serving_mod
import planner.perf.step as step_mod
from planner.catalog import load_catalog
from planner.perf.evaluate import evaluate
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve

CAT = load_catalog()
EFF = load_efficiency(CAT)
CONC = (4, 8, 16, 32, 64)
GPUS = 4
# REAG output tok/s per GPU (serving_under_load.csv), no draft / EAGLE-3 (Kimi: the BF16 draft's sweep)
MEASURED = {("kimi-k2.5", "mxfp4"): ((82.7, 142.2, 220.5, 342.2, 533.3), (157.0, 269.1, 399.6, 627.6, 901.6)),
            ("minimax-m2.5", "fp8"): ((90.4, 162.6, 282.7, 484.8, 822.0), (161.7, 277.9, 436.9, 759.0, 1137.3))}


# expert parallelism as the page states it: MiniMax-M2.5 "TP4 with expert parallelism", Kimi-K2.5 "TP4"
EP = {"kimi-k2.5": 1, "minimax-m2.5": GPUS}


def grid(model: str, precision: str, spec: str, conc=CONC) -> pd.DataFrame:
    return pd.DataFrame([dict(model=model, accelerator="mi355x", precision=precision, kv_precision="bf16", tp=GPUS,
                              pp=1, ep=EP[model], attn_dp=1, isl=1024, osl=1024, engine="vllm", batch=b,
                              speculative=spec) for b in conc])


def ms_per_token(tok_s_per_gpu, conc=CONC) -> np.ndarray:
    """ms between a seat's output tokens over its request's life (prompt included): c / output tok/s."""
    return np.asarray(conc, dtype=float) / (np.asarray(tok_s_per_gpu) * GPUS) * 1e3


def terms(model: str, precision: str, spec: str, eff=EFF) -> pd.DataFrame:
    """The step model's terms at each concurrency (ms): decode step's experts / attention / rest, draft, prompt
    work a real step carries, and the modelled ms per output token."""
    g = grid(model, precision, spec)
    c, _ = resolve(normalize_grid(g), CAT, eff)
    q, accept, _ = serving_mod.speculative_terms(c)
    ctx = c.isl + c.osl / 2.0
    dec = step_mod.decode_step(c, eff.serving, c.batch, ctx, q_dec=q, breakdown=True)
    ops = {n: np.broadcast_to(v, c.batch.shape) * 1e3 for n, v in dec["ops"].items()}
    draft = serving_mod.draft_time_s(c, eff.serving, c.batch, ctx) * 1e3
    out = serving_mod.aggregated(c, eff.serving)
    real = out["tpot_s"] * accept * 1e3  # the mean real step (prompt work included), draft included
    experts, attn = ops["experts"], ops["attn_decode"]
    return pd.DataFrame({"experts": experts, "attention": attn, "rest": dec["time_s"] * 1e3 - experts - attn,
                         "draft": draft, "prompt_work": real - draft - dec["time_s"] * 1e3,
                         "ms_per_token": ms_per_token(out["output_tok_s"] / GPUS)}, index=list(CONC)).round(2)


def table_terms() -> None:
    print("1. ms per output token of a seat, measured / modelled, and the step model's terms (ms a real step)")
    for (model, prec), (plain_m, spec_m) in MEASURED.items():
        tp, ts = terms(model, prec, "none"), terms(model, prec, "eagle3")
        ratio = (ts["experts"] + ts["attention"] + ts["rest"] + ts["draft"]) / (tp["experts"] + tp["attention"]
                                                                               + tp["rest"])
        print(pd.DataFrame({"plain meas": ms_per_token(plain_m).round(2), "plain model": tp["ms_per_token"],
                            "spec meas": ms_per_token(spec_m).round(2), "spec model": ts["ms_per_token"],
                            "experts plain": tp["experts"], "experts verify": ts["experts"],
                            "attn": ts["attention"], "rest plain": tp["rest"], "rest verify": ts["rest"],
                            "draft": ts["draft"], "prompt plain": tp["prompt_work"],
                            "prompt spec": ts["prompt_work"], "(verify+draft)/plain": ratio.round(3),
                            "speed-up meas": (np.array(spec_m) / plain_m).round(2),
                            "speed-up model": (tp["ms_per_token"] / ts["ms_per_token"]).round(2)},
                           index=pd.Index(CONC, name=model)).to_string())


def table_tokens() -> None:
    print("\n2. the real step against the tokens it carries (ms): measured plain runs up to 64, speculative x "
          "the acceptance the overlap implies above; modelled alike at the catalog's acceptance")
    for (model, prec), (plain_m, spec_m) in MEASURED.items():
        tp, ts = terms(model, prec, "none"), terms(model, prec, "eagle3")
        pm, sm = ms_per_token(plain_m), ms_per_token(spec_m)
        draft = ts["draft"].to_numpy()
        # what else differs between the plain step at 4b and the verify step at b (modelled): 4x the sequences'
        # KV reads, and the prompt work (4b prompt tokens a step against b x accept)
        other = (tp["attention"] + tp["prompt_work"]).to_numpy()
        mine = (ts["attention"] + ts["prompt_work"]).to_numpy()
        implied = np.array([(pm[CONC.index(4 * b)] - other[CONC.index(4 * b)] + mine[CONC.index(b)]
                             + draft[CONC.index(b)]) / sm[CONC.index(b)] for b in CONC if 4 * b in CONC])
        a_meas = float(np.mean(implied))
        accept = 2.53  # engines.yaml eagle3 kimi-k2 / minimax-m2 default (assumed)
        rows = {}
        for b in CONC:
            rows[b] = (pm[CONC.index(b)], tp["ms_per_token"].iloc[CONC.index(b)])
        for b in (32, 64):
            i = CONC.index(b)
            rows[4 * b] = (sm[i] * a_meas - draft[i], ts["ms_per_token"].iloc[i] * accept - draft[i])
        print(f"{model}: acceptance implied at 16 / 32 / 64 tokens {np.round(implied, 2)} (mean {a_meas:.2f})")
        print(pd.DataFrame(rows, index=["measured", "modelled"]).round(1).to_string())
        # the speed-up's error, factored: modelled / measured = acceptance x plain step x 1 / real verify step
        plain_f = tp["ms_per_token"].to_numpy() / pm
        verify_f = (sm * a_meas) / (ts["ms_per_token"].to_numpy() * accept)
        speedup_f = (tp["ms_per_token"] / ts["ms_per_token"]).to_numpy() / (np.array(spec_m) / plain_m)
        factors = pd.DataFrame({"acceptance": np.full(len(CONC), accept / a_meas), "plain step": plain_f,
                                "1 / verify step": verify_f, "product": accept / a_meas * plain_f * verify_f,
                                "speed-up model / meas": speedup_f}, index=pd.Index(CONC, name="c"))
        print(factors.round(3).T.to_string())


def _skewed(sigma: float):
    """expected_experts_touched with expert popularity lognormal(sigma) over the E experts (quantiles)."""
    from scipy.stats import norm

    plain = step_mod.expected_experts_touched

    def touched(num_experts, top_k, tokens):
        e, k, t = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (num_experts, top_k, tokens)))
        out = np.asarray(plain(num_experts, top_k, tokens), dtype=float).copy()
        for n in np.unique(e[e > 0]):
            z = norm.ppf((np.arange(int(n)) + 0.5) / n)
            p = np.exp(sigma * z)
            p /= p.sum()
            sel = e == n
            share = np.minimum(k[sel][..., None] * p, 1.0)
            out[sel] = (1.0 - (1.0 - share) ** t[sel][..., None]).sum(-1)
        return out

    return touched


def _mesh(communication):
    """step_comm.communication on a fully meshed scale-up domain (MI300X / MI355X Infinity Fabric: a link to
    each of the 7 peers): a group of n GPUs reaches its n - 1 peers over n - 1 of the 7 links, not all of them
    (the catalog's scale-up bandwidth is the 7 links' sum; an NVLink switch gives any group all of it)."""

    def meshed(p):
        c = p.c
        full = c.scale_up_bandwidth_bytes_s
        share = np.minimum((p.tp * p.dp * c.pp - 1.0) / np.maximum(c.scale_up_domain - 1.0, 1.0), 1.0)
        c["scale_up_bandwidth_bytes_s"] = full * share
        try:
            return communication(p)
        finally:
            c["scale_up_bandwidth_bytes_s"] = full

    return meshed


def _what_if(label: str) -> None:
    cells = []
    for (model, prec), (plain_m, spec_m) in MEASURED.items():
        p = evaluate(grid(model, prec, "none"), CAT, efficiency=EFF)["output_tok_s"].to_numpy() / GPUS
        s = evaluate(grid(model, prec, "eagle3"), CAT, efficiency=EFF)["output_tok_s"].to_numpy() / GPUS
        cells.append(f"{model}: plain err% {np.round((p / plain_m - 1) * 100).astype(int)} speed-up "
                     f"{np.round(s / p, 2)} (measured {np.round(np.array(spec_m) / plain_m, 2)})")
    print(f"{label}\n  " + "\n  ".join(cells))


def table_what_ifs() -> None:
    print("\n3. what-ifs (not in the model)")
    decode, touched, comm = serving_mod.decode_step, step_mod.expected_experts_touched, step_mod.communication
    try:
        _what_if("as modelled")
        for per_token_ms in (0.05, 0.1):
            def patched(c, serving, n_dec, ctx_dec, n_pre=0.0, *a, q_dec=1.0, _x=per_token_ms * 1e-3, **k):
                out = dict(decode(c, serving, n_dec, ctx_dec, n_pre, *a, q_dec=q_dec, **k))
                out["time_s"] = out["time_s"] + _x * (np.asarray(n_dec) * np.asarray(q_dec) + np.asarray(n_pre))
                return out
            serving_mod.decode_step = patched
            _what_if(f"+{per_token_ms} ms a token through the GEMMs")
        serving_mod.decode_step = decode
        for sigma in (1.0, 1.5):
            step_mod.expected_experts_touched = _skewed(sigma)
            _what_if(f"expert popularity lognormal sigma {sigma}")
        step_mod.expected_experts_touched = touched
        step_mod.communication = _mesh(comm)
        _what_if("collectives on the links a TP group holds in a full mesh (xGMI: TP4 = 3 of 7 links)")
    finally:
        serving_mod.decode_step, step_mod.expected_experts_touched = decode, touched
        step_mod.communication = comm


def main() -> None:
    pd.set_option("display.width", 250)
    table_terms()
    table_tokens()
    table_what_ifs()


if __name__ == "__main__":
    main()
