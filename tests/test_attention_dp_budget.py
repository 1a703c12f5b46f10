"""Attention-DP replicas step as many token budgets as their engine's ranks schedule (issue 8, plan truth).

The step tables' seat cap is attn_dp x the engine's max_batch (each rank admits its own), but the token budget
was one rank's: at DeepSeek-R1 B200 attn_dp 8 on vLLM, 5,164 seats beside an 8,192-token budget left prompts
1-token chunks (387 chunk steps, 52 s of prefill per prompt). vLLM and TensorRT-LLM give every rank a scheduler
with its own budget (engines.yaml `attention_dp_token_budget: per_rank`); SGLang divides chunked_prefill_size
among the ranks (`divided`): the replica's budget stays the configured one."""

from __future__ import annotations

import pandas as pd
import pytest

from planner.catalog import load_catalog
from planner.catalog.schema_engines import Engine
from planner.perf import queueing as Q
from planner.perf.capacity import CANDIDATE_GRID
from planner.perf.steptable import build_step_tables

R1 = dict(model="deepseek-r1", accelerator="b200", precision="fp8", kv_precision="fp8", tp=1, pp=1, ep=8,
          serving="aggregated", isl=1024, osl=4096)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def tables(catalog, engine: str, attn_dp: int):
    cfg = pd.DataFrame([{**R1, "engine": engine, "attn_dp": attn_dp}])
    return build_step_tables(cfg, catalog, decode_points=CANDIDATE_GRID[0], prefill_points=CANDIDATE_GRID[1])


@pytest.mark.parametrize("engine, per_rank", [("vllm", True), ("trtllm", True), ("sglang", False)])
def test_budget_follows_the_engines_rule(catalog, engine, per_rank):
    eng = catalog.engines[engine]
    assert (eng.attention_dp_token_budget == "per_rank") == per_rank
    one, eight = tables(catalog, engine, 1), tables(catalog, engine, 8)
    assert one.token_budget[0] == eng.max_num_batched_tokens
    assert eight.token_budget[0] == eng.max_num_batched_tokens * (8 if per_rank else 1)
    assert eight.max_seqs[0] == 8 * one.max_seqs[0]  # the seats scale with the ranks either way


@pytest.mark.parametrize("engine", ["vllm", "trtllm"])
def test_prompts_are_not_cut_into_one_token_chunks(catalog, engine):
    """At the seat cap a 1,024-token prompt takes one chunk step beside the running batch (it took 387 on
    vLLM), and its prefill a fraction of a second (52 s)."""
    tab = tables(catalog, engine, 8)
    sv = Q.service(tab)
    cap = sv.cap
    assert Q.at_occupancy(sv, sv.chunks, cap)[0] == 1.0
    assert Q.at_occupancy(sv, sv.prefill_s, cap)[0] < 0.5


def test_an_attention_dp_engine_states_its_rule_with_provenance(catalog):
    data = catalog.engines["vllm"].model_dump(exclude_none=True)
    data["provenance"].pop("attention_dp_token_budget")
    with pytest.raises(ValueError, match="attention_dp_token_budget with provenance"):
        Engine.model_validate(data)
    data["attention_dp"] = False  # an engine without attention DP has nothing to state
    Engine.model_validate(data)


def test_every_reader_gives_a_rank_its_own_chunk(catalog):
    """One rule for the per-rank prompt chunk (engines.rank_chunk_tokens): vLLM's and TensorRT-LLM's ranks chunk at
    the whole budget (the generic engine's too: it is fitted on their published maxima), SGLang's at
    chunked_prefill_size // dp_size (0.5.3 server_args); the step tables' budget, the critical rank of a mixed
    step (step.py), the prompt's chunk count (serving.py), a prefill pass's prompts and the activation reserve
    (memory.py) all read it.
    Before, every reader but the step tables gave each SGLang rank a whole 8,192-token chunk."""
    from planner.perf.engines import rank_chunk_tokens, replica_token_budget
    from planner.perf.memory import activation_reserve_bytes
    from planner.perf.params import load_efficiency
    from planner.perf.resolve import Cols, normalize_grid, resolve
    from planner.perf.serving import prefill_batch_pass
    from planner.perf.step import _Pass

    g = pd.DataFrame([{**R1, "engine": e, "attn_dp": 8, "batch": 64, "isl": 512} for e in ("vllm", "sglang", "")])
    eff = load_efficiency(catalog)
    c, fail = resolve(normalize_grid(g), catalog, eff)
    assert not fail.any()
    full = c.eng_chunk
    rank = rank_chunk_tokens(c)
    assert rank.tolist() == [full[0], full[1] // 8, full[2]]
    assert replica_token_budget(c).tolist() == (rank * 8).tolist()
    # the critical rank of a step carrying a whole budget of 8k-token prompts: one rank's chunk
    p = _Pass(c, eff.serving, 0.0, 8 * rank, 8192.0, 0.0, 1.0, False, time_only=True)
    assert p.pre_rank.tolist() == rank.tolist()
    _, _, n_req = prefill_batch_pass(c, eff.serving, c.isl, c.isl)
    assert n_req.tolist() == (8 * (rank // 512)).tolist()
    act = activation_reserve_bytes(c) - activation_reserve_bytes(Cols({**c, "attn_dp": c.attn_dp * 0 + 1}))
    assert act[0] == 0.0 and act[1] < 0.0 and act[2] == 0.0  # the divided ranks hold a rank's chunk only
