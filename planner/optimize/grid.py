"""The configuration grid the performance model evaluates: per workload, the (model, effort, precision) pairs
that meet its quality floor and the checkpoint rules, and per accelerator that runs them the engines, KV formats,
speculative-decoding choices and parallel layouts (TP powers of two inside the scale-up domain, PP 1-2; for MoE
models EP = TP and attention DP), built as columns block by block (steps 1-2 of `planner.optimize.candidates`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog
from planner.catalog.quality import checkpoint_of, needs_quantization, quality_of
from planner.optimize.instance import Instance
from planner.optimize.variants import spec_choices
from planner.perf.reasoning import decoded_osl

PP_OPTIONS = (1, 2)


def largest_domains(inst: Instance) -> dict[str, int]:
    """Accelerator -> the largest scale-up domain of the allowed systems holding it."""
    by_acc: dict[str, int] = {}
    for sd in inst.systems.values():
        by_acc[sd.accelerator] = max(by_acc.get(sd.accelerator, 0), sd.domain)
    return dict(sorted(by_acc.items()))


def _runs_on(catalog: Catalog, precision_id: str, accelerator_id: str) -> bool:
    acc = catalog.accelerators[accelerator_id]
    p = catalog.precisions[precision_id]
    return precision_id in acc.native_precisions or p.weight_only_fallback is not None


def _default_kv(catalog: Catalog, precision_id: str, accelerator_id: str) -> str:
    formats = catalog.precisions[precision_id].kv_formats
    if "fp8" in formats and "fp8" in catalog.accelerators[accelerator_id].dense_tflops:
        return "fp8"
    return "bf16" if "bf16" in formats else formats[0]


def _engines_for(catalog: Catalog, allowed: tuple[str, ...] | None, precision_id: str,
                 accelerator_id: str) -> list[str]:
    """The engines a workload searches on one accelerator and precision ('' = the generic engine)."""
    if not allowed:
        return [""]
    vendor = catalog.accelerators[accelerator_id].vendor
    return [e for e in allowed if catalog.engines[e].supports(accelerator_id, vendor)
            and precision_id in catalog.engines[e].precisions]


def _parallelisms(is_moe: bool, domain: int) -> list[tuple[int, int, int]]:
    """(tp, ep, attn_dp) options for one pipeline stage inside a scale-up domain."""
    sizes = [1 << k for k in range(0, 8) if (1 << k) <= domain]
    out = [(s, 1, 1) for s in sizes]
    if is_moe:
        out += [(s, s, 1) for s in sizes if s > 1] + [(1, s, s) for s in sizes if s > 1]
    return out


def build_grid(inst: Instance, catalog: Catalog) -> tuple[pd.DataFrame, list[dict]]:
    """The configurations to evaluate, and the (model, precision) pairs rejected on quality."""
    cols: dict[str, list] = {}
    memo: dict = {}  # block arrays by (variants, layouts, serving modes)
    layouts: dict[tuple[bool, int], list] = {}  # the (tp, ep, attn_dp, pp) options by (MoE, domain)
    rejected: list[dict] = []
    by_acc = largest_domains(inst)
    for w in inst.workloads.values():
        models = w.models or tuple(sorted(catalog.models))
        precisions = w.precisions or tuple(sorted(catalog.precisions))
        for mid, effort in _model_efforts(catalog, models, w, rejected):
            model = catalog.models[mid]
            mult = model.effort(effort).output_multiplier if effort is not None else 1.0
            for pid in precisions:
                q = quality_of(catalog, mid, pid, w.floor_benchmark, effort)
                if w.floor_benchmark is not None and (q is None or q < w.floor_score - 1e-9):
                    why = (
                        f"no {w.floor_benchmark} score"
                        if q is None
                        else f"quality {q:.1f} < floor {w.floor_score:g} on {w.floor_benchmark}"
                    )
                    rejected.append(
                        dict(
                            workload=w.id, model=mid, precision=pid, system="*", config="*", reason=why, quality=q,
                            effort=effort,
                        )
                    )
                    continue
                ckpt = checkpoint_of(catalog, mid, pid)  # once per (model, precision), not per grid row
                if not w.allow_quantization and needs_quantization(ckpt):
                    rejected.append(
                        dict(
                            workload=w.id, model=mid, precision=pid, system="*", config="*", quality=q,
                            reason=f"no published {pid} checkpoint of {mid} (allow_quantization: true to use "
                            f"'{checkpoint_of(catalog, mid, pid)}')",
                        )
                    )
                    continue
                for acc, domain in sorted(by_acc.items()):
                    if not _runs_on(catalog, pid, acc):
                        rejected.append(
                            dict(
                                workload=w.id,
                                model=mid,
                                precision=pid,
                                system=acc,
                                config="*",
                                reason=f"{pid} is neither native on {acc} nor weight-only capable",
                            )
                        )
                        continue
                    engines = _engines_for(catalog, w.engines, pid, acc)
                    if not engines:
                        rejected.append(dict(workload=w.id, model=mid, precision=pid, system=acc, config="*",
                                             reason=f"none of the engines {', '.join(w.engines or ())} serves "
                                                    f"{pid} on {acc}"))
                        continue
                    kvs = w.kv_precisions or (_default_kv(catalog, pid, acc),)
                    specs = {e: spec_choices(catalog, w, e, mid, pid, acc, rejected) for e in engines}
                    variants = [(k, e, x) for k in kvs for e in engines for x in specs[e]]
                    shape = (model.moe is not None, domain)
                    pars = layouts.get(shape)
                    if pars is None:
                        pars = layouts[shape] = [(tp, ep, dp, pp) for tp, ep, dp in _parallelisms(*shape)
                                                 for pp in PP_OPTIONS]
                    osl = decoded_osl(w.osl, mult)
                    const = dict(workload=w.id, model=mid, accelerator=acc, precision=pid, isl=w.isl, osl=osl,
                                 quality=q, checkpoint=ckpt, effort=effort, output_multiplier=mult,
                                 hidden_tokens=osl - w.osl)
                    _add_block(cols, const, variants, pars, w.serving, memo)
    return (_grid_frame(cols) if cols else pd.DataFrame()), rejected


GRID_COLUMNS = ("workload", "model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp",
                "serving", "isl", "osl", "quality", "engine", "speculative", "checkpoint", "effort",
                "output_multiplier", "hidden_tokens")


def _add_block(cols: dict[str, list], const: dict, variants: list[tuple], pars: list[tuple],
               serving: tuple[str, ...], memo: dict | None = None) -> None:
    """Append the grid rows of one (workload, model, precision, accelerator) to the column pieces, in the order
    variant (KV format, engine, speculative), parallelism, pipeline stages, serving mode: values shared by the
    block once (with the block's size), the others as small arrays. `memo`: arrays already made for the same
    variants, layouts and serving modes (one dict per grid; the pieces are only read, by the concatenation)."""
    n_s = len(serving)
    n = len(variants) * len(pars) * n_s
    if n == 0:
        return
    if not cols:
        cols.update({c: [] for c in (*GRID_COLUMNS, "_size")})
    for c, v in const.items():
        cols[c].append(v)
    cols["_size"].append(n)
    key = (tuple(variants), tuple(pars), tuple(serving))
    arrays = None if memo is None else memo.get(key)
    if arrays is None:
        per_variant = len(pars) * n_s
        arrays = {c: np.repeat(np.array([v[j] for v in variants], dtype=object), per_variant)
                  for j, c in enumerate(("kv_precision", "engine", "speculative"))}
        layout = np.repeat(np.array(pars, dtype=np.int64), n_s, axis=0)
        for j, c in enumerate(("tp", "ep", "attn_dp", "pp")):
            arrays[c] = np.tile(layout[:, j], len(variants))
        arrays["serving"] = np.tile(np.array(serving, dtype=object), n // n_s)
        if memo is not None:
            memo[key] = arrays
    for c, a in arrays.items():
        cols[c].append(a)



def _grid_frame(cols: dict[str, list]) -> pd.DataFrame:
    """The grid from `_add_block`'s pieces, typed as pandas types per-row records: numbers (ints and floats
    mixed give floats), strings (None = missing), anything else inferred from a list."""
    sizes = np.asarray(cols["_size"], dtype=np.int64)
    out = {}
    for c in GRID_COLUMNS:
        pieces = cols[c]
        if isinstance(pieces[0], np.ndarray):
            out[c] = _concat_strings(pieces) if pieces[0].dtype == object else np.concatenate(pieces)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in pieces):
            out[c] = np.repeat(np.asarray(pieces), sizes)
        elif all(v is None or isinstance(v, str) for v in pieces):
            out[c] = _strings(np.asarray(pieces, dtype=object), sizes)
        else:
            out[c] = np.repeat(np.asarray(pieces, dtype=object), sizes).tolist()
    return pd.DataFrame(out)


STRINGS_DIRECT_ROWS = 2000


def _strings(pieces: np.ndarray, sizes: np.ndarray):
    """The column pandas would make of an object array of strings (None = missing) with pieces[i] repeated
    sizes[i] times, converted through the few distinct values (converting every row to pandas' string type
    is most of a large grid's cost; below STRINGS_DIRECT_ROWS rows the per-column set-up costs more)."""
    if sizes.sum() < STRINGS_DIRECT_ROWS:
        return np.repeat(pieces, sizes)
    codes, uniques = pd.factorize(pieces, use_na_sentinel=False)
    out = _coded_strings(uniques, np.repeat(codes, sizes))
    return np.repeat(pieces, sizes) if out is None else out


def _concat_strings(pieces: list[np.ndarray]):
    """The column pandas would make of the concatenated object arrays `pieces` (`_add_block`'s per-row strings:
    the same few arrays, shared through its memo, repeat block after block), converted through the distinct
    values: each distinct array coded once, the codes concatenated, one take (pandas' conversion of every row
    to its string type was ~1/3 of a large grid's cost)."""
    if sum(len(a) for a in pieces) < STRINGS_DIRECT_ROWS:
        return np.concatenate(pieces)
    vocab: dict = {}
    coded: dict[int, np.ndarray] = {}
    for a in pieces:
        if id(a) not in coded:
            coded[id(a)] = np.array([vocab.setdefault(v, len(vocab)) for v in a.tolist()], dtype=np.int64)
    out = None
    if all(isinstance(v, str) for v in vocab):  # else (None, numbers) pandas' own inference
        out = _coded_strings(list(vocab), np.concatenate([coded[id(a)] for a in pieces]))
    return np.concatenate(pieces) if out is None else out


def _coded_strings(uniques, codes: np.ndarray):
    """The string column of `uniques` taken at `codes`, as pandas makes it of those values row by row; None
    where pandas keeps them as objects (no string at all, or a pandas without its string type)."""
    small = pd.Series(np.asarray(uniques, dtype=object))
    return small.array.take(codes) if isinstance(small.dtype, pd.StringDtype) else None


def _model_efforts(catalog: Catalog, models, w, rejected: list[dict]) -> list[tuple[str, str | None]]:
    """(model, effort) pairs to search: each allowed effort level of a reasoning model (the workload's
    `effort`, else every level), None for a model without levels."""
    out = []
    for mid in models:
        m = catalog.models[mid]
        levels = [e.level for e in m.effort_levels]
        if not levels:
            out.append((mid, None))
            continue
        allowed = [lv for lv in levels if w.effort is None or lv in w.effort]
        if not allowed:
            why = f"effort {', '.join(w.effort)} is not a level of {mid} ({', '.join(levels)})"
            rejected.append(dict(workload=w.id, model=mid, precision="*", system="*", config="*", reason=why))
        out.extend((mid, lv) for lv in allowed)
    return out
