"""Candidate building speed: configurations per CPU-second of the candidate stage of `planner solve`, per
example problem and over all of them.

    python benchmarks/bench_candidates.py [problems...] [--repeat 5] [--processes 1|2|auto] [--phases] [--fixed]

What is timed (the `candidates_s` stage of `planner solve`, `pipeline.solve_outcome`, call for call): building
the instance from the parsed problem (`build_instance`), the problem-size guard, `build_candidates` without a
cache (the configuration grid; the performance evaluation of every configuration with the latency-target
search: the load-aware capacity under the SLO percentile (reasoning rows included), the batch search of
disaggregated units, the speculative-decoding and prefill-layout passes; completing, filtering and variant
pruning; the expansion over systems and own/rent, keys and dominance pruning) and the fleet-size guard.
Not timed: process start and imports, reading the catalog and the problem file (YAML, validation), the MIP.

Columns per problem: configurations evaluated (`stats["grid"]`, what `planner solve` reports); `cold_cpu_s`:
the first build on a freshly loaded catalog (its per-catalog look-up tables built inside the timed region, as
in a one-shot `planner solve`); `cpu_s` / `wall_s`: the fastest of --repeat builds after it (same catalog, as
in a sweep or a second solve; no result is reused between builds: every build evaluates the whole grid);
cfg/cpu-s and cfg/wall-s from those. `all`: the sums over the problems (configurations / CPU seconds: one
figure for the examples together). CPU seconds are this process's and its reaped children's (the evaluation's
forked child, `planner.optimize.forked`), the better figure on a shared machine; the load average is printed
before and after, since a loaded machine inflates both. `path_s`: the CPU seconds on the longer of the two
processes' paths (this process's, with the child's CPU in place of this process's own share of the
evaluation where the child's is longer): the wall time of a build where each process has a core of its own,
as on an idle 2-core machine, measurable on a loaded one; equal to cpu_s where nothing forked. `forks`: forks
per build. Target (issue 7): >= 50,000 configurations per second (wall).

--processes: the evaluation on one process (1), on two whenever it can split (2: a fork even where it does not
pay), or as `planner solve` decides (auto, the default: a fork where the grid is large enough to pay and a CPU
is idle now; on a saturated machine, one process).

--phases: where one build's CPU time goes (mean over --repeat runs): the grid, the performance calls (the
load-aware capacity with its step tables and disaggregated batch search; the batch search of reasoning rows only
with a custom perf function), the rest
of the evaluation (completing, filtering, variant pruning) and the expansion (systems, keys, dominance pruning).
Nested phases are indented and included in their parent.

--fixed: each build's CPU time as fixed + configurations x per-configuration cost (builds on seeded random 1/8,
1/4, 1/2 and all of the grid, a line through them); `marginal` is the rate the per-configuration part alone
allows, the ceiling of cfg/cpu-s on ever larger grids of the same kind.

To compare with another checkout (e.g. main) under the same load, run both at once:
    python benchmarks/bench_candidates.py & python /path/to/main/benchmarks/bench_candidates.py

Figures (2026-12-02, h103 against its base a3aa646; every candidates/plan file the same, check_plans.py). The step
tables' prefill_at counted the prompt points below a count as an (R, K, 3) comparison summed along its last axis
(numpy reduces a short last axis row by row, ~8x the cost of three whole-array compares) and read the points about
it through take_along_axis: captured calls, CPU ms a build (two sittings), mixed-fleet 21.9 -> 7.7 and 5.6 -> 3.6,
power-limited-site 13.5 -> 5.2 and 3.8 -> 2.4; the aggregated rate search in blocks of up to 16,384 rows (was
4,096: mixed-fleet's 7,132 rows and power-limited's 4,650 in one block, not two; captured searches 67.5 -> 61.3 and
43.1 -> 37.9 ms). Whole builds in one process, base and new alternating 25 times (load 0.6-1): min / median CPU ms
power-limited-site 343 / 401 -> 334 / 384 and 309 / 330 -> 294 / 313, mixed-fleet 535 / 630 -> 498 / 626 and 556 /
774 -> 550 / 759 (cfg/cpu-s at the min: mixed-fleet 32.7k -> 35.1k, power-limited 35.4k -> 37.2k); this script, the
checkouts alternating 3 times, moved +-15% between runs either way (it cannot resolve 2-4%). Tried and left: counts
of True along the rows of the chain's (R, 26) comparisons as a product with ones (2.4x faster, but BLAS runs it on
several threads past ~10k rows: more CPU in all), its float row sums column by column in numpy's pairwise order
(the same bits, but strided columns ran 1.3x slower), np.clip as minimum/maximum (clip is faster), rate-search
blocks of 512-2,048 rows (slower), TAIL_PAIRS 8,192-16,384 (level), the pruning's pair tests per GPU count (no
gathered (n, d) products, but 16 -> 28 ms on mixed-fleet), key_parts through one memo per row of its tail without
the batch (17 -> 24 ms: an explicit loop costs more than the comprehensions), and the build with the cyclic GC off
(4 gen-0 collections, ~5 ms on mixed-fleet).

Figures (2026-12-02, h96 against its base 6b2beef, one process, the two checkouts alternating three times,
fastest cpu_s of each, --repeat 5, load average 2-3.5; every candidates/plan file the same, check_plans.py).
The search's runs leave out the memory and engine-cap messages of pairs not at batch 1 (PENDING; the frame writes
those of the batches it reports), the light-load TTFT reasons' whole numbers as integers, the serving column
compared as a column, output frames' text columns built by pyarrow at once (evaluate.as_text). On captured calls
(old/new alternating): largest_batch_meeting quickstart 33.2 -> 29.0 ms, mixed-fleet 146 -> 138; _at_capacity
mixed-fleet 341 -> 329, power-limited-site 236 -> 226; output_frame mixed-fleet 13.7 -> 10.6, quickstart 4.2 ->
3.4. cfg/cpu-s: quickstart 1,730 -> 1,959, mixed-fleet 19,757 -> 21,733, power-limited-site 20,373 -> 20,689
(whole builds move +-10% between runs at this load: only quickstart's gain shows in every alternation). Tried
and left: key_parts coded per part and written once per distinct combination (the same keys; mixed-fleet 26.9 ->
17.1 ms, enterprise-budget 27.9 -> 19.7, but quickstart 3.2 -> 5.8: ~2.5 ms of pandas factorizations fixed).

Figures (2026-12-02, h86 against its base 7948720 run at once, load average 6.3-7.5 from other helpers; every
candidates/plan file the same, check_plans.py). Fixed costs in resolve and the disaggregated bisection:
add_reasons looks for rows without a reason among the masked rows only (an object compare of every grid row on
each of a build's 22-43 calls, most with empty masks) and formats make's arguments as Python numbers (the same
text; over a build's captured calls mixed-fleet 12.4 -> 6.5 ms, power-limited-site 7.4 -> 4.0, quickstart 7.5 ->
4.4); resolve takes the names as text once and the precision index once per catalog (quickstart 6.8 -> 4.9 ms,
mixed-fleet 21.8 -> 19.6); a row subset's step table (step_table_rows, ~20 calls of the bisection) keeps the
parent's segments and onsets and reads the one segment and the knots reached it needs, unit_steps builds the
onsets column-major (disaggregated_under_slo mixed-fleet 40.8 -> 37.4 ms, quickstart 13.9 -> 12.6).
bench_candidates --repeat 3 (no fork), all examples: cfg/cpu-s all 14,739 -> 15,261, mixed-fleet 23,551 -> 23,978,
power-limited-site 21,806 -> 22,663, enterprise-budget 19,347 -> 20,529, quickstart 1,940 -> 1,995; again
(--repeat 5 --processes 1, four problems): all 21,038 -> 21,455, mixed-fleet 24,737 -> 25,112, quickstart 1,779 ->
1,804 (~2%: each change is 1-6 ms of a build). Tried and left: normalize_grid reading each column's dtype instead
of the frame's dtypes (4 calls 2.7 -> 4.3 ms: a column read costs more); disaggregated_under_slo's column
assignments as one concatenation (quickstart 3.6 -> 4.1 ms, mixed-fleet 6.1 -> 8.0); resolve's table gathers
as one 2-d take (2.0 -> 1.7 ms: not worth the layout). Left: small problems stay ~70% performance model
(quickstart's capacity_in_parts ~107 of ~140 ms: the batch search ~30, step tables ~14, rate search ~14), the rest
pandas frame building at ~1-2 ms a step (output_frame's string inference, with_columns, takes of ~35-block
frames); quickstart's search formats ~800 memory reasons a build for (row, batch) pairs it mostly never reports.

Figures (2026-12-02, h81 against main 11cb4d2 run at once, one process, --repeat 3 / 5, load average 4.3-6 from
other helpers; every candidates/plan file the same, check_plans.py). Fixed costs around the model: the
evaluation's rows put in order by the one take of the serving rows (evaluate_grid(in_order=False): one
whole-frame take less a build, mixed-fleet 7.4 ms, power-limited-site 5.9, quickstart 2.6); the candidate
search's capacity (capacity_in_parts(unserved_figures=False)) models the aggregated rows that serve no rate
neither at batch 1 (evaluation at capacity, min of 7: mixed-fleet 41 -> 27 ms, power-limited-site 28 -> 19) nor
in a second open_loop call: their latency at light load comes from the call at capacity, where they run at a
trickle (_modelled, min of 9: mixed-fleet 166 -> 141-147 ms); units whose step table serves no row with hidden
tokens add 0 for the hidden phase (the bisection, quickstart 16.6 -> 12.2 ms). bench_candidates, all examples
(--repeat 3): cfg/cpu-s all 15,532 -> 16,701, mixed-fleet 24,179 -> 26,843, power-limited-site 22,280 -> 25,264,
enterprise-budget 21,467 -> 22,956, quickstart 1,916 -> 2,092; again (--repeat 5, three problems): mixed-fleet
25,297 -> 26,269, power-limited-site 23,844 -> 25,204, quickstart 1,897 -> 2,105. Tried and left: the
disaggregated search's model runs split by kind (MoE / dense, so that step._Pass.vanishes fires): mixed-fleet's
search predict 75 -> 96-148 ms (a run's ~3.5 ms set-up paid per kind); the hidden phase on the reasoning rows
alone (a gather of the table per bisection call: mixed-fleet 40 -> 45 ms); the light-load reason strings as
whole numbers (as meeting_result's: no faster, the TPOT ones dominate). Left: add_reasons formats numpy
scalars (resolve.py; from lists ~1.6x faster, ~2 ms on quickstart, whose search writes ~800 memory messages of
pairs it mostly never reports), unit_steps ~8 ms on mixed-fleet (reasoning_disagg.py), the search's per-run set-up.

Figures (2026-12-02, the session's start 102aa94 and main 7f3029c run at once, one process, --repeat 3,
load average 1.6-3): cfg/cpu-s all 10,220 -> 11,886; mixed-fleet 14,020 -> 16,851, enterprise-budget 12,251 ->
15,511, power-limited 15,542 -> 16,647, offline 7,555 -> 8,925; the candidates and plans of every example the same
to the bit. Per change, below (newest first).

Figures (2026-12-02, h74 against main 78ad880 run at once, one process, --repeat 3, load average 7-8 from
other helpers' tests and benchmarks; every candidates/plan file the same, check_plans.py). Around the model:
the grid's per-row string columns coded once per distinct block array and taken once, layouts once per (MoE,
domain) (build_grid mixed-fleet 33-35 -> 24-26 ms); on tables past ONE_MATRIX_ROWS a group of up to 250 rows
pruned in one matrix of its own (the examples' pruning 126-131 -> 108-116 ms in all, ai-factory-10mw 4.9 ->
1.9); the evaluation's (workload, hidden tokens) groups from integer codes (groupby 1.3 -> 0.5 ms on
quickstart) and one take of the columns a performance call reads (quickstart's evaluate_grid without the model
13.2 -> 10.8 ms); no boolean take of the grid when nothing drafts; prefill_group from arrays. Quickstart's
build with the model's calls replayed 43-47 -> 38-40 ms. bench_candidates --fixed: mixed-fleet fixed 274 ->
242 ms (33.1 -> 34.9 us/cfg: noise at this load), quickstart 138 -> 133 ms; cfg/cpu-s all 17,201 -> 17,531.
Left: the keys (key_parts 23 ms on mixed-fleet; per distinct combination they cost more: 1,509 combinations of
8k rows without the batch, pandas' string factorizations ~0.4 ms a column), the pair tests of the pruning's
largest groups (1,790 x 257 pairs, ~7 ms; slicing them to fit the cache ran slower), ~2 ms whole-frame takes
of the 51-column results (14 string columns, a pyarrow take each) in evaluate_grid, variant pruning and the
expansion; the rest of quickstart's ~170 ms is the performance model's (~125 ms).

Figures (2026-12-02, h76 against main 79cf4b8 run at once, one process, --repeat 5 --phases, load average
5-6.5; every candidates/plan file the same, check_plans.py). The step model leaves out ops that add exactly
nothing on every row of a pass (a dense FFN, shared or routed experts a row lacks; collectives over one GPU, the
PP hand-off without PP: step._Pass.vanishes, step_comm), the step tables give their chunks rows of one kind
(steptable_groups.kind_order) so that it does, and the time alone skips the zero side of an op whose FLOPs or
bytes are zeros. Step tables (ms a build, two runs): mixed-fleet 100.9 -> 94.1 and 119.6 -> 111.8,
power-limited-site 61.4 -> 58.1 and 70.4 -> 67.9, quickstart 13.8 -> 13.1 and 15.9 -> 14.9; forward_stage on
the captured step-table calls (old and new alternating in one process, min of 9) 134 -> 127 ms, the other
calls (full model) unchanged; whole builds within the noise. Tried and left: the GEMMs once per group of table
groups differing only in the prompt (2,174 of 3,409 groups on mixed-fleet, 991 of 2,043 on power-limited):
the same bits, but 93 -> 97 and 58 -> 62 ms (the second grouping ~7 ms, the GEMM pass's own set-up): the GEMMs
are only ~25% of a table pass after the skips.

Figures (2026-12-02, h75 against main 79cf4b8 run at once, one process, --repeat 5, load average 5-9.5;
candidates and plans the same, check_plans.py). The queueing model and the aggregated rate search model rows
equal in every input once (fp8 and int8 of one configuration, targets alike: 1,290 of mixed-fleet's 8,422
fitting rows, 711 of power-limited's 5,361, ~15% of enterprise-budget's and offline's; capacity._distinct_rows,
~4.5 ms CPU a mixed-fleet build), and open_loop makes fewer temporaries (within the noise). --phases,
mixed-fleet: rate search 127 -> 97 ms, load-aware capacity less its disaggregated phases 461 -> 418;
power-limited-site 76 -> 70 and 297 -> 286; cfg/cpu-s mixed-fleet 21,148 -> 22,363, power-limited 19,425 ->
20,114 (a run before the merge of h70: 20,923 -> 21,811 and 19,153 -> 19,648). _under_load less its step tables
on captured inputs, old and new alternating in one process: 360 -> 319 ms (both problems). Left: ~2.5 us a
probe row (40% of it exp, expm1 and log on the lumped states), ~0.7 ms a call fixed; the chain's two locates of
nearly equal states (the exact states' next is the state itself).

Figures (2026-12-02, h71 against main 806ce04, one process, load average 2-5.5 from three other helpers; every
candidates/plan file the same, check_plans.py). The step tables' model runs with the groups on the last axis
(steptable._group_points_inner: per-row columns (g,) broadcast along whole contiguous rows instead of inner
loops of P = 5), GROUP_CHUNK_ROWS 768; expected_experts_touched's pow once per distinct row (~26 of 768); the
rate search gathers a probe's rows lazily. On captured inputs (CPU ms, fastest of 7-15, both checkouts at
once): step tables mixed-fleet 164 -> 129, power-limited-site 105 -> 95 (back to back: 123 -> 88); rate search
in the pipeline, old and new take alternating in one process, mixed-fleet 129 -> 130 (min), 157 -> 143
(median). bench_candidates --phases (means of 3 / 5, both at once): step tables mixed-fleet 194 -> 155 and
235 -> 224, power-limited 131 -> 107 and 127 -> 121, quickstart 18 -> 21 and 24 -> 22; rate search 148 -> 196
and 186 -> 207, 118 -> 120 and 110 -> 98 (noise: whole builds moved +-10% between the two runs); cfg/cpu-s all
12,512 -> 12,619 and 14,472 -> 14,469. Left: ~150 whole-size operations a pass, shared_groups ~11 ms, the
evaluation at batch 1 ~10 ms a table build.

Figures (2026-12-02, h66 against main 621ee87 run at once, one process, load average 1.7-2.5, mean of 5; the
frames and plans identical, check_plans.py): step tables mixed-fleet 180 -> 164 ms a build, power-limited 116
-> 97, enterprise-budget 130 -> 117 (its untouched phases moved ~10% too: noise); cfg/cpu-s unchanged within
the noise (all three 16,232 -> 16,226). A group's decode counts and prompt tokens on axes of their own
(steptable.FACTOR_AXES) and the GEMM efficiency computed once per pass for the GEMMs on the same rows
(step._Pass._efficiency). Left: the model's ~150 whole-size operations a pass at 3,409 groups x 60 points
(mixed-fleet); np.power in expected_experts_touched ~10 ms a build.

Figures (2026-12-02, h62 against main 102aa94 run at once, one process, load average 3.5-4, fastest of 3-5;
the frames and plans identical to the bit, check_plans.py): cfg/cpu-s all 10,404 -> 10,957, enterprise-budget
12,232 -> 12,941, offline 7,315 -> 8,364, power-limited 15,944 -> 16,681, mixed-fleet 14,933 -> 15,055 (its
phases, mean of 5: 1,177 -> 1,081 ms a build; step tables 204 -> 170, the aggregated rate search 186 -> 136;
enterprise-budget 810 -> 700: 130 -> 98 and 128 -> 71). The rate search finds the bisection's answer in ~half
the probes (rate_search._search: 52,884 -> 28,730 row evaluations on mixed-fleet), the step tables read what
runs without the aggregated model (evaluate_columns(timed=False)). On an idle machine (main 102aa94) one
process gave mixed-fleet 15k cfg/cpu-s and enterprise-budget 11.8-13.5k.

Figures (2026-12-02, h63 against main 102aa94, one process, the same frames for every example; 2-core machine
shared with three other helpers, load average 3-5, so whole builds vary by +-70 ms between runs and only the
phases show the change; ms of CPU, fastest of 5 builds, the two checkouts run one after the other, twice):
    problem                    utilization bisection   disaggregated batch search   whole build (noise)
    mixed-fleet                  89, 83, 92 -> 49, 53, 55     208, 205 -> 192, 200        1127-1272 -> 1141-1281
    enterprise-budget                    69 -> 35                 137 -> 125                    733 -> 747
    power-limited-site                   43 -> 37                 139 -> 133                    719 -> 737
    offline-tokens-per-dollar            66 -> 28                  91 -> 72                     505 -> 395
The utilization bisection (30 halvings per disaggregated unit, disagg_capacity.disaggregated_under_slo) takes its
answer, to the bit, from a bracketing regula falsi and a replay of the halvings on the points judged
(planner.perf.bisection: mixed-fleet 130k -> 37k evaluations of the TTFT at the percentile); the batch search's
guess reads the hidden reasoning steps' share of the TTFT target (mixed-fleet 11 -> 10 runs of the model). With
--phases, main and h63 at once (means of 5, ms; the aggregated phases, untouched, moved by up to +-60 ms with
the load): mixed-fleet bisection 122 -> 73, batch search 234 -> 239, dominance pruning 127 -> 144;
enterprise-budget 92 -> 52, 184 -> 163, 85 -> 80; power-limited-site 68 -> 58, 198 -> 185, 63 -> 60.

Figures (2026-12-02, h68 against main 5c929b0 run at once, one process, --repeat 3 --phases, load average 4.5-5;
check_plans.py: every candidates/plan file the same): dominance pruning, ms of CPU a build (mean of 3),
mixed-fleet 124 -> 67, enterprise-budget 73 -> 49, power-limited-site 49 -> 34, offline-tokens-per-dollar 37 ->
31, brownfield-h100 7.6 -> 4.7 (again with --repeat 5: 11.5 -> 5.0; ai-factory-10mw 8.4 -> 6.8); cfg/cpu-s
mixed-fleet 12,540 -> 12,902, all 9,432 -> 9,659 (whole builds within the noise). With the unsure rows searched in
chunks of 256 (1330142), again at once (load 4): dominance pruning mixed-fleet 108 -> 53, enterprise-budget 62 ->
37, power-limited-site 43 -> 22; cfg/cpu-s 13,946 -> 15,011, 14,194 -> 14,998, 14,766 -> 16,839. Rows dominated
strictly by a later one are found against a cover of the group (per GPU count and group size, the tok/s-power
staircase: 257 of mixed-fleet's 1,790-row group), the few whose covering dominators are all earlier against the
rows after them, and the pairwise table-order rule runs on the survivors only (152 there) instead of ~half of all
pairs.

Figures (2026-12-01, c9, 2-core machine under load average 7-11, no idle machine in the session). On an idle
machine (main 0a1f482, 23:50) one process gave cfg/wall-s: mixed-fleet 41.6k, power-limited 44.9k, enterprise
39.5k, offline 19.4k, small grids 1.2-5.7k. c9 evaluates the grid on two processes where it pays
(`planner.optimize.forked`): the model's calls whole to either process (the load-aware capacity here, the batch
search of reasoning rows in the child: 147 and 125 ms on mixed-fleet), or a dominant call split by rows; the
candidates are the same frames, row for row and type for type (tests/test_candidates_forked.py). Builds
alternating one and two processes in one run (fastest of 7 each, ms of CPU; path: see path_s), two runs:
    problem                 configs  1 proc cpu   2 procs: parent / child / path    path / cpu
    mixed-fleet               17496   310, 327         242/144/258, 240/136/246     0.83, 0.75
    power-limited-site        10944   196, 189         179/ 87/179, 160/ 89/160     0.91, 0.85
    enterprise-budget          9900   200, 230         167/102/180, 184/112/199     0.90, 0.87
    offline-tokens-per-dollar  3272   167, 137         131/ 66/132, 133/ 62/133     0.79, 0.97
    quickstart                  288    59               63/ 27/ 63                  1.07 (auto: one process)
The child's share costs ~20-30% more CPU than in one process (search call 134-148 vs 108-118 ms: pages copied
on write, a cold cache, the two processes sharing the machine; its rows pickled, ~9 ms), the parent ~20 ms (the
fork, the faults, reading the rows back), and ~45% of a build stays serial (grid, completing, variant pruning,
expansion with keys and dominance pruning: ~170 ms on mixed-fleet). Applying the path/cpu ratios (mean of the
two runs) to the idle one-process figures: mixed-fleet ~53k cfg/wall-s, power-limited ~51k, enterprise ~45k,
offline ~22k; small grids unchanged (one process: a fork saves less than it costs below ~40 ms of calls). These
are estimates from CPU paths, not idle wall measurements: on the loaded machine the child waits for a CPU, so
`auto` forks only when a CPU is idle now (measured at load ~6 with a fork forced: mixed-fleet 1.1 -> 1.7 s wall).
Fewer operations per row (c9, one process, the same frames): `_safe_div` zeroes its new array in place (2-d
step-table arrays 1.8 -> 1.0 ms a call), `key_parts` builds tails from per-value parts (mixed-fleet 11.6 -> 9.9
ms), `_undominated` takes GPU counts as slices of the sorted rows with bounds and multiples for every count at
once (mixed-fleet 54 -> 46 ms, power-limited 17 -> 13 ms): main and c9 run at once at load ~10, cfg/cpu-s all
17.9k -> 18.5k (+3%, within the noise). The target (50,000 cfg/s wall) is reached, by estimate, on mixed-fleet
and power-limited-site only; what stays is the per-row cost of the model itself (the capacity call's ~40 us
per aggregated or disaggregated row, the batch search's ~7 us) and the serial expansion.

Earlier figures (2026-11-30, c8 against main 21d9b80 run at once; cfg/cpu-s; load average 6-17):
    problem                 configs   main     c8    fixed ms  us/cfg  marginal cfg/s
    ai-factory-10mw             392   2,529  2,648
    brownfield-h100             384   2,010  2,057
    diurnal-own-rent             64     753    723      64      (noise)
    enterprise-budget          9900  22,239 22,792     142      22.6      44,000
    mixed-fleet               17496  29,953 30,187     228      22.2      45,000
    offline-tokens-per-dollar  3272  12,083 12,165     136      26.5      38,000
    power-limited-site        10944  32,221 32,788     138      19.3      52,000
    quickstart                  288   2,312  2,356      94      68        15,000
    reasoning-deepseek-r1       392   3,724  3,828      65      86        12,000
    simplicity-and-failure-d.   336   3,342  3,252
    all                       43468  18,103 18,358
A build costs 65-230 ms whatever its size (the load-aware capacity's stages: resolve, step tables, queueing,
evaluation at capacity, the disaggregated batch and rate searches; the reasoning batch search in rounds;
completion, variant pruning and expansion on ~50-column frames at 0.2-3 ms per whole-frame step), while 50,000
cfg/s on 64 configurations leaves 1.3 ms, on 392 7.8 ms. Past the fixed cost, each configuration costs 19-27 us
on the large grids on one process (38,000-52,000 cfg/s with no fixed cost at all).

Figures (2026-12-02, h70 against main run at once, one process, load average 1.7-5.3; candidates and plans
identical, check_plans.py): the disaggregated batch search (--phases, ms a build) against main 806ce04, three
runs (the last --repeat 5): mixed-fleet 263, 267, 239 -> 246, 265, 206, power-limited-site 182, 163, 145 ->
169, 144, 138, quickstart 59, 57, 53 -> 63, 62, 48 (one prefetched run: noise); with the result built as one
frame too, against main 78ad880 (which has h71's faster step model, this branch not; --repeat 5): mixed-fleet
174 -> 151, power-limited-site 130 -> 108, quickstart 35 -> 34. The phase's call alone, fastest CPU of 21-27
alternating, 806ce04 -> the first three changes, then -> the one frame (two sittings): mixed-fleet 188 -> 170,
161 -> 153, power-limited-site 139 -> 116, 110 -> 104, quickstart 40 -> 36, 35 -> 30. cfg/cpu-s against
806ce04 (--repeat 5): all 15,181 -> 15,834, mixed-fleet 17,683 -> 18,009, power-limited-site 16,194 -> 17,271.
A (row, batch) pair judged once per search (the scan re-ran the bisection's pairs), the tail judged in one run
up to 4,096 pairs (mixed-fleet 10 -> 7 model runs, 22,407 -> 22,817 pairs), the TTFT messages' whole numbers
printed as integers, the result's columns completed before one frame (strings converted once, not three
times). Left: the model runs (~65% of the phase: the decode step ~45%, the unit search
serving._smallest_best_unit ~10%, ~3.5 ms fixed a run) and the first run at batch 1 on every row (~30%).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.catalog import load_catalog  # noqa: E402
from planner.inputs import display_path  # noqa: E402
from planner.optimize import forked, guards  # noqa: E402
from planner.optimize.candidates import build_candidates  # noqa: E402
from planner.optimize.pipeline import load_instance  # noqa: E402
from planner.optimize.problem import load_problem  # noqa: E402
from planner.optimize.resolve_problem import build_instance  # noqa: E402


def candidate_stage(problem, catalog, where: str):
    """What `planner solve` times as `candidates_s` (pipeline.solve_outcome): instance, guards, candidates."""
    inst = build_instance(problem, catalog, where)
    guards.check_problem_size(inst, catalog, where)
    cs = build_candidates(inst, catalog)
    guards.check_fleet_size(inst, cs.table, where)
    return cs


def cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (the evaluation's forked child)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def timed(problem, catalog, where: str) -> tuple[float, float, float, object]:
    """(CPU s of both processes, wall s, CPU s on the longer path, candidates). The longer path: this process's
    CPU seconds with, per fork, the child's CPU seconds in place of this process's share where longer (the
    wall a build takes where each process has a core of its own, as on an idle machine)."""
    forked.CPU_SHARES.clear()
    t0, c0, p0 = time.perf_counter(), cpu_s(), time.process_time()
    cs = candidate_stage(problem, catalog, where)
    path = time.process_time() - p0 + sum(max(0.0, there - here) for here, there in forked.CPU_SHARES)
    return cpu_s() - c0, time.perf_counter() - t0, path, cs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--processes", choices=("1", "2", "auto"), default="auto",
                    help="the evaluation on one process, two (forked whenever it can split), or as planner solve "
                    "decides (default)")
    ap.add_argument("--phases", action="store_true", help="print where one build's CPU time goes")
    ap.add_argument("--fixed", action="store_true",
                    help="split each build's CPU time into a fixed part and a part per configuration")
    args = ap.parse_args()
    if args.processes != "auto":
        os.environ[forked.ENV] = args.processes
    cat = load_catalog()
    paths = [Path(p) if Path(p).is_file() else ROOT / "problems" / f"{p}.yaml" for p in args.problems] \
        or sorted((ROOT / "problems").glob("*.yaml"))
    problems = [(p, load_problem(p), display_path(p)) for p in paths]
    timed(problems[0][1], cat, problems[0][2])  # imports done once, before anything is timed
    print("timed: planner solve's candidate stage (build_instance, guards, build_candidates without a cache: "
          "grid, performance evaluation with the latency-target search, expansion, pruning); not timed: imports, "
          "reading the catalog and the problem, the MIP")
    print(f"load average (1, 5, 15 min): {_load()}")
    print(f"{'problem':32s} {'configs':>8s} {'cold_cpu_s':>10s} {'cpu_s':>7s} {'wall_s':>7s} {'path_s':>7s} "
          f"{'forks':>5s} {'cfg/cpu-s':>10s} {'cfg/wall-s':>10s} {'cfg/path-s':>10s}")
    total = dict(cfg=0, cold=0.0, cpu=0.0, wall=0.0, path=0.0)
    for p, problem, where in problems:
        cold, _, _, _ = timed(problem, load_catalog(), where)  # a fresh catalog: its tables built in the timing
        cpu = wall = path = float("inf")
        forks = 0
        for _ in range(args.repeat):
            c, w, cp, cs = timed(problem, cat, where)
            cpu, wall, path = min(cpu, c), min(wall, w), min(path, cp)
            forks += len(forked.CPU_SHARES)
        n = cs.stats.get("grid", 0)
        for k, v in (("cfg", n), ("cold", cold), ("cpu", cpu), ("wall", wall), ("path", path)):
            total[k] += v
        print(f"{p.stem:32s} {n:8d} {cold:10.3f} {cpu:7.3f} {wall:7.3f} {path:7.3f} {forks / args.repeat:5.1f} "
              f"{n / cpu:10,.0f} {n / wall:10,.0f} {n / path:10,.0f}", flush=True)
    print(f"{'all':32s} {total['cfg']:8d} {total['cold']:10.3f} {total['cpu']:7.3f} {total['wall']:7.3f} "
          f"{total['path']:7.3f} {'':5s} {total['cfg'] / total['cpu']:10,.0f} "
          f"{total['cfg'] / total['wall']:10,.0f} {total['cfg'] / total['path']:10,.0f}")
    print(f"{'all, cold (one-shot solves)':32s} {'':8s} {'':10s} {'':7s} {'':7s} {'':7s} {'':5s} "
          f"{total['cfg'] / total['cold']:10,.0f}")
    print(f"load average (1, 5, 15 min): {_load()}")
    os.environ[forked.ENV] = "1"  # phases and fixed cost: one process's CPU time
    if args.phases:
        for p in paths:
            phases(load_instance(p, cat), cat, p.stem, args.repeat)
    if args.fixed:
        print("\nfixed and per-configuration CPU cost: builds on seeded random subsets of each grid (1/8, 1/4, "
              "1/2, all of its rows), a least-squares line through (configurations, fastest CPU s)")
        print(f"{'problem':32s} {'subsets (cfg: ms)':44s} {'fixed_ms':>8s} {'us/cfg':>7s} {'cfg/cpu-s':>10s} "
              f"{'marginal':>9s}")
        for p in paths:
            fixed_cost(load_instance(p, cat), cat, p.stem, args.repeat)


PHASES = (  # (module, function, label, depth): timed where the candidate search calls them
    ("planner.optimize.candidates", "build_grid", "grid", 1),
    ("planner.optimize.candidates", "evaluate_grid", "performance calls", 1),
    ("planner.optimize.evaluation", "largest_batch_visible", "batch search, reasoning rows (custom perf)", 2),
    ("planner.optimize.evaluation", "capacity_in_parts", "load-aware capacity", 2),
    ("planner.perf.capacity", "_resolved_once", "resolve", 3),
    ("planner.perf.capacity", "build_step_tables", "step tables", 3),
    ("planner.perf.capacity", "max_rate_meeting", "rate search (aggregated)", 3),
    ("planner.perf.capacity", "evaluate_columns", "evaluation at capacity (aggregated)", 3),
    ("planner.perf.capacity", "disaggregated_units", "disaggregated batch search (reasoning rows incl.)", 3),
    ("planner.perf.capacity", "disaggregated_under_slo", "disaggregated rate (utilization bisection)", 3),
    ("planner.optimize.candidates", "expand_candidates", "expansion", 1),
    ("planner.optimize.candidates", "undominated", "dominance pruning", 2),
)


def phases(inst, cat, name: str, repeat: int) -> None:
    """CPU seconds per phase of one build (module functions wrapped with a timer, then restored)."""
    import importlib

    spent: dict[str, float] = {}
    saved = []
    for mod_name, fn_name, label, _ in PHASES:
        mod = importlib.import_module(mod_name)
        fn = getattr(mod, fn_name)
        saved.append((mod, fn_name, fn))

        def timed(*a, _fn=fn, _label=label, **k):
            t0 = time.process_time()
            try:
                return _fn(*a, **k)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.process_time() - t0

        setattr(mod, fn_name, timed)
    try:
        build_candidates(inst, cat)
        spent.clear()
        c0 = time.process_time()
        for _ in range(repeat):
            build_candidates(inst, cat)
        total = (time.process_time() - c0) / repeat
    finally:
        for mod, fn_name, fn in saved:
            setattr(mod, fn_name, fn)
    print(f"{name}: {total * 1e3:.1f} ms CPU per build")
    top = sum(spent.get(label, 0.0) for _, _, label, depth in PHASES if depth == 1) / repeat
    rows = [(label, depth, spent[label] / repeat) for _, _, label, depth in PHASES if label in spent]
    rows.insert(len(rows) - 2, ("other (completing, filtering, variant pruning)", 1, total - top))
    for label, depth, s in rows:
        print(f"  {'  ' * (depth - 1)}{label:{50 - 2 * depth}s} {s * 1e3:7.1f} ms {100 * s / total:4.0f}%")


SUBSETS = (0.125, 0.25, 0.5, 1.0)


def fixed_cost(inst, cat, name: str, repeat: int) -> None:
    """The build's CPU seconds on subsets of its grid (`build_grid` wrapped to keep a seeded random share of the
    rows, in grid order; the rejections unchanged), fitted as fixed + configurations x per-configuration.
    cfg/cpu-s: the whole grid's rate (the target's metric); marginal: configurations per CPU-second of the
    per-configuration part alone (what the rate tends to on ever larger grids of the same kind). The subsets
    still pay for building the whole grid (a few ms), which lands in the fixed part."""
    import numpy as np

    import planner.optimize.candidates as cand_mod

    full = cand_mod.build_grid
    points = []
    try:
        for share in SUBSETS:
            def subset(inst_, catalog, _share=share):
                grid, rejected = full(inst_, catalog)
                n = len(grid)
                if _share >= 1.0 or n == 0:
                    return grid, rejected
                keep = np.sort(np.random.default_rng(0).choice(n, max(1, round(n * _share)), replace=False))
                return grid.iloc[keep].reset_index(drop=True), rejected

            cand_mod.build_grid = subset
            cs = build_candidates(inst, cat)  # warm
            cpu = float("inf")
            for _ in range(repeat):
                c0 = time.process_time()
                cs = build_candidates(inst, cat)
                cpu = min(cpu, time.process_time() - c0)
            points.append((cs.stats.get("grid", 0), cpu))
    finally:
        cand_mod.build_grid = full
    n, t = (np.array(x, dtype=float) for x in zip(*points, strict=True))
    per_cfg, fixed = np.polyfit(n, t, 1)
    shown = " ".join(f"{int(a)}:{b * 1e3:.0f}" for a, b in points)
    marginal = f"{1.0 / per_cfg:9,.0f}" if per_cfg > 0 else f"{'n/a':>9s}"
    print(f"{name:32s} {shown:44s} {fixed * 1e3:8.1f} {per_cfg * 1e6:7.1f} {n[-1] / t[-1]:10,.0f} {marginal}",
          flush=True)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    main()
