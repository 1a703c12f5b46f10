"""The step model leaves out the ops that add exactly nothing on every row it is given (step._Pass.vanishes: a
dense FFN, shared or routed experts a row lacks; step_comm: collectives over one GPU, the PP hand-off without
PP), and the step tables give their chunks rows of one kind (steptable_groups.kind_order) so that it does. A
row's figures must be the same to the bit whether it runs among rows of its kind (the ops left out) or of
every kind (computed and selected away), and the same as with a per-op breakdown (which lists every op, so
leaves none out), on the full model and the time alone."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

import planner.perf.step as step_mod
from planner.catalog import load_catalog
from planner.perf.params import load_efficiency
from planner.perf.resolve import Cols, normalize_grid, resolve
from planner.perf.step import decode_step
from planner.perf.steptable_groups import KIND_COLUMNS, kind_order


def _rows():
    catalog = load_catalog()
    eff = load_efficiency(catalog)
    rows = [dict(model=m, accelerator="h200-sxm", precision="fp8", tp=tp, pp=pp, ep=ep, isl=1024, osl=256)
            for (m, tp, ep), pp in itertools.product(
                [("llama-3.1-8b", 1, 1), ("llama-3.3-70b", 4, 1), ("deepseek-r1", 8, 8), ("gpt-oss-120b", 2, 1),
                 ("gpt-oss-120b", 2, 2), ("qwen3-32b", 1, 1)], [1, 2])]
    grid = pd.DataFrame(rows).assign(kv_precision="fp8", attn_dp=1, serving="aggregated", batch=1)
    c, reason = resolve(normalize_grid(grid), catalog, eff)
    assert (reason == "").sum() > len(reason) // 2
    return c, eff, len(reason)


def _model(c, eff, n, rows, time_only, breakdown=False):
    col = Cols({k: (v[rows][:, None] if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == n else v)
                for k, v in c.items()})
    m = len(rows)
    n_dec = np.tile([0.0, 1.0, 7.0, 64.0, 300.0], (m, 2))
    n_pre = np.repeat([[0.0], [512.0]], 5, axis=0).reshape(1, -1).repeat(m, axis=0)
    return decode_step(col, eff.serving, n_dec, np.full_like(n_dec, 1152.0), n_pre, n_pre * 300.0, n_pre * 100.0,
                       1024.0, prompt_chunk=n_pre > 0, time_only=time_only, breakdown=breakdown)


def test_rows_of_one_kind_give_the_figures_of_rows_of_every_kind(monkeypatch):
    c, eff, n = _rows()
    every = np.arange(n)
    touched = []
    real = step_mod.expected_experts_touched
    monkeypatch.setattr(step_mod, "expected_experts_touched", lambda *a: touched.append(1) or real(*a))
    listed = _model(c, eff, n, every, False, breakdown=True)  # every op computed
    for time_only in (False, True):
        whole = _model(c, eff, n, every, time_only)
        for k, v in whole.items():
            np.testing.assert_array_equal(v, listed[k], err_msg=k, strict=True)
        order = kind_order(c, every)
        keys = np.stack([np.asarray(c[k])[order] > (1.0 if k in ("tp", "ep", "pp", "attn_dp") else 0.0)
                         for k in KIND_COLUMNS], axis=1)
        starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])
        assert len(starts) >= 8  # kinds together: each run of one kind is one block of the order
        assert len({tuple(k) for k in keys}) == len(starts)
        for lo, hi in zip(starts, np.r_[starts[1:], n], strict=True):
            kind = order[lo:hi]
            touched.clear()
            alone = _model(c, eff, n, kind, time_only)
            if not (c.expert_params[kind] > 0).any():  # dense rows: the routed experts are never modelled
                assert not touched
            for k, v in alone.items():
                np.testing.assert_array_equal(v, np.asarray(listed[k])[kind], err_msg=k, strict=True)
