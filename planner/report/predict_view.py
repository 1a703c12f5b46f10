"""Render `planner predict` answers: a table for the terminal, a JSON-ready dict."""

from __future__ import annotations

import math

from rich.table import Table

# the load an answer without one is figured at: its batch on every replica (every figure, means and percentiles)
CLOSED = "the batch as closed-loop clients"


def prediction_json(d: dict) -> dict:
    """A prediction with NaN as null and numpy scalars as Python numbers (for --json)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        elif hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out


def _given(v) -> bool:
    """A figure the answer holds: neither missing (None) nor NaN (an answer without that model)."""
    return v is not None and v == v


def _figure(v, scale: float, fmt: str, unit: str = "") -> str:
    """A figure of the answer, or '-' where it holds none (a saturated steady state has no latency: it printed
    'nan ms')."""
    return f"{v * scale:{fmt}}{unit}" if _given(v) else "-"


def _seconds(v) -> str:
    """A latency in seconds, in ms below 1 s (a one-token request's 5.6 ms end to end read "0.0 s")."""
    if not _given(v):
        return "-"
    return f"{v:,.1f} s" if v >= 1 else f"{v * 1e3:,.{1 if v < 0.01 else 0}f} ms"


def _count(v) -> str:
    """A count of requests: whole, or a mean (`planner.predict.load.in_flight`, under a request rate) to two
    significant digits below 10, so that a light load's 0.04 does not read 0, and whole above."""
    return f"{v:,.0f}" if float(v).is_integer() or v >= 10 else f"{v:.2g}"


def _unit_rows(r: dict) -> list[tuple[str, str]]:
    """A disaggregated replica's make-up: its rate-matched prefill and decode instances."""
    p, d = r.get("prefill_instances"), r.get("decode_instances")
    if r.get("serving") != "disaggregated" or not _given(p):
        return []

    def layout(tp, pp, attn_dp) -> str:  # attention DP + expert parallel shown as DEP
        return f"TP{tp:g} PP{pp:g}" + (f" DEP{attn_dp:g}" if _given(attn_dp) and attn_dp > 1 else "")

    prefill = layout(r.get("prefill_tp") or r["tp"], r.get("prefill_pp") or r["pp"],
                     r.get("prefill_attn_dp") if _given(r.get("prefill_attn_dp")) else r.get("attn_dp"))
    if r.get("prefill_gpu") and r["prefill_gpu"] != r["gpu"]:
        prefill += f" on {r['prefill_gpu']}"
    decode = layout(r["tp"], r["pp"], r.get("attn_dp"))
    return [("disaggregated unit", f"{p:g} prefill ({prefill}) + {d:g} decode ({decode}) instance(s)")]


def _parallelism(r: dict) -> str:
    """A replica's split and the replicas. Attention DP is named: "TP1 PP1 EP8 x DP1" read as one GPU where the
    replica is eight attention-DP ranks (DEP8)."""
    adp = r.get("attn_dp")
    ranks = f" attention-DP{adp:g}" if _given(adp) and adp > 1 else ""
    return f"TP{r['tp']} PP{r['pp']} EP{r['ep']}{ranks} x DP{r['dp']} ({r['serving']})"


def _speculative(r: dict) -> str:
    method = r.get("speculative") or "none"
    al = r.get("acceptance_length")
    if method == "none" or not _given(al):
        return "none"
    # engines.yaml `assumed: true`: the figure was measured on another model's draft
    assumed = ", assumed: measured on another model's draft" if str(r.get("acceptance_assumed")) == "True" else ""
    return f"{method} ({al:.2f} tokens accepted per step{assumed})"


def _ms(r: dict, *keys: str, digits: int = 0) -> str:
    """Latencies in ms, '-' where absent; a decimal more below 10 ms (an 8B model's 2.1 ms TTFT read
    "2 / 2 / 2 ms", 0.4 ms read 0)."""
    small = any(_given(r.get(k)) and r[k] * 1e3 < 10 for k in keys)
    d = max(digits, 1) if small else digits
    return " / ".join(f"{r[k] * 1e3:,.{d}f}" if _given(r.get(k)) else "-" for k in keys) + " ms"


def _percentile_rows(r: dict, targets: bool) -> list[tuple[str, str]]:
    """The latency percentiles (the load's, or the batch's as closed-loop clients per replica), and TTFT / TPOT
    at the query's SLO percentile where they add to them."""
    rows = [
        ("TTFT p50 / p90 / p99", _ms(r, "ttft_p50_s", "ttft_p90_s", "ttft_p99_s")),
        ("TPOT p50 / p90 / p99", _ms(r, "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", digits=1)),
        ("ITL p50 / p99", _ms(r, "itl_p50_s", "itl_p99_s", digits=1)),
        ("end-to-end p50", _seconds(r.get("e2e_p50_s"))),
    ]
    pct = r.get("slo_percentile")
    # the figures targets are held to at the query's percentile: p99.9 or p95 are not among the rows above
    if _given(r.get("ttft_at_slo_s")) and _given(pct) and (targets or pct not in (50, 90, 99)):
        why = "what targets are held to" if targets else "the query's SLO percentile; no targets given"
        rows.append((f"TTFT / TPOT at p{pct:g} ({why})",
                     _ms(r, "ttft_at_slo_s") + " / " + _ms(r, "tpot_at_slo_s", digits=1)))
    return rows


def _closing_rows(r: dict, load_requests: bool, percentiles: bool) -> list[tuple[str, str]]:
    """Requests/s (`load_requests`: the load's, or a disaggregated unit's at capacity, else the batch's as
    closed-loop clients), the SLO percentile the answer holds, and saturation."""
    rows = []
    if _given(r.get("requests_s")):
        rows.append(("requests/s" if load_requests else f"requests/s ({CLOSED})",
                     f"{r['requests_s']:,.2f}"))
    if r.get("slo_percentile") is not None:
        # without percentile rows (disaggregated: no load model) the targets held on the mean, as the notes say;
        # "p90" there contradicted them
        pct = f"p{r['slo_percentile']:g}"
        if r.get("slo_basis") and percentiles:
            # the label solve's plan prints (planner.perf.slo_policy.slo_basis): for disaggregated answers TTFT
            # at the percentile from the two queues, TPOT the decode step at the unit's full batch
            held = str(r["slo_basis"])
        elif percentiles:
            held = pct
        else:
            held = f"mean ({pct} asked; no load model for this answer)"
        rows.append(("SLO percentile", held))
    if r.get("saturated"):
        closed = _given(r.get("concurrency"))  # clients beyond the seats wait for one; a rate outruns them
        who = "units" if r.get("serving") == "disaggregated" else "replicas"  # as the notes say
        rows.append(("saturated", "yes: more clients than seats" if closed else
                     f"yes: the load exceeds what the {who} complete"))
    return rows


def render_prediction(console, r: dict, under_load: bool = False, targets: bool = False) -> None:
    """One prediction (`planner predict`) as a table; `under_load`: the query gave a request rate or a
    concurrency (TTFT/TPOT are then that load's means; else the means of its batch as closed-loop clients);
    `targets`: it gave a TTFT or TPOT target (a disaggregated answer is then at its capacity under the SLO)."""
    table = Table(title=f"{r['model']} on {r['gpus']} x {r['gpu']} ({r['precision']})", title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    if not r["fits"]:
        table.add_row("fits", "no")
        table.add_row("limited by", str(r.get("limited_by") or "-"))
        table.add_row("why", str(r.get("notes") or "-"))
        console.print(table)
        return
    basis = "(mean under the load)" if under_load else f"(mean, {CLOSED})"
    # latency percentiles (under the load, or at the batch); a saturated steady state has the rows, each '-'
    percentiles = _given(r.get("ttft_p90_s")) or r.get("saturated") is True
    # a disaggregated answer under the load or at its capacity under the SLO (without either, its percentiles
    # are its full batch's as closed-loop clients, as an aggregated answer's)
    disagg_q = r.get("serving") == "disaggregated" and percentiles and (under_load or targets)
    if disagg_q and not under_load:  # at the largest rate where TTFT holds at the percentile
        basis = "(mean at capacity under the SLO)"
    # at its capacity under the SLO a disaggregated unit's TPOT is its decode step at the full batch, which bounds
    # it; under a load it is the load's mean (the decode step at the batch the load gives), as aggregated
    tpot_label = ("TPOT (decode step at the unit's full batch: an upper bound)" if disagg_q and not under_load
                  else f"TPOT {basis}")
    # without a load every figure is the load model's at the batch as closed-loop clients (`query.as_closed_loop`;
    # the step model's full batch read 6,662 tok/s beside 20.69 req/s x 256 = 5,297 for 70B TP2 x4 at batch 32)
    if under_load:
        output_label = "output tokens/s (all GPUs)"
    elif disagg_q:
        output_label = "output tokens/s (all GPUs, at capacity under the SLO)"
    else:
        output_label = f"output tokens/s (all GPUs, {CLOSED})"
    rows = [
        ("parallelism", _parallelism(r)),
        *_unit_rows(r),
        ("engine", str(r.get("engine") or "generic")),
        ("speculative decoding", _speculative(r)),
        # the answer's requests in flight: the clients asked for, the batch x replicas, or (a request rate)
        # the mean in flight by Little's law
        # (a mean under a request rate: 0.04 at a light load, which read 0)
        ("requests in flight", _count(r["in_flight"])),
        (f"TTFT {basis}", _figure(r.get("ttft_s"), 1e3, ",.1f", " ms")),
        (tpot_label, _figure(r.get("tpot_s"), 1e3, ",.2f", " ms")),
        (output_label, f"{r['output_tok_s']:,.0f}"),
        ("output tokens/s per GPU", f"{r['output_tok_s_per_gpu']:,.0f}"),
        ("output tokens/s per user", _figure(r.get("output_tok_s_per_user"), 1, ",.1f")),
        ("total tokens/s (in + out)", f"{r['total_tok_s']:,.0f}"),
        ("average / peak power", f"{r['avg_power_w'] / 1e3:,.2f} / {r['peak_power_w'] / 1e3:,.2f} kW"),
        *(
            [("all-in power, tokens per kWh", f"{r['all_in_power_w'] / 1e3:,.2f} kW, {r['tokens_per_kwh']:,.0f} "
              "(GPUs + host + network, before PUE)")]
            if r.get("all_in_power_w") else []
        ),
        ("limited by", str(r["limited_by"])),
    ]
    if percentiles:
        at = rows.index(next(x for x in rows if x[0] == tpot_label)) + 1
        rows[at:at] = _percentile_rows(r, targets)
    rows += _closing_rows(r, under_load or disagg_q, percentiles)
    for k, v in rows:
        table.add_row(k, v)
    if r.get("notes"):
        table.add_row("notes", str(r["notes"]))
    console.print(table)
