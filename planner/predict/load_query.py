"""What a predict query asks under a load, read once: the load columns and their checks (`load_error`), the
SLO percentile, the serving modes and defaults (`settings_of`), the prefill layouts a disaggregated split tries
and how closed-loop clients spread over replicas. `planner.predict.load` answers it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from planner.limits import env_name, limit
from planner.perf.assumptions import ASSUMPTIONS
from planner.predict.cells import PREFILL_QUERY_COLUMNS, is_set, shown
from planner.predict.hidden import hidden_of

GENERIC = "generic"  # the calibrated engine a query gets without `engine` (named so in plans too)
LOAD_QUERY_COLUMNS = ("engine", "request_rate", "num_requests", "length_dist", "slo_percentile", "speculative")
LOAD_NUMERIC_COLUMNS = ("request_rate", "num_requests", "slo_percentile")
LENGTH_CHOICES = ("fixed", "variable")  # length_dist
LOAD_RESULT_COLUMNS = ("engine", "speculative", "slo_percentile", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s",
                       "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "itl_p50_s", "itl_p99_s", "e2e_p50_s",
                       "requests_s", "saturated")
# the prefill instances' layout a disaggregated split tries (`prefill_layouts`) beside the query's
# prefill_gpu/tp/pp: NaN = the decode instances' own (the perf model's PREFILL_COLUMNS)
OWN_PREFILL = ("prefill_ep", "prefill_attn_dp")
PREFILL_LAYOUT = ("prefill_tp", "prefill_pp", *OWN_PREFILL)
PER_REPLICA = ("ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_mean_s", "tpot_p50_s", "tpot_p90_s",
               "tpot_p99_s", "itl_p50_s", "itl_p99_s", "e2e_p50_s")


def _number(v) -> float | None:
    """A cell as a float (bool as ever: its checks refuse it), None where it is not a number ("p99")."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load_error(row: pd.Series) -> str:
    """The first problem with a query's load columns ('' if none)."""
    rate = row.get("request_rate")
    if is_set(rate):
        if (r := _number(rate)) is None:
            return f"request_rate must be a number of requests/s or inf, got {shown(rate)}"
        if isinstance(rate, bool) or math.isnan(r) or r <= 0:
            return f"request_rate must be > 0 (requests/s; inf = all at once), got {shown(rate)}"
        if is_set(row.get("concurrency")):
            return "give request_rate (open loop) or concurrency (closed loop), not both"
        if math.isinf(r) and not is_set(row.get("num_requests")):
            return "request_rate inf sends num_requests at once: give num_requests"
    c = row.get("concurrency")  # a finite number > 0 by now (predict.query checks those first)
    if is_set(c) and float(c) != int(float(c)):  # 2.5 clients ran as 2
        return f"concurrency must be a whole number of clients, got {shown(c)}"
    n = row.get("num_requests")
    if is_set(n):
        v = _number(n)
        if v is None or isinstance(n, bool) or not math.isfinite(v) or v < 1 or v != int(v):
            return f"num_requests must be a positive integer, got {shown(n)}"
        if not (is_set(rate) or is_set(row.get("concurrency"))):
            return "num_requests needs request_rate or concurrency (the load that sends them)"
        if v > limit("num_requests"):  # simulated request by request: 1e8 ran for hours
            return (f"num_requests {v:,.0f} is above the limit of {limit('num_requests'):,} "
                    f"({env_name('num_requests')})")
    dist = row.get("length_dist")
    if is_set(dist) and str(dist) not in LENGTH_CHOICES:
        return f"length_dist must be fixed or variable, got {dist!r}"
    if is_set(dist) and str(dist) == "variable" and not has_load(row):  # the answer was fixed lengths, unsaid
        return ("length_dist variable needs request_rate or concurrency (without a load each batch runs fixed "
                "lengths)")
    p = row.get("slo_percentile")
    v = _number(p)
    if is_set(p) and (v is None or isinstance(p, bool) or not 1 <= v < 100):
        # one message for every refusal (it said "above 0" of 0 while refusing 0.5); a quantile written as a
        # fraction held p99's targets at p0.99, near the fastest request
        fraction = f", which reads as p{v:g}" if v is not None and 0 < v < 1 else ""
        return f"slo_percentile must be a percentile from 1 to below 100 (99 for p99), got {shown(p)}{fraction}"
    return ""


