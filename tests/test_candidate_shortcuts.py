"""Speed shortcuts of the candidate search never change a result: each is compared with the computation it
skips, on random inputs and on the example problems' grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perf_toy import assert_same_tables

from planner.catalog import load_catalog
from planner.optimize.grid import GRID_COLUMNS, _add_block, _concat_strings, _grid_frame, _strings, build_grid
from planner.optimize.pipeline import load_instance
from planner.perf.params import load_efficiency
from planner.perf.resolve import normalize_grid, resolve
from planner.perf.step import decode_step, mixed_step_floor_s

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _naive_grid(cols: dict[str, list]) -> pd.DataFrame:
    """`_grid_frame` as pandas infers it from per-row object arrays (the construction the shortcut replaces)."""
    sizes = np.asarray(cols["_size"], dtype=np.int64)
    out = {}
    for c in GRID_COLUMNS:
        pieces = cols[c]
        if isinstance(pieces[0], np.ndarray):
            out[c] = np.concatenate(pieces)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in pieces):
            out[c] = np.repeat(np.asarray(pieces), sizes)
        elif all(v is None or isinstance(v, str) for v in pieces):
            out[c] = np.repeat(np.asarray(pieces, dtype=object), sizes)
        else:
            out[c] = np.repeat(np.asarray(pieces, dtype=object), sizes).tolist()
    return pd.DataFrame(out)


TEXT = st.none() | st.sampled_from(["", "none", "low", "high", "chat", "a/b"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXT, st.integers(1, 5)), min_size=1, max_size=12))
def test_strings_equal_pandas_inference(pieces):
    import planner.optimize.grid as cands

    saved, cands.STRINGS_DIRECT_ROWS = cands.STRINGS_DIRECT_ROWS, 0  # through distinct values however few rows
    values = np.array([v for v, _ in pieces], dtype=object)
    sizes = np.array([k for _, k in pieces], dtype=np.int64)
    ref = pd.DataFrame({"c": np.repeat(values, sizes)})["c"]
    try:
        pd.testing.assert_series_equal(pd.DataFrame({"c": _strings(values, sizes)})["c"], ref)
    finally:
        cands.STRINGS_DIRECT_ROWS = saved


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(TEXT, min_size=1, max_size=4), min_size=1, max_size=4),
       st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_concat_strings_equal_pandas_inference(arrays, order):
    import planner.optimize.grid as cands

    shared = [np.array(a, dtype=object) for a in arrays]  # the same arrays repeated, as _add_block's memo gives
    pieces = [shared[k % len(shared)] for k in order]
    saved, cands.STRINGS_DIRECT_ROWS = cands.STRINGS_DIRECT_ROWS, 0  # through distinct values however few rows
    try:
        got = pd.DataFrame({"c": _concat_strings(pieces)})["c"]
    finally:
        cands.STRINGS_DIRECT_ROWS = saved
    pd.testing.assert_series_equal(got, pd.DataFrame({"c": np.concatenate(pieces)})["c"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["w1", "w2"]), st.none() | st.sampled_from(["low", "high"]),
                          st.integers(1, 3), st.integers(1, 2)), min_size=1, max_size=6))
def test_grid_frame_equals_per_row_construction(blocks):
    cols: dict[str, list] = {}
    for wid, effort, n_var, n_par in blocks:
        const = dict(workload=wid, model="m", accelerator="a", precision="fp8", isl=100, osl=50, quality=80.5,
                     checkpoint="ckpt", effort=effort, output_multiplier=1.5, hidden_tokens=25)
        variants = [("fp8", "", "none"), ("bf16", "vllm", "auto"), ("fp8", "sglang", "mtp")][:n_var]
        pars = [(1, 1, 1, 1), (2, 1, 1, 2)][:n_par]
        _add_block(cols, const, variants, pars, ("aggregated", "disaggregated"))
    pd.testing.assert_frame_equal(_grid_frame(cols), _naive_grid(cols))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["b", "a", "chat"]), st.sampled_from([0, 512, 7, 1792])), min_size=0,
                max_size=40))
def test_evaluation_groups_equal_groupby(rows):
    from planner.optimize.evaluation import _groups

    grid = pd.DataFrame({"workload": [w for w, _ in rows], "hidden_tokens": [h for _, h in rows]})  # [] too
    ref = grid.groupby(["workload", "hidden_tokens"], sort=True).indices
    got = _groups(grid)
    assert list(got) == list(ref)
    assert all(type(a) is type(b) for k, r in zip(got, ref, strict=True) for a, b in zip(k, r, strict=True))
    assert all(np.array_equal(got[k], ref[k]) and got[k].dtype == ref[k].dtype for k in ref)


@pytest.mark.parametrize("problem", ["mixed-fleet", "reasoning-deepseek-r1", "simplicity-and-failure-domains"])
def test_example_grids_equal_per_row_construction(problem, catalog, monkeypatch):
    import planner.optimize.grid as cands

    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    fast, _ = build_grid(inst, catalog)
    monkeypatch.setattr(cands, "_grid_frame", _naive_grid)
    slow, _ = build_grid(inst, catalog)
    pd.testing.assert_frame_equal(fast, slow)


def _floor_in_full(c, serving) -> np.ndarray:
    """mixed_step_floor_s without its generic-engine shortcut (an eager step launches the unfused op count)."""
    eager = serving | {"kernels_per_layer": serving["eager_kernels_per_layer"]}
    kernels = decode_step(c, eager, np.ones_like(c.isl), np.ones_like(c.isl))["kernels"]
    named = np.isfinite(c.get("eng_graph_max", np.full_like(c.isl, np.inf)))
    return np.where(named, kernels * c.kernel_launch_s, 0.0)


@pytest.mark.parametrize("engines", [None, ["", "vllm"], ["trtllm", "sglang"]])
def test_mixed_step_floor_shortcut(engines, catalog):
    grid = pd.DataFrame(dict(model="llama-3.3-70b", accelerator="h100-sxm", precision="fp8", kv_precision="fp8",
                             tp=[1, 2, 4, 8], batch=[1, 8, 64, 256], isl=1000, osl=200, serving="aggregated"))
    if engines is not None:
        grid["engine"] = np.resize(np.array(engines, dtype=object), len(grid))
    eff = load_efficiency(catalog)
    c, _ = resolve(normalize_grid(grid), catalog, eff)
    got, want = mixed_step_floor_s(c, eff.serving), _floor_in_full(c, eff.serving)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if engines is None:
        assert not got.any()
    elif "trtllm" in engines:
        assert (got > 0).all()


def _unit_by_every_candidate(rate_p, rate_d, gp, g, top):
    """The disaggregated unit choice as a (candidate, row) matrix (the code `_smallest_best_unit` replaced)."""
    from planner.perf.serving import DISAGG_TOLERANCE

    nd_c, np_c = (x.reshape(-1, 1) for x in np.meshgrid(np.arange(1.0, top + 1), np.arange(1.0, top + 1),
                                                        indexing="ij"))
    per_gpu = np.minimum(np_c * rate_p, nd_c * rate_d) / (np_c * gp + nd_c * g)
    best = np.max(per_gpu, axis=0)
    size = np.where(per_gpu >= best * (1.0 - DISAGG_TOLERANCE), np_c + nd_c, np.inf)
    first = np.argmax(size == size.min(axis=0), axis=0)
    found = np.isfinite(size.min(axis=0))
    return np.where(found, np_c[first, 0], float(top)), np.where(found, nd_c[first, 0], float(top))


RATE = st.sampled_from([0.0, 0.5, 1.0, 1.03, 2.0, 3.0, 7.0, 1e-3, np.inf, np.nan]) | st.floats(0.01, 100.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(RATE, RATE, st.sampled_from([1.0, 2.0, 4.0, 8.0]), st.sampled_from([1.0, 2.0, 8.0])),
                min_size=1, max_size=20), st.sampled_from([1, 2, 8]))
def test_disaggregated_unit_choice_equals_every_candidate(rows, top):
    from planner.perf.serving import _smallest_best_unit

    rp, rd, gp, g = (np.array(x, dtype=float) for x in zip(*rows, strict=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        want = _unit_by_every_candidate(rp, rd, gp, g, top)
        got = _smallest_best_unit(rp, rd, gp, g, top)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 1023, 1024, 2500])
def test_disaggregated_unit_choice_across_chunks(n):
    from planner.perf.serving import _smallest_best_unit

    rng = np.random.default_rng(n)
    specials = np.array([0.0, np.inf, np.nan, 1.0, 2.0])
    rp, rd = (np.where(rng.random(n) < 0.05, rng.choice(specials, n), rng.random(n) * 20) for _ in range(2))
    gp, g = rng.choice([1.0, 2.0, 4.0, 8.0], n), rng.choice([1.0, 2.0, 8.0], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = _unit_by_every_candidate(rp, rd, gp, g, 8)
        got = _smallest_best_unit(rp, rd, gp, g, 8)
        scalar = _smallest_best_unit(3.0, 5.0, 2.0, 1.0, 8), _unit_by_every_candidate(3.0, 5.0, 2.0, 1.0, 8)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(*scalar, strict=True):
        np.testing.assert_array_equal(a, b)


def _table_grid(catalog, problem: str, rows: int, seed: int) -> pd.DataFrame:
    """Aggregated configurations of an example's grid (MoE and dense models), a third of them with a named
    engine and speculative decoding (`auto`: drafts where the model has one)."""
    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    grid, _ = build_grid(inst, catalog)
    grid = grid[grid["serving"] == "aggregated"]
    pick = np.sort(np.random.default_rng(seed).choice(len(grid), size=min(rows, len(grid)), replace=False))
    g = grid.iloc[pick][["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp",
                         "serving", "isl", "osl"]].reset_index(drop=True)
    named = np.arange(len(g)) % 3 == 0
    g["engine"] = np.where(named, np.resize(np.array(["vllm", "sglang", "trtllm"], dtype=object), len(g)), "")
    g["speculative"] = np.where(named, "auto", "none")
    return g


@pytest.mark.parametrize(("problem", "points", "queueing_only"),
                         [("reasoning-deepseek-r1", (12, 5), False), ("mixed-fleet", (20, 9), False),
                          ("enterprise-budget", (12, 5), False), ("reasoning-deepseek-r1", (12, 5), True)])
def test_step_tables_in_row_chunks_equal_one_pass(problem, points, queueing_only, catalog, monkeypatch):
    import planner.perf.steptable as st_mod

    grid = _table_grid(catalog, problem, 300, seed=len(problem))
    kw = dict(decode_points=points[0], prefill_points=points[1], queueing_only=queueing_only)
    monkeypatch.setattr(st_mod, "STEP_CHUNK_ROWS", 10**9)
    one = st_mod.build_step_tables(grid, catalog, **kw)
    for rows in (1, 7, 128):
        monkeypatch.setattr(st_mod, "STEP_CHUNK_ROWS", rows)
        assert_same_tables(st_mod.build_step_tables(grid, catalog, **kw), one)


def _search_grid(catalog, problem: str, rows: int, seed: int, variants: dict) -> pd.DataFrame:
    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    grid, _ = build_grid(inst, catalog)
    pick = np.sort(np.random.default_rng(seed).choice(len(grid), size=min(rows, len(grid)), replace=False))
    cols = ["model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving", "isl",
            "osl"]
    return grid.iloc[pick][cols].reset_index(drop=True).assign(**variants)


@pytest.mark.parametrize("variants", [{}, {"engine": "vllm"}, {"engine": "sglang", "speculative": "auto"}])
@pytest.mark.parametrize("problem", ["mixed-fleet", "reasoning-deepseek-r1"])
def test_searches_with_every_pair_in_one_call_equal_the_rounds(problem, variants, catalog, monkeypatch):
    """A small search runs the model on every (configuration, batch) pair in one call: same frame, to the bit,
    as the rounds (both searches; aggregated and disaggregated rows; targets met, missed and absent)."""
    import planner.perf.search as search
    from planner.perf.search_visible import largest_batch_visible

    cfg = _search_grid(catalog, problem, 120, seed=7, variants=variants)
    cases = [lambda: largest_batch_visible(cfg, catalog, 2.0, 0.05, 0),
             lambda: largest_batch_visible(cfg, catalog, 30.0, 0.03, np.resize([512, 0, 64], len(cfg))),
             lambda: search.largest_batch_meeting(cfg, catalog, ttft_s=0.5, tpot_s=0.04),
             lambda: search.largest_batch_meeting(cfg, catalog, ttft_s=np.resize([2.0, np.inf], len(cfg)),
                                                  tpot_s=None)]
    for case in cases:
        monkeypatch.setattr(search, "PREFETCH_PAIRS", 0)
        rounds = case()
        monkeypatch.setattr(search, "PREFETCH_PAIRS", 10**9)
        pd.testing.assert_frame_equal(case(), rounds, check_exact=True)
        assert rounds["fits"].any() and not rounds["fits"].all()


@pytest.mark.parametrize("variants", [{}, {"engine": "vllm"}, {"engine": "sglang", "speculative": "auto"}])
@pytest.mark.parametrize("problem", ["mixed-fleet", "diurnal-own-rent"])
def test_capacity_with_one_resolve_equals_a_resolve_per_step(problem, variants, catalog, monkeypatch):
    """capacity_under_slo resolves the catalog look-ups once for the step tables, the evaluation and the
    disaggregated search: the frame equals, to the bit, the one where each resolves its own rows."""
    import planner.perf.capacity as capacity

    cfg = _search_grid(catalog, problem, 160, seed=5, variants=variants)
    targets = dict(ttft_s=np.resize([2.0, 0.4, np.inf], len(cfg)), tpot_s=np.resize([0.05, 0.02], len(cfg)))
    shared = capacity.capacity_under_slo(cfg, catalog, percentile=90.0, **targets)
    monkeypatch.setattr(capacity, "_resolved_once", lambda *a: None)
    each = capacity.capacity_under_slo(cfg, catalog, percentile=90.0, **targets)
    pd.testing.assert_frame_equal(shared, each, check_exact=True)
    assert each["fits"].any() and not each["fits"].all()
    assert (cfg["serving"] == "disaggregated").any() and (cfg["serving"] == "aggregated").any()


def test_capacity_resolves_per_step_where_layout_columns_are_not_integer(catalog):
    from planner.perf.capacity import _resolved_once

    cfg = _search_grid(catalog, "diurnal-own-rent", 20, seed=1, variants={})
    assert _resolved_once(cfg, catalog, load_efficiency(catalog)) is not None
    assert _resolved_once(cfg.assign(tp=cfg["tp"].astype(float)), catalog, load_efficiency(catalog)) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a/b", "a", "ab", "a/b/rent", "Z", "é", "a-b", "b/kv-fp8"]),
                          st.integers(0, 9)), max_size=30))
def test_unique_by_key_equals_drop_duplicates_then_sort(rows):
    from planner.optimize.candidates import _unique_by_key

    t = pd.DataFrame({"key": pd.array([k for k, _ in rows], dtype="str"), "v": [v for _, v in rows]})
    want = t.drop_duplicates("key").sort_values("key", kind="stable").reset_index(drop=True)
    got = t.take(_unique_by_key([k for k, _ in rows])).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def _expand_by_frames(ev, inst) -> tuple[pd.DataFrame, pd.DataFrame]:
    """expand_candidates' table and rejections as whole-frame steps (the form the positions version replaced):
    take every (row, system, mode), assign, key per row, drop duplicate keys, sort, prune."""
    from planner.optimize.candidates import _has_rack, _rejections
    from planner.optimize.keys import table_keys
    from planner.optimize.prune import prune_dominated
    from planner.optimize.variants import prefill_group

    res, rejected = ev.results, list(ev.rejected)
    acc, group_all, parts = res["accelerator"].to_numpy(), prefill_group(res), []
    for sd in sorted(inst.systems.values(), key=lambda s: s.id):
        at = np.flatnonzero(acc == sd.accelerator)
        too_big = group_all[at] > sd.domain
        if too_big.any():
            rejected += _rejections(res.take(at[too_big]), sd.id, [
                f"TP/EP group of {g} GPUs exceeds the {sd.domain}-GPU scale-up domain of {sd.id}"
                for g in group_all[at[too_big]].tolist()])
        modes = (["own"] if (sd.buy or sd.existing) and _has_rack(inst, sd) else []) + (
            ["rent"] if sd.rent else [])
        parts += [(at[~too_big], sd.id, mode) for mode in modes]
    idx = np.concatenate([p[0] for p in parts])
    sizes = [len(p[0]) for p in parts]
    table = res.take(idx).reset_index(drop=True)
    table["system"] = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
    table["group_gpus"] = group_all[idx]
    table["mode"] = np.repeat(np.array([p[2] for p in parts], dtype=object), sizes)
    table["gpus"] = table["gpus"].astype(int)
    multi_kv = {w.id for w in inst.workloads.values() if w.kv_precisions and len(w.kv_precisions) > 1}
    table["key"] = table_keys(table, multi_kv)
    table = table.drop_duplicates("key").sort_values("key", kind="stable").reset_index(drop=True)
    table = prune_dominated(table, {sd.id: sd.idle_w for sd in inst.systems.values()})
    return table[[c for c in table.columns if c not in ("fits", "reason")]], pd.DataFrame(rejected)


@pytest.mark.parametrize("problem", ["mixed-fleet", "brownfield-h100", "reasoning-deepseek-r1",
                                     "simplicity-and-failure-domains", "ai-factory-10mw"])
def test_expansion_by_positions_equals_whole_frame_steps(problem, catalog):
    from planner.optimize.candidates import evaluate_configurations, expand_candidates

    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    ev = evaluate_configurations(inst, catalog)
    cs = expand_candidates(ev, inst, catalog)
    table, rejected = _expand_by_frames(ev, inst)
    pd.testing.assert_frame_equal(cs.table, table, check_exact=True)
    pd.testing.assert_frame_equal(cs.rejected, rejected, check_exact=True)


def _complete_by_assignment(res: pd.DataFrame, grid: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
    """evaluation._complete as column assignments (the form the one-construction version replaced)."""
    from planner.optimize.variants import PREFILL_LAYOUT

    if "engine" not in res:
        res["engine"] = ""
    for col in ("speculative", *PREFILL_LAYOUT):
        res[col] = grid[col].array.take(idx)
    res["grid_row"] = grid.index.to_numpy()[idx]
    if "speculative_method" not in res:
        res["speculative_method"] = res["speculative"]
    for col in ("workload", "quality", "checkpoint", "effort", "output_multiplier"):
        res[col] = grid[col].array.take(idx)
    res["output_tok_s"] = res["output_tok_s"].astype(float) / res["output_multiplier"].astype(float)
    return res


@pytest.mark.parametrize("problem", ["mixed-fleet", "reasoning-deepseek-r1", "diurnal-own-rent"])
def test_complete_equals_column_assignments(problem, catalog):
    from planner.optimize.evaluation import _complete, _merged_results
    from planner.optimize.variants import shared_prefill

    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    grid, _ = build_grid(inst, catalog)
    grid = shared_prefill(grid)
    groups = grid.groupby(["workload", "hidden_tokens"], sort=True).indices
    calls = _merged_results(grid, groups, inst, catalog, None)
    for keys, res, pos in calls:
        idx = np.empty_like(pos)  # the grid row of each of the call's rows, in the call's order
        idx[pos] = np.concatenate([groups[k] for k in keys])
        want = _complete_by_assignment(res.reset_index(drop=True), grid, idx)
        pd.testing.assert_frame_equal(_complete(res.reset_index(drop=True), grid, idx), want, check_exact=True)
    # a custom performance function's frame: no engine, no speculative_method
    res = calls[0][1].drop(columns=["engine", "speculative_method"], errors="ignore").reset_index(drop=True)
    idx = np.empty_like(calls[0][2])
    idx[calls[0][2]] = np.concatenate([groups[k] for k in calls[0][0]])
    pd.testing.assert_frame_equal(_complete(res.copy(), grid, idx), _complete_by_assignment(res.copy(), grid, idx),
                                  check_exact=True)
    res = calls[0][1].assign(engine="vllm", speculative_method="mtp").reset_index(drop=True)
    pd.testing.assert_frame_equal(_complete(res.copy(), grid, idx), _complete_by_assignment(res.copy(), grid, idx),
                                  check_exact=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["w1", "w2", None]), st.sampled_from(["s1", "s2"]),
                          st.sampled_from(["own", "rent"])), max_size=40))
def test_groups_equal_groupby_indices(rows):
    from planner.optimize.prune import _groups

    t = pd.DataFrame({name: pd.array([r[i] for r in rows], dtype="str")
                      for i, name in enumerate(("workload", "system", "mode"))})
    want = list(t.groupby(["workload", "system", "mode"], sort=False).indices.values())
    got = _groups([t[c] for c in ("workload", "system", "mode")])
    assert [list(g) for g in got] == [list(w) for w in want]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(0, 9))
def test_with_columns_equals_assignments(n, seed):
    from planner.perf.capacity import with_columns

    rng = np.random.default_rng(seed)
    res = pd.DataFrame({"a": rng.random(n), "s": pd.array(rng.choice(["x", "y"], n), dtype="str"),
                        "b": rng.random(n) > 0.5, "i": rng.integers(0, 5, n)})
    new = {"a": rng.random(n), "fresh": np.full(n, np.nan),
           "s": np.array(["memory", "tpot"] * n, dtype=object)[:n], "b": rng.random(n) > 0.5, "scalar": 90.0,
           "i": res["i"] * 2, "words": np.where(rng.random(n) > 0.5, "ttft", "tpot")}
    want = res.copy()
    for k, v in new.items():
        want[k] = v
    pd.testing.assert_frame_equal(with_columns(res, new), want)


@pytest.mark.parametrize("targets", ["fixed", "near"])
@pytest.mark.parametrize("problem", ["mixed-fleet", "enterprise-budget"])
def test_rate_search_of_the_open_rows_only_equals_every_row(problem, targets, catalog, monkeypatch):
    """max_rate_meeting probes only the rows whose answer depends on it, and fewer points of them than a
    bisection (rate_search._search): the rates equal the bisection of every row, to the bit (targets met at
    every rate, at none, and in between; `near`: each row's targets 0.7-30x its latencies at a trickle, TTFT's
    or TPOT's alone on some rows, so that most rows' limit lies anywhere between a trickle and capacity)."""
    import planner.perf.queueing as queueing
    from planner.perf import rate_search
    from planner.perf.steptable import build_step_tables

    grid = _table_grid(catalog, problem, 400, seed=3)
    tab = build_step_tables(grid, catalog, decode_points=12, prefill_points=5)
    ttft, tpot = np.resize([2.0, 0.3, 30.0], len(grid)), np.resize([0.05, 0.02, 1.0], len(grid))
    if targets == "near":
        sv = queueing.service(tab)
        light = queueing.open_loop(queueing.chain(sv), sv, tab, sv.capacity_rps * rate_search.TRICKLE,
                                   targets_only=True, quantiles=(90.0,))
        rng = np.random.default_rng(5)
        factor = np.exp(rng.uniform(np.log(0.7), np.log(30.0), (2, len(grid))))
        ttft = light["ttft_p90_s"] * factor[0] * np.resize([np.inf, 1.0, 1.0], len(grid))
        tpot = light["tpot_p90_s"] * factor[1] * np.resize([1.0, np.inf, 1.0], len(grid))
    got = rate_search.max_rate_meeting(tab, ttft, tpot, 90.0, block=150)

    def every_row(tab, ttft_s, tpot_s, percentile, variable=None, iterations=10, block=2048):
        # the search before: every row of the block through every halving
        R = len(tab)
        var = np.zeros(R, dtype=bool)
        key_ttft, key_tpot = f"ttft_p{percentile:g}_s", f"tpot_p{percentile:g}_s"
        out = np.zeros(R)
        for b0 in range(0, R, block):
            rows = np.arange(b0, min(R, b0 + block))
            s_tab = queueing.dataclass_rows(tab, rows)
            s_sv = queueing.service(s_tab)
            s_ch = queueing.chain(s_sv)
            cap = s_ch.rate_cap * (1.0 - 1e-9)

            def ok(x, s_sv=s_sv, s_tab=s_tab, s_ch=s_ch, rows=rows, cap=cap):
                r = queueing.open_loop(s_ch, s_sv, s_tab, cap * np.exp(x), var[rows], (percentile,),
                                       targets_only=True)
                return (r[key_ttft] <= ttft_s[rows]) & (r[key_tpot] <= tpot_s[rows])

            lo, hi = np.full(len(rows), np.log(rate_search.TRICKLE)), np.zeros(len(rows))
            first_ok, all_ok = ok(lo), ok(hi)
            for _ in range(iterations):
                mid = (lo + hi) / 2.0
                good = ok(mid)
                lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
            rate = np.where(all_ok, cap, cap * np.exp(lo))
            out[rows] = np.where(first_ok & np.isfinite(cap), rate, 0.0)
        return out

    want = every_row(tab, ttft, tpot, 90.0, block=150)
    np.testing.assert_array_equal(got, want)
    assert (want == 0).any() and (want > 0).any()


@pytest.mark.parametrize("problem", ["mixed-fleet", "offline-tokens-per-dollar"])
def test_grid_blocks_from_shared_arrays_equal_blocks_made_each(problem, catalog, monkeypatch):
    import planner.optimize.grid as cands

    inst = load_instance(ROOT / "problems" / f"{problem}.yaml", catalog)
    shared, _ = build_grid(inst, catalog)
    add = cands._add_block
    monkeypatch.setattr(cands, "_add_block", lambda *a, **k: add(*a[:5]))  # no memo: every block made anew
    each, _ = build_grid(inst, catalog)
    pd.testing.assert_frame_equal(shared, each)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-40.0, 40.0) | st.sampled_from([0.0, -0.0, 30.0, -30.0, 1e-300]), max_size=40))
def test_cdf_over_pdf_equals_the_scalar_formula(xs):
    import math

    from planner.perf.disagg_capacity import _cdf_over_pdf

    s2, s2pi = math.sqrt(2.0), math.sqrt(2 * math.pi)
    want = [0.5 * (1.0 + math.erf(b / s2)) / max(math.exp(-b * b / 2.0) / s2pi, 1e-300) for b in xs]
    got = _cdf_over_pdf(np.array(xs, dtype=float))
    assert got.dtype == float and got.tolist() == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["aggregated", "disaggregated", "nan", "", "é", "a"]), max_size=30))
def test_sorted_codes_equal_np_unique(values):
    from planner.perf.search import sorted_codes

    arr = np.array(values, dtype=object)
    want_u, want_i = np.unique(arr, return_inverse=True) if len(arr) else (arr, np.zeros(0, dtype=np.int64))
    got_u, got_i = sorted_codes(arr)
    assert list(got_u) == list(want_u) and got_i.tolist() == want_i.reshape(-1).tolist()


def test_rejections_read_lazily_still_explain_an_unserved_workload(catalog):
    """The pipeline passes the rejections only where a workload has no candidate: the quality-floor hint,
    which reads them, still names the best model."""
    from planner.errors import InfeasibleError
    from planner.optimize.candidates import build_candidates
    from planner.optimize.pipeline import solve_problem
    from planner.optimize.problem import load_problem, parse_problem

    data = load_problem(ROOT / "problems" / "quickstart.yaml").model_dump(mode="json", exclude_none=True)
    data["workloads"][0]["quality_floor"] = {"benchmark": "gpqa_diamond", "min_score": 99.0}
    with pytest.raises(InfeasibleError, match="no allowed model meets the quality floor 99"):
        solve_problem(parse_problem(data, "<t>"), catalog, runner_up=False)
    inst = load_instance(ROOT / "problems" / "quickstart.yaml", catalog)
    cs = build_candidates(inst, catalog)
    assert cs.unserved(inst.workloads) == [] and not isinstance(cs._rejected, pd.DataFrame)
    assert cs.rejected is cs.rejected and len(cs.rejected) == len(cs._rejected)


def test_records_made_when_read_equal_the_records_made_at_once():
    from planner.optimize.candidates import Later, Records

    made = []

    def records(n):
        made.append(n)
        return [{"workload": f"w{i}", "reason": f"r{n}"} for i in range(n)]

    def later(n):
        return Later(n, records, n)

    recs = Records([[{"workload": "g", "reason": "quality"}], later(2)]).plus([later(0), later(3)])
    assert len(recs) == 6 and made == []  # counted without making them
    want = [{"workload": "g", "reason": "quality"}, *later(2).make(), *later(3).make()]
    made.clear()
    assert list(recs) == want and recs[1] == want[1] and len(recs) == 6 and made == [2, 0, 3]
    assert Records([]).plus([]) is not None and len(Records([])) == 0


def test_resolve_messages_from_text_columns_equal_those_from_arrays(catalog):
    """resolve names models, accelerators and serving modes from text columns made arrays only where a row
    fails: the messages of bad rows are those the per-row arrays gave."""
    rows = pd.DataFrame({"model": ["llama-3.3-70b", "no-such-model", "llama-3.3-70b", "llama-3.3-70b"],
                         "accelerator": ["h100-sxm", "h100-sxm", "nope-gpu", "h100-sxm"],
                         "precision": ["fp8"] * 4, "kv_precision": ["fp8"] * 4, "tp": [1, 1, 1, 1],
                         "pp": [1, 1, 1, 1], "ep": [1, 1, 1, 8], "attn_dp": [1, 1, 1, 1],
                         "serving": ["aggregated", "aggregated", "aggregated", "sideways"], "batch": [1] * 4,
                         "isl": [1000] * 4, "osl": [100] * 4})
    _, reason = resolve(normalize_grid(rows), catalog, load_efficiency(catalog))
    assert reason[0] == "" and reason[1] == "unknown model 'no-such-model'"
    assert reason[2] == "unknown accelerator 'nope-gpu'"
    assert reason[3] == "unknown serving mode 'sideways' (aggregated, disaggregated)"


def test_candidates_with_records_made_later_pickle(catalog):
    """Sweeps send evaluations and candidate sets to worker processes: the records made later pickle too."""
    import pickle

    from planner.optimize.candidates import build_candidates, evaluate_configurations

    inst = load_instance(ROOT / "problems" / "brownfield-h100.yaml", catalog)
    ev = evaluate_configurations(inst, catalog)
    back = pickle.loads(pickle.dumps(ev))
    assert list(back.rejected) == list(ev.rejected)
    cs = build_candidates(inst, catalog)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(cs)).rejected, cs.rejected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.integers(0, 2),
                          st.sampled_from([1.0, 2.5, float("nan")])), min_size=1, max_size=12))
def test_repeats_equals_duplicated(rows):
    """prune_variants' early exit: two rows equal on every column (missing values equal), as pandas says."""
    from planner.optimize.variants import _repeats

    frame = pd.DataFrame({"s": pd.array([r[0] for r in rows], dtype="str"), "i": [r[1] for r in rows],
                          "f": [r[2] for r in rows]})
    assert _repeats([frame[c] for c in frame.columns]) == frame.duplicated().any()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 4, 8]), st.integers(1, 6), st.integers(0, 6),
                          st.sampled_from([1, 2, 8]), st.sampled_from(["w1", "w2"]),
                          st.sampled_from(["own", "rent", None])), max_size=40))
def test_dominance_in_one_matrix_equals_per_group(rows):
    """Small tables compare every group's pairs in one matrix: the rows kept equal the per-group, per-GPU-count
    passes (ties, multiples and rows without a group included)."""
    import planner.optimize.prune as prune

    cols = [np.array([r[i] for r in rows], dtype=float if i < 4 else object) for i in range(6)]
    args = (cols[0], cols[1] * 100.0, cols[2] * 50.0, cols[3], [cols[4], cols[5]])
    at_once = prune.undominated(*args)
    old, prune.ONE_MATRIX_ROWS = prune.ONE_MATRIX_ROWS, -1
    try:
        per_group = prune.undominated(*args)
    finally:
        prune.ONE_MATRIX_ROWS = old
    np.testing.assert_array_equal(at_once, per_group)
