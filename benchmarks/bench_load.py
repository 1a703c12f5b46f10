"""Speed of latency under load: the simulator on a 1,000-request run and the queueing approximation's rate
search (configurations/second).

    python benchmarks/bench_load.py [--configs N] [--problems NAME ...] [--repeat R]

Simulator: Llama-3.3-70B FP8 TP2 on H100 (5,000 in / 500 out) and Llama-3.1-8B FP8 on H100 (1,000 / 200),
1,000 requests sent at once (a benchmark burst) and at a Poisson rate of 80% of capacity; target <= 0.2 s
each. Queueing: `max_rate_meeting` (TTFT p90 <= 2 s, TPOT p90 <= 50 ms) over N configurations (step tables
prebuilt, as the candidate search holds them); target >= 50,000 configurations/s. Step-table building (the
performance model at ~200 points per configuration) is timed separately, and so is the whole load-aware capacity
of the candidate search (`capacity_under_slo`, step tables included; issue 8's >= 50,000 configurations/s).

Two figures of that capacity. `capacity_under_slo` on the synthetic grid: 5,000 rows that are 480 distinct
configurations (240 aggregated, 240 disaggregated) repeated ~10 times, each repetition computed again (the
figure the earlier notes below quote). `problem capacity`: the call the candidate search itself makes
(`capacity_in_parts` with the rows, targets, SLO percentile and hidden reasoning tokens `build_candidates`
passes it, captured from one build) on bundled problems (problems/*.yaml; default the four large grids,
3,272-17,496 rows, which repeat no configuration but mixed-fleet's 588 under other targets), fastest of
--repeat calls, CPU seconds. The candidate search's own figure (this capacity plus the grid, completion,
variant pruning and expansion) is benchmarks/bench_candidates.py's.

Figures (2026-12-01, h24; 2-core machine shared with 4-5 other helpers, load average 2.5-7: CPU seconds of
this process, the old and new trees run at the same time so both see the same load; min of 8 runs):
    capacity_under_slo, 5,000 configurations     before 248-250 ms (20.0-20.2k/s), after 220-232 ms (21.6-22.7k/s)
    step tables (20 x 9 points, the simulator's)  unchanged (14.2-15.9k/s both)
    max_rate_meeting                              unchanged (27-32k/s under load; 40.8k on a quieter machine)
The capacity's step tables now hold the queueing approximation's points only (`queueing_only`: the 12 x 5
grid of the rows that fit, 60 of 74 model points per row, none for rows that do not fit). Not reached:
50,000/s. Where its ~230 ms go (cProfile, shares): the step model for the aggregated half ~35% (step.py's
decode_step; summing only time_s there, not compute/memory/flops/bytes/busy, measured 12-20% off the tables),
the rate search ~25% (12 evaluations of the queueing model per searched row), the disaggregated half's batch
search ~20% (search.largest_batch_meeting), its utilization bisection ~6%, resolving and evaluating ~10%.
Tried and dropped: a rate search with ~4.5 instead of 10 evaluations per row (regula falsi in
-log(1 - utilization), checked on the bisection's own points): ~10% off max_rate_meeting, the same rates to
the bit where the targets hold below a rate and fail above it, but the model's TTFT p90 is not monotone in the
rate on some rows (Llama-3.1-8B INT8 on GB200, vLLM with speculative decoding, 512/128: 18 s at 25% of
capacity, 0.07 s at 85%), where it found 250 requests/s against the bisection's 62; and the same search for
the disaggregated utilization (30 halvings): no gain (each evaluation is cheap, rounds cost more). A coarser
candidate grid moves the answers (rates vs the 20 x 9 tables on this grid: 12 x 5 median 0.7%, p90 2.5%,
max 9%; 10 x 4 1.0 / 4.4 / 9%; 8 x 4 2.0 / 6.8 / 17%) and every pinned objective with them: not done.

Figures (2026-12-01, h31; load average 5-7, the old tree (main 94f4f74) and the new one run one after the
other, three times, CPU seconds, best of 3-5 repetitions inside each run; step tables the simulator's 20 x 9):
    capacity_under_slo, 5,000 configurations     before 15.0-16.9k/s, after 17.3-19.6k/s (+15%)
    max_rate_meeting, 20,000 (service inside)      before 22-28k/s,     after 27-31k/s
    step tables, 5,000 (20 x 9)                    before 7.5-10.4k/s,  after 10.4-14.2k/s
    max_rate_meeting, 2,048 rows, service known    before 70-83 ms,     after 47-51 ms
Every answer is bit-identical (open-loop outputs, rates, step tables, capacity frames; calibrate byte-identical).
What moved: the step tables run the step model for its time alone (decode_step time_only: ~20% of the table
build); the rate search copies nothing it does not read (no step table at all, no gather of a block or open set
that is every row), locates the mean occupancy once, reads the percentile state's step from the chain and computes
no mean TTFT (open_loop targets_only 4.4 -> 3.5 ms per 2,048 rows); the batch search judges the two candidates
around where TPOT / target (about linear in the batch) crosses 1 before bisecting (4.3 -> 3.0 model pairs per
disaggregated row, 10 -> 7 runs). Not reached: 50,000/s. Where the ~250 ms of capacity_under_slo now go
(cProfile shares): step tables 27% (the model 20%, its batch-1 evaluate probe 4%), rate search and service ~25%,
disaggregated batch search 21%, disaggregated utilization bisection 7%, the final evaluate 4%, resolve 6%, frames.
Tried and dropped (h31): a rate search that skips the midpoints its known points decide (the same float path as
the bisection, bit-identical where the targets are monotone in the rate), narrowed by regula falsi on each
target's share in -log(1 - utilization): 12 -> 7.5-9.9 evaluations per row, but no time saved (68-70 ms both on
2,048 rows): 72% of the bench rows are TPOT-bound, and TPOT p90 is a staircase in the rate (the occupancy's
percentile state jumps between the chain's states), so the guesses converge no faster than halving and the rounds
on shrinking subsets cost their fixed ~0.45 ms each.

Figures (2026-12-01, h35; load average 5-8 (three fits and test suites running), main 738ea02 and h35 in two
processes taking turns call by call, 24 calls each (8-16 for the others), CPU seconds; min / p25 / median of the
pairwise ratios):
    capacity_under_slo, 5,000 configurations     263.5 -> 249.1 ms min (19.0k -> 20.1k/s): -5.5% / -4.5% / -7.6%
    capacity_under_slo, the 480 distinct ones       88.6 ->  90.3 ms min (5.4k/s both), p25 -8%, pairwise -7%
    the capacity's step tables (12 x 5, 2,500)      60.8 ->  55.6 ms min: -9% / -13% / -11%
    step tables (20 x 9, 5,000)                    level (312 vs 314 ms min; 15.9-16.0k/s)
    max_rate_meeting, 20,000 (service inside)      level (675 vs 656 ms min; 29.6k-30.5k/s)
Every answer is bit-identical: capacity frames of this grid (with and without a TTFT target) and of every
example problem's capacity call, step tables (20 x 9, and 12 x 5 queueing-only), `planner calibrate`'s six
files byte for byte. What moved: the capacity's step tables build the grid's points of the rows that fit only
and take each column the step model reads per row chunk (~70 of ~110; a dict look-up on every later read:
through Taken's Python __getitem__ the 20 x 9 tables were 2-5% slower); the chain's arithmetic in place and its
cumulative sums by column (np.cumsum along 25 states is a per-row loop, twice the time); the figures at the
found rate without the ITL nothing reads (add_itl: its Newton loop), the light-load ones of rows serving no
rate as percentiles alone; the disaggregated utilization bisection on the units that run, and math.erf /
math.exp per value mapped into a float array (~25% under np.frompyfunc's object array). Not reached: 50,000/s.
Where the time goes now (cProfile shares): step tables 31% (the step model 24%), the disaggregated batch search
20%, the rate search 16% (about 40% of it libm: expm1 and log twice on the 12 lumped states and exp on all 25,
at each of ~12 rates a row), evaluate (the batch-1 probe, the evaluation at capacity) 9%, the disaggregated
bisection 7% (30 rounds, math.erf on the ~1,200 seat-limited units a round), resolve 6%, service and chain 5%.
At 50,000/s a configuration has 20 us; the rate search's libm calls alone take 9-11 us of an aggregated
row (0.75-0.9 us a row and rate, 12-13 rates).
The grid: its 5,000 rows are 240 aggregated and 240 disaggregated configurations repeated ~10 times. Computing
each distinct row once would read far above 50,000/s here and change nothing in `planner solve`: the capacity
calls of the ten example problems (64-2,852 rows) repeat no row, and only mixed-fleet repeats a configuration
under other targets (2,460 distinct in 2,852, whose step tables and chains could be shared): not done.
Tried and dropped (h35): bounds on the seat wait to skip math.erf in the disaggregated bisection (Mills-ratio
bounds on cdf/pdf decided 28% of the 36,340 exact evaluations on 2,500 units; a tighter no-wait shortcut 4%): ~1-3
ms against a delicate float argument; skipping expm1/log in _log_mass where 1 - e^-x rounds to 1 (x >= 37.4: 21%
of the lumped states' x, none of x/h): a gather and scatter cost what it saves, and np.expm1(where=) ran slower
than the full call (674 vs 508 us); row maxima and counts by column (-30 us a call). A compiled kernel (numba) was
not tried: the libm calls stay, and only the rate search and the bisection (~25%) are small enough to compile
without a numpy twin of the queueing model (open_loop is predict's and calibrate's too), the step model and the
batch search (~50%) stay numpy.

Figures (2026-12-01, h41; load average 3-6 all session (other helpers' test suites), CPU seconds). The step
tables of the candidate search run the model once per group of rows that share every column but the output
length (steptable.shared_groups, _grid_points_shared): the same operations on the same values, each member's
context and osl entering where the model reads them (decode attention, the longest sequence's kernel limits);
every table, every capacity frame of the ten examples' calls and of this grid, and `planner calibrate`'s six files
identical to the bit to main a63abe8. The capacity's tables alone (one process, on and off alternating, min of
7): mixed-fleet 262 -> 143 ms, power-limited-site 182 -> 86, enterprise-budget 146 -> 87, offline 49 -> 47.
    problem capacity, the four large grids (41,612 configurations), main and h41 at once, 8 calls each:
        min 2,556 -> 2,036 ms (16.3k -> 20.4k/s), median 3,070 -> 2,418 ms (13.6k -> 17.2k/s); an earlier
        pair at load ~5: 16.1k -> 17.8k/s (min), 14.3k -> 16.3k/s (median)
    candidate stage (bench_candidates' call, one process, the four problems, sharing off and on alternating in
        one process, 7 rounds): 12.8k -> 14.4k cfg/CPU-s (min), 11.3k -> 12.9k (median); per-problem median
        ratios 0.85-0.94 (offline 0.94: its rows share least)
Not reached: 50,000/s. Where mixed-fleet's build goes now (bench_candidates --phases, load ~5, us per
configuration of its 17,496; 50,000/s leaves 20): the capacity 51 (step tables 10.5, rate search 10.0, the
disaggregated batch search 14.2 of which reasoning rows 9.4, the disaggregated utilization bisection 2.6,
resolve 2.2, the evaluation at capacity 1.9, service, chain, the latency at capacity and at a trickle and the
frames ~10), expansion 9.2 (dominance pruning 5.6), grid and completion 3.6. Each of the step tables, the rate
search and the disaggregated batch search alone takes half of the 20 us, with numpy's ~4 ns per element and
operation: the step model's ~200 array operations at 60 points of a row (now of a group), the rate search's ~12
probes of 25 chain states each with exp, expm1 and log. Sharing more rows did not pay: groups that differ in
the prompt too (1,956 instead of 3,618 on mixed-fleet) took no less time (MEMBER_COLUMNS). Left: the same
sharing in the disaggregated batch search (search.py; its decode steps differ by osl within a group as here),
a compiled kernel for the step model and the chain, or fewer points and probes (which move the pinned plans).

Figures (2026-12-01, h45; load average 2-3.4 (other helpers' suites), CPU seconds). Every capacity frame of the
ten bundled problems' calls (43,468 rows: values to the bit, reasons, limited_by, dtypes) is identical to main
3fd6590. What moved: the reasons of rows that fit but meet no target are built in one pass over Python floats
(evaluate.meeting_result, capacity._at_capacity: a loop reading numpy scalars row by row was ~5% of the call);
the rate search's blocks are views, not gathered copies, and its probe at full capacity and its bisection run on
the rows meeting the targets at a trickle only (about half the rows miss there, answer 0); the disaggregated
batch search judges the last <= 1,024 (row, candidate) pairs of its bisection or scan in one run of the model
(search.TAIL_PAIRS; a run costs ~3-4 ms whatever its rows, and the last rounds had 1-9 rows): runs per call
mixed-fleet 13 -> 11, enterprise 12 -> 8, power-limited 12 -> 10, offline 8 -> 7.
    problem capacity, the four large grids, main's capacity (its modules loaded under other names) and h45's in
        one process, alternating call by call, 10 rounds: sums of minima 1,497 -> 1,364 ms (27.8k -> 30.5k/s);
        median pairwise ratio mixed-fleet 0.92, enterprise 0.92, power-limited 0.81, offline 0.96
    the same in separate processes taking turns (5 pairs of 3 rounds): min 1,750-2,147 -> 1,454-2,058 ms
        (best 23.8k -> 28.6k/s), pairwise 0.71-0.96; this benchmark's own figure for h45 alone (--repeat 3, load
        2.9-3.2): 22.1k/s (mixed-fleet 23.3k, enterprise 25.0k, power-limited 21.3k, offline 14.6k)
    candidate stage (bench_candidates, the four problems, one process, 3 pairs of runs taking turns): 16.9, 15.7,
        17.1k -> 14.7, 16.3, 17.8k cfg/CPU-s: the ~5% is inside the load's noise there
    mixed-fleet phases (--phases, one run each back to back, load ~3.3): capacity 1,000 -> 748 ms, step tables
        216 -> 162, rate search 193 -> 147, disaggregated batch search 258 -> 185, utilization bisection 53 -> 47
A compiled kernel, tried and not adopted (numba 0.68.1, commit b2c72df, reverted by the next): the rate search's
bisection with open_loop's targets-only percentiles per row and probe (numpy's pairwise sums, NaN-propagating
max/clip, numpy's exp of the bisection points looked up by position), rates identical to the bit to the numpy path
on six problems' calls (38,000+ rows). The search went from 14-17 to 10-12 us an aggregated row: the compiled probe
is still ~75% libm (~80 exp/expm1/log calls a probe: 12 lumped states x 4 and 25 states' exp; with them stubbed out
2.7 us a row), ~1.6 us a probe, 12 probes an open row; skipping calls whose results are exact (expm1(-x) = -1 past
38.9, exp below -746, one-integer and empty lumps) saved nothing measurable. And a process pays for numba before
any kernel runs: import 0.33 s CPU, then 0.65-1.0 s on the first call of even a one-line function loaded from the
on-disk cache (its typing and code generation set up), 7.3 s for a cold compile (a fresh clone, every test worker
without a cache); `planner solve problems/quickstart.yaml` (its side processes pay it too) took 3.4-3.9 s CPU on
main, 4.1-5.6 s with the kernel's cache warm, 11.4 s cold (load ~4). A process's ~1 s is more than mixed-fleet's
whole capacity call (~0.6 s): on one-shot solves and test workers numba loses whatever it compiles; it could pay
only in long processes (sweeps) or with ahead-of-time compiled code.
Not reached: 50,000/s. Where mixed-fleet's build goes now (us per configuration of 17,496, the phases above at
load ~3; 50,000/s leaves 20): the capacity 43 (step tables 9.2, rate search 8.4, disaggregated batch search 10.6,
utilization bisection 2.7, resolve 1.8, evaluation at capacity 1.6, and ~9 in service 1.6, chain 2.3, the
latency at capacity and at a trickle ~2, the reasons of rows that serve no rate ~1.5 (strings), frames and
pandas' string columns ~2), expansion 9.2 (dominance pruning 5.7), grid and the rest 3. The floors in numpy: the
rate search's libm calls (~7 us an aggregated row, the same calls compiled or not), the model's ~3.5 us a
(configuration, batch) pair in the batch search and its ~3.5 ms fixed cost per run (~2,000 Python calls of the
step, serving and memory models), the step tables' ~200 array operations per group. Left: the step model with
fewer Python-level operations per call (step.py: ~30 _safe_div, ~56 _add, ~180 column look-ups a call), sharing
rows that differ only in osl in the batch search (its rounds probe different batches per row), or fewer grid
points and probes (which move the pinned plans, h24's figures above).

Figures (2026-12-02, h50; load average 1-2.7, CPU seconds). Disaggregated reasoning units carry a decode step
table since c5bc50f (h47: the step at batches 1, 2, 4, ... below the unit's, read ~30 times per call by the
utilization bisection). Now: the table takes the knots the batch search's runs of the model hold
(`largest_batch_meeting(runs=)`: every row's batch 1 and the powers of two its rounds judged, 12-27% of the
knots), runs the others' decode step for its time alone, joins its columns in one concatenation; the bisection
reads a row's segment in one take and compares the load with column-major onsets. Every capacity frame and
units' step table of the ten bundled problems' calls identical to the bit to c5bc50f. Phases, c5bc50f -> h50,
min of 2 x 7 calls per tree, the trees taking turns (mixed-fleet, enterprise, power-limited, offline, ms):
    the step table (with_decode_steps)          32.0, 17.7, 8.9, 14.0 -> 18.7, 14.6, 5.6, 10.8 (sum -32%)
    the hidden phase in the bisection           36.2, 17.5, 11.6, 12.5 -> 13.8, 11.5, 8.5, 8.2 (sum -46%)
    disaggregated_under_slo (bisection, state)  90.4, 43.7, 32.7, 34.0 -> 49.4, 39.7, 29.8, 28.6
    problem capacity, two processes (c5bc50f, h50) taking turns call by call, 10-12 rounds: sums of minima
        1,615 -> 1,584 ms and 1,456 -> 1,445 ms (28.6k -> 28.8k/s); median pairwise ratios 0.95-0.98 and
        0.95-1.03: the ~60 ms saved over the four calls (~4%) is inside this machine's noise on whole calls
The reasoning rows' share left (unit_steps ~20 ms, the table ~50, the hidden phase ~40 over the four calls):
the table's decode step on the ~85% of knots no run holds (~0.5 us a knot).

Figures (2026-12-02, merge de907d9; load 5-8 all session, 2 cores, CPU seconds). Where the whole candidate stage
of mixed-fleet goes (bench_candidates --phases, ms of ~1,090 per build): the load-aware capacity ~820 (step
tables 167, rate search 158, disaggregated batch search 197, utilization bisection 75, resolve 35, evaluation at
capacity 25, service, chain, the latency at capacity and at a trickle and the frames ~160), expansion 174
(dominance pruning 101, keys 26), grid 33, completion and variant pruning 26. The step model's passes in that
capacity call: 28, ~218 ms (11 step-table passes over (groups, members, 60 points) ~109 ms, 4 evaluation passes
of 8,422 rows ~30, 11 batch-search runs ~45, the reasoning units' table 22, prefill 10), ~1.2 ms of each fixed
(~30 _safe_div with np.errstate, ~25 clips, ~120 column reads): ~35 ms of Python in all, the rest numpy on the
elements. What moved (every candidate table, capacity frame and `planner solve` JSON of the ten problems
identical to main ece4839 but for the timing fields): a dominance group equal value for value to an earlier one
(one system owned and rented) is pruned once (offline-tokens-per-dollar's pruning 51 -> 28 ms, its build 7.6k
vs 6.7k cfg/CPU-s in one pair of runs at load 7); resolve.Taken gathers in __missing__ (a column read again is
dict's own look-up); the step model's efficiency clip as minimum/maximum. bench_candidates, main and de907d9 run
at once, --repeat 5, four large problems: 13.2k / 13.1k cfg/CPU-s (load 7-8): the rest is inside the noise.
Tried and dropped: the pruning's pairs as a list (nonzero of the per-count matrix, then the strictness and
order tests on the ~16% that pass): 70 -> 100 ms on mixed-fleet (the gathers cost more than the comparisons
they skip); the same tests in place (no temporaries): level; key_parts once per distinct combination of its
columns (pd.factorize of 17 Series): 17 -> 27 ms (factorizing costs more than the per-row f-strings at 3-8k
rows); the rate search once per distinct row (15% of mixed-fleet's 8,422 rows have step tables, targets and
hidden tokens equal bit for bit to another's: fp8 and int8 of one model on B200, the same bytes and peaks per
weight): a multiply-xor hash of the rows' 112 table columns costs 13 ms against ~27 ms saved (bytes of the
service and chain through np.unique: 132 ms), ~1% of the build: not done. Every piece left is 2-20% of the
build, so 50,000/s needs the per-element numpy work itself to shrink (a compiled kernel, or fewer grid points
and probes, which move the plans).
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.perf import queueing, rate_search
from planner.perf.simulate import Workload, simulate_one
from planner.perf.steptable import StepTables, build_step_tables

ROOT = Path(__file__).resolve().parents[1]
SIM_CONFIGS = [
    dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=2, isl=5000,
         osl=500, serving="aggregated"),
    dict(model="llama-3.1-8b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8", tp=1, isl=1000,
         osl=200, serving="aggregated"),
]


def config_grid(catalog) -> pd.DataFrame:
    rows = []
    for model, acc, tp, (isl, osl) in itertools.product(
            ["llama-3.1-8b", "llama-3.3-70b", "qwen3-32b", "gpt-oss-120b", "llama-3.1-405b"],
            ["h100-sxm", "h200-sxm", "b200"], [1, 2, 4, 8], [(1000, 200), (5000, 500), (200, 1000), (8000, 1000)]):
        if acc in catalog.accelerators:
            rows.append(dict(model=model, accelerator=acc, precision="fp8", kv_precision="fp8", tp=tp, pp=1, ep=1,
                             attn_dp=1, serving="aggregated", isl=isl, osl=osl))
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=50_000)
    ap.add_argument("--capacity-configs", type=int, default=5_000)
    ap.add_argument("--problems", nargs="*", default=list(LARGE_PROBLEMS),
                    help="bundled problems whose capacity call is timed (problems/NAME.yaml)")
    ap.add_argument("--repeat", type=int, default=3, help="calls per problem (the fastest counts)")
    args = ap.parse_args()
    catalog = load_catalog()
    for cfg in SIM_CONFIGS:
        tab = build_step_tables(pd.DataFrame([cfg]), catalog)
        cap = float(queueing.service(tab).capacity_rps[0])
        for name, wl in (("burst", Workload(request_rate=math.inf, num_requests=1000)),
                         ("poisson 80%", Workload(request_rate=0.8 * cap, num_requests=1000))):
            best = min(_timed(lambda wl=wl, tab=tab: simulate_one(tab, wl)) for _ in range(3))
            print(f"simulate {cfg['model']} {cfg['isl']}/{cfg['osl']} {name}, 1,000 requests: {best:.3f} s CPU")
    grid = config_grid(catalog)
    grid = grid.loc[np.resize(np.arange(len(grid)), 5000)].reset_index(drop=True)
    t0, c0 = time.perf_counter(), time.process_time()
    tab = build_step_tables(grid, catalog)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"step tables: {len(grid):,} configurations in {dt:.2f} s wall, {dc:.2f} s CPU = "
          f"{len(grid) / dc:,.0f} configs per CPU-second")
    idx = np.resize(np.arange(len(grid))[tab.fits], args.configs)
    big = StepTables(**{k: getattr(tab, k)[idx] for k in tab.__dataclass_fields__})
    t0, c0 = time.perf_counter(), time.process_time()
    rate = rate_search.max_rate_meeting(big, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"max_rate_meeting: {len(idx):,} configurations ({int((rate > 0).sum()):,} meet TTFT p90 2 s / TPOT p90 "
          f"50 ms at some rate) in {dt:.2f} s wall, {dc:.2f} s CPU = {len(idx) / dc:,.0f} configs per CPU-second "
          f"({len(idx) / dt:,.0f}/s wall; wall counts other processes on a shared machine)")
    capacity_search(catalog, args.capacity_configs)
    problem_capacity(catalog, args.problems, args.repeat)


LARGE_PROBLEMS = ("mixed-fleet", "enterprise-budget", "power-limited-site", "offline-tokens-per-dollar")


def captured_capacity_calls(catalog, problem: str) -> list[tuple[pd.DataFrame, dict]]:
    """The load-aware capacity calls (rows, keywords) `build_candidates` makes on a bundled problem, as it
    makes them (in one process: the forked evaluation would split them)."""
    import os

    import planner.optimize.evaluation as evaluation
    from planner.optimize import forked
    from planner.optimize.candidates import build_candidates
    from planner.optimize.pipeline import load_instance

    calls = []
    real, env = evaluation.capacity_in_parts, os.environ.get(forked.ENV)

    def record(rows, cat, **kw):
        calls.append((rows.copy(), kw))
        return real(rows, cat, **kw)

    evaluation.capacity_in_parts, os.environ[forked.ENV] = record, "1"
    try:
        build_candidates(load_instance(ROOT / "problems" / f"{problem}.yaml", catalog), catalog)
    finally:
        evaluation.capacity_in_parts = real
        if env is None:
            os.environ.pop(forked.ENV, None)
        else:
            os.environ[forked.ENV] = env
    return calls


def problem_capacity(catalog, problems, repeat: int) -> None:
    """`capacity_in_parts` as the candidate search calls it on bundled problems: configurations per CPU-second
    of its calls (fastest of `repeat` each, after one untimed call), per problem and over all of them."""
    from planner.perf.capacity import capacity_in_parts

    total_n, total_s = 0, 0.0
    for name in problems:
        for rows, kw in captured_capacity_calls(catalog, name):
            capacity_in_parts(rows, catalog, **kw)
            best = min(_timed(lambda rows=rows, kw=kw: capacity_in_parts(rows, catalog, **kw))
                       for _ in range(repeat))
            agg = int((rows["serving"] == "aggregated").sum())
            total_n, total_s = total_n + len(rows), total_s + best
            print(f"problem capacity {name}: {len(rows):,} configurations ({agg:,} aggregated, "
                  f"{len(rows.drop_duplicates()):,} distinct) in {best * 1e3:.0f} ms CPU = "
                  f"{len(rows) / best:,.0f} configs per CPU-second", flush=True)
    if total_s:
        print(f"problem capacity, all: {total_n:,} configurations in {total_s * 1e3:.0f} ms CPU = "
              f"{total_n / total_s:,.0f} configs per CPU-second")


def capacity_search(catalog, n: int) -> None:
    """The candidate search's load-aware capacity (`capacity_under_slo`: step tables, the rate search, the
    latency at that rate, the mean-latency batch search of disaggregated rows) from the configurations alone."""
    from planner.perf.load import capacity_under_slo

    base = config_grid(catalog)
    grid = pd.concat([base, base.assign(serving="disaggregated")], ignore_index=True)
    grid = grid.loc[np.resize(np.arange(len(grid)), n)].reset_index(drop=True)
    best = None
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        res = capacity_under_slo(grid, catalog, ttft_s=2.0, tpot_s=0.05, percentile=90.0)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best = (dt, dc) if best is None or dc < best[1] else best
    dt, dc = best
    ok = int(res["fits"].sum())
    print(f"capacity_under_slo: {n:,} configurations (half disaggregated; {ok:,} meet TTFT p90 2 s / TPOT p90 "
          f"50 ms) in {dt:.2f} s wall, {dc:.2f} s CPU = {n / dc:,.0f} configs per CPU-second "
          f"({n / dt:,.0f}/s wall)")


def _timed(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


if __name__ == "__main__":
    main()