def percentile_of(row: pd.Series) -> float:
    """The row's SLO percentile, or the default. A cell that is not a number ("p99") is the row's error already
    (`load_error`); the default stands in for it, so the batch's other rows are still answered (float("p99")
    stopped the whole --batch with a traceback)."""
    p = row.get("slo_percentile")
    try:
        return float(p) if is_set(p) else ASSUMPTIONS.slo_percentile
    except (TypeError, ValueError):
        return ASSUMPTIONS.slo_percentile


def has_load(row: pd.Series) -> bool:
    return is_set(row.get("request_rate")) or is_set(row.get("concurrency"))


def prefill_layouts(splits: list[tuple[int, int, int, int]], decode: tuple[int, int, int, int],
                    max_instances: int = ASSUMPTIONS.max_disagg_instances) -> list[tuple[float, ...]]:
    """(prefill tp, pp, ep, attn_dp) a disaggregated unit may give its prefill instances: the decode instances'
    own (NaN: the perf model's default), and for a wide-EP decode instance (attention DP, one stage) the smaller
    single-stage splits of the query down to 1/max_instances of its GPUs, so that the unit's prefill instances
    can add up to about one decode instance. Published NVL72 wide-EP runs of DeepSeek-R1 pair one wide decode
    instance (DEP32-48) with several 4-8 GPU prefill instances (SemiAnalysis InferenceMAX's GB200 Dynamo
    configurations, LMSYS's SGLang GB200 NVL72 deployment; as reported, not among our calibration sources). A
    DEP32 prefill instance per DEP32 decode one made every such unit 64+ GPUs: 72 GB200 answered 3 x DEP16
    + DEP16 prefill or 9 x TP8 at TPOT <= 10 ms (issue 8)."""
    nan = float("nan")
    out = [(nan, nan, nan, nan)]
    tp, pp, _, dp = decode
    g = tp * pp * dp
    if dp <= 1 or pp != 1:
        return out
    for ptp, ppp, pep, pdp in splits:
        s = ptp * ppp * pdp
        if ppp == 1 and g / max_instances <= s < g:
            out.append((float(ptp), 1.0, float(pep), float(pdp)))
    return out


def asks_prefill(row: pd.Series) -> bool:
    """The query gives its prefill instances' own accelerator or layout: its splits try only those."""
    return any(is_set(row[k]) for k in PREFILL_QUERY_COLUMNS)


def prefill_options(splits: list[tuple[int, int, int, int]], decode: tuple[int, int, int, int], mode: str,
                    asked: bool) -> list[tuple[float, ...]]:
    """(prefill tp, pp, ep, attn_dp) rows a split is tried with, with or without a load: `prefill_layouts` for a
    disaggregated split of a query that gives no prefill instances of its own (`asks_prefill`), else one row of
    NaN (the decode instances' layout, or the query's own)."""
    if mode != "disaggregated" or asked:
        return [(math.nan,) * len(PREFILL_LAYOUT)]
    return prefill_layouts(splits, decode)


class Settings(NamedTuple):
    """A query's settings with their defaults, as the batch grid and the load answers both expand it."""
    modes: list[str]  # serving modes tried: auto tries both
    kv: str
    engine: str  # '' = the generic engine
    spec: str
    gpus: int
    isl: int
    osl: int  # with the hidden tokens, decoded before the visible ones (planner.predict.hidden)
    hidden: int


def settings_of(row: pd.Series) -> Settings:
    """A valid query's `Settings` (the defaults where a cell is empty)."""
    serving = row["serving"] if is_set(row["serving"]) else "aggregated"
    hidden = hidden_of(row)
    return Settings(["aggregated", "disaggregated"] if serving == "auto" else [serving],
                    row["kv_precision"] if is_set(row["kv_precision"]) else "bf16",
                    str(row["engine"]) if is_set(row["engine"]) else "",
                    str(row["speculative"]).lower() if is_set(row["speculative"]) else "none",
                    int(float(row["gpus"])), int(float(row["isl"])), int(float(row["osl"])) + hidden, hidden)


def split_clients(total: float, dp: int) -> list[tuple[float, int]]:
    """Closed-loop clients per replica: (clients, replicas) groups, exactly `total` clients over dp."""
    lo, extra = divmod(int(total), dp)
    groups = [(float(lo + 1), extra), (float(lo), dp - extra)]
    return [(c, k) for c, k in groups if k > 0 and c > 0]


def clients_in_flight(query: pd.Series, running: float) -> float:
    """An answer's requests in flight: the query's clients, else `running` (Little's law under a rate); a
    finite run's at most its requests (3 clients with 2 requests answered 3; Little's law over a burst of 50
    requests 50.03, its mean latency with the API server's time beside the rate of the run's span)."""
    c = float(query["concurrency"]) if is_set(query["concurrency"]) else float(running)
    return min(c, float(query["num_requests"])) if is_set(query["num_requests"]) else c


def saturated_note(query: pd.Series, what: str = "replicas") -> str:
    """Why an answer is saturated: an open loop's rate above what the replicas complete; a closed loop's clients
    beyond their seats (a closed loop completes what it sends: 1,024 clients on 2 x 512 seats read 'the load
    exceeds what the replicas complete')."""
    if is_set(query["concurrency"]):
        return f"saturated: more clients than the {what}' seats; requests wait for one"
    return f"saturated: the load exceeds what the {what} complete; requests queue"


def idle_note(query: pd.Series, dp: int, what: str = "replicas") -> list[str]:
    """Why replicas (disaggregated units) of an answer idle: fewer clients, or a finite run of fewer requests,
    than replicas."""
    rate = float(query["request_rate"]) if is_set(query["request_rate"]) else math.nan
    clients = float(query["concurrency"]) if is_set(query["concurrency"]) else math.nan
    n = float(query["num_requests"]) if is_set(query["num_requests"]) else math.nan
    busy = sum(k for *_, k in replica_shares(rate, clients, n, dp))
    if busy >= dp:
        return []
    # what leaves them idle: a finite run of fewer requests than clients (5 clients, 2 requests read "the 2
    # concurrent request(s)"), else the clients
    few = n < clients or clients != clients
    load = f"finite run's {n:.0f} request(s)" if few else f"{busy} concurrent request(s)"
    return [f"{dp - busy} of {dp} {what} idle: the {load} run on {busy}"]


def replica_shares(rate: float, clients: float, n: float, dp: int) -> list[tuple[float, float, float, int]]:
    """A query's load over dp replicas as (request rate, clients, requests, replicas) groups, the busiest first
    (NaN where the query gives none): a rate splits evenly; clients as `split_clients` spreads them; a finite
    run's `n` requests exactly, in proportion to each replica's rate or clients (largest remainders first), its
    rate scaled with them so that every replica's run lasts as long. A replica left without a request idles
    (absent). Each replica ran ceil(n / dp) before: 1 request at once over TP1 x DP8 ran 8."""
    nan = math.nan
    per = [1.0] * dp if clients != clients else [c for c, k in split_clients(clients, dp) for _ in range(k)]
    if n != n:
        if clients != clients:
            return [(rate / dp, nan, nan, dp)]
        return [(nan, c, nan, k) for c, k in split_clients(clients, dp)]
    weight = sum(per)
    share = [int(n) * c // weight for c in per]
    for i in sorted(range(len(per)), key=lambda j: -(int(n) * per[j] % weight))[:int(n) - int(sum(share))]:
        share[i] += 1
    groups: dict[tuple[float, float], int] = {}
    for c, m in zip(per, share, strict=True):
        if m > 0:
            key = (nan if clients != clients else c, float(m))
            groups[key] = groups.get(key, 0) + 1
    ordered = sorted(groups.items(), key=lambda g: (-(g[0][0] if clients == clients else 0), -g[0][1]))
    return [(rate * m / n if clients != clients else nan, c, m, k) for (c, m), k in ordered]


__all__ = ["GENERIC", "LENGTH_CHOICES", "LOAD_NUMERIC_COLUMNS", "LOAD_QUERY_COLUMNS", "LOAD_RESULT_COLUMNS",
           "OWN_PREFILL", "PER_REPLICA", "PREFILL_LAYOUT", "Settings", "asks_prefill", "clients_in_flight",
           "has_load", "idle_note", "load_error", "percentile_of", "prefill_layouts", "prefill_options",
           "replica_shares", "saturated_note", "settings_of", "split_clients"]
