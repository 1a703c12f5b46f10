"""Turn a configuration grid into per-row numpy arrays (specs, precision, efficiency) and rule out the rows
that cannot run, each with a reason a person can act on.

Lookups go through small per-entity tables indexed by category codes, so the cost is a few numpy gathers
however many rows the grid has.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from planner.catalog.catalog import Catalog, per_catalog
from planner.catalog.schema_base import COMPUTE_DTYPES, KV_BYTES
from planner.catalog.tables import accelerator_table
from planner.perf.arch import MODEL_COLUMNS, model_table
from planner.perf.engines import check_engine_parallelism, engine_columns
from planner.perf.params import ACCEL_PARAMS, Efficiency

GRID_DEFAULTS: dict[str, object] = {"kv_precision": "bf16", "tp": 1, "pp": 1, "ep": 1, "attn_dp": 1,
                                    "serving": "aggregated"}
REQUIRED = ("model", "accelerator", "precision", "batch", "isl", "osl")
# One configuration of the model (a grid row without its batch), in the order callers build grids.
CONFIG_COLUMNS = ("model", "accelerator", "precision", "kv_precision", "tp", "pp", "ep", "attn_dp", "serving",
                  "isl", "osl")
# Optional columns: serving engine (catalog id, empty = generic engine) and speculative decoding (none, auto,
# mtp, eagle3); a grid without them is predicted exactly as before engines existed.
OPTIONAL_CONFIG_COLUMNS = ("engine", "speculative")
SERVING_MODES = ("aggregated", "disaggregated")


class Cols(dict):
    """Per-row arrays by name, readable as attributes (c.tp, c.hidden)."""

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


class Taken(Cols):
    """Rows `idx` of another Cols; each per-row column (1-d, length n) is gathered when first read, so a model
    that reads half the columns pays for half the gathers. Iterating materializes every column."""

    def __init__(self, src: Cols, idx: np.ndarray, n: int) -> None:
        super().__init__()
        self._src, self._idx, self._n = src, idx, n

    # a column read again is dict's own look-up (the step model reads ~70 columns ~200 times a pass: a
    # Python-level __getitem__ on every read cost ~0.3 ms a pass); a first read misses into __missing__
    def __missing__(self, name: str):
        v = self._src[name]
        if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == self._n:
            v = v[self._idx]
        dict.__setitem__(self, name, v)
        return v

    def get(self, name: str, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or name in self._src

    def _all(self) -> None:
        for name in list(self._src):
            if not dict.__contains__(self, name):
                self[name]

    def keys(self):
        self._all()
        return dict.keys(self)

    def items(self):
        self._all()
        return dict.items(self)

    def values(self):
        self._all()
        return dict.values(self)

    def __iter__(self):
        self._all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._all()
        return dict.__len__(self)


class TakenTwice(Taken):
    """Rows `idx` of a `Taken` (rows `pidx` of `src`): a column the parent has not gathered comes straight from
    `src` at the composed rows, one gather instead of two (the parent's columns, set or gathered, from it)."""

    def __init__(self, parent: Taken, idx: np.ndarray, n: int) -> None:
        super().__init__(parent, idx, n)
        self._deep = parent._idx[idx]

    def __missing__(self, name: str):
        parent = self._src
        if dict.__contains__(parent, name):
            v, idx, n = dict.__getitem__(parent, name), self._idx, self._n
        else:
            v, idx, n = parent._src[name], self._deep, parent._n
        if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) == n:
            v = v[idx]
        dict.__setitem__(self, name, v)
        return v


def take(c: Cols, idx: np.ndarray, n: int | None = None) -> Cols:
    """Rows `idx` of `c` (per-row columns are those of length n, default len(c.batch)), gathered lazily."""
    n = len(c["batch"]) if n is None else n
    if type(c) is Taken and n == len(c._idx):  # rows of rows: each column gathered once, from the source
        return TakenTwice(c, np.asarray(idx), n)
    return Taken(c, idx, n)


def normalize_grid(grid: pd.DataFrame, required: tuple[str, ...] = REQUIRED) -> pd.DataFrame:
    """A copy with defaults filled in; a missing required column is a programming error (KeyError)."""
    missing = [c for c in required if c not in grid.columns]
    if missing:
        raise KeyError(f"grid lacks columns {missing}; needs {list(required)}")
    # a new frame (reset_index copies, or shares under copy-on-write): the assignments below never reach `grid`
    g = grid.reset_index(drop=True)
    dtypes = g.dtypes
    for col, default in GRID_DEFAULTS.items():
        if col not in dtypes.index:
            g[col] = default
        elif dtypes[col] != np.int64 and g[col].isna().any():  # an int64 column holds no missing value
            g[col] = g[col].astype(object).where(g[col].notna(), default)
    dtypes = g.dtypes
    for col in ("tp", "pp", "ep", "attn_dp", "batch", "isl", "osl"):
        if dtypes[col] == np.int64:
            continue  # integer already (the common case; the conversion below would leave it as it is)
        num = pd.to_numeric(g[col], errors="coerce")
        if num.notna().all() and (num == np.floor(num)).all():
            g[col] = num.astype(np.int64)  # keep integer columns integer (bad values stay for the reason)
    return g


def _codes(names: pd.Series, index: pd.Index) -> np.ndarray:
    """Positions in `index` of `names` (a column as text), -1 where absent."""
    codes, uniques = pd.factorize(names)
    return index.get_indexer(uniques).astype(np.int64)[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def _gather(table: pd.DataFrame, codes: np.ndarray, prefix: str = "", columns=None) -> dict[str, np.ndarray]:
    """One contiguous per-row array per table column (column-wise gathers stay cache friendly)."""
    idx = np.where(codes >= 0, codes, 0)
    names = list(table.columns) if columns is None else list(columns)
    if len(table) == 0:
        return {prefix + c: np.full(len(codes), np.nan) for c in names}
    floats = _float_columns(table)
    return {prefix + c: floats[c][idx] for c in names}


_FLOATS: dict[int, tuple[pd.DataFrame, dict[str, np.ndarray]]] = {}


def _float_columns(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every column of a (cached, never modified) look-up table as a float array, converted once per table."""
    hit = _FLOATS.get(id(table))
    if hit is None or hit[0] is not table:
        if len(_FLOATS) > 64:
            _FLOATS.clear()
        hit = (table, {c: table[c].to_numpy(dtype=float) for c in table.columns})
        _FLOATS[id(table)] = hit
    return hit[1]


_PARAMS: dict[tuple[int, int], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = {}


def _params(eff: Efficiency, accels: pd.DataFrame) -> pd.DataFrame:
    """The efficiency parameters in the accelerator table's order, one table per (parameters, accelerators)."""
    key = (id(eff.accel), id(accels))
    hit = _PARAMS.get(key)
    if hit is None or hit[0] is not eff.accel or hit[1] is not accels:
        if len(_PARAMS) > 16:
            _PARAMS.clear()
        hit = (eff.accel, accels, eff.accel.reindex(accels.index)[list(ACCEL_PARAMS)])
        _PARAMS[key] = hit
    return hit[2]


FAILURE_KINDS = ("memory", "engine", "config")  # `limited_by` of a row that does not run


def add_reasons(reason: np.ndarray, kinds: np.ndarray, kind: str, mask: np.ndarray, keys: list,
                make: Callable[..., str]) -> None:
    """Write make(*key values) into reason[i], and `kind` (one of FAILURE_KINDS) into kinds[i], for rows in
    `mask` that have no reason yet: each failing row carries its kind from where it failed, so `limited_by`
    is read off, not rebuilt from which stage wrote the reason.

    Messages are built once per distinct key combination (a grid repeats the same few), so a million failing
    rows cost a few numpy passes, not a million f-strings."""
    # the rows asked about, then those of them without a reason: an object compare (~20 ns a row) over every
    # row of a large grid on each of a build's ~40 calls cost more than the messages
    todo = np.flatnonzero(mask)
    todo = todo[reason[todo] == ""]
    if len(todo) == 0:
        return
    cols = [np.asarray(k)[todo] for k in keys]
    combined = np.zeros(len(todo), dtype=np.int64)
    for col in cols:
        codes, uniques = pd.factorize(col)
        combined = combined * (len(uniques) + 1) + codes
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    args = zip(*(_firsts(col, first) for col in cols), strict=True)
    msgs = np.array([make(*a) for a in args], dtype=object)
    reason[todo] = msgs[inverse.reshape(-1)]
    kinds[todo] = kind


def _firsts(col: np.ndarray, first: np.ndarray) -> list:
    """col[first] as a list for make's arguments: numbers as Python numbers, which an f-string formats ~1.6x
    faster than numpy scalars to the same text (float64 and integers only: a float32 prints other digits as a
    Python float, and a numpy string's repr is not a str's)."""
    v = col[first]
    return v.tolist() if v.dtype.kind in "iu" or v.dtype == np.float64 else list(v)


def fail_kinds(c: Cols, n: int) -> np.ndarray:
    """A writable copy of resolve's per-row failure kinds (`fail_kind`: '' where the row runs so far); the
    columns may be shared with other calls (a search reuses one resolve), so stages after resolve add theirs to
    a copy. Columns built without resolve have none."""
    kinds = c.get("fail_kind")
    return np.full(n, "", dtype=object) if kinds is None else np.array(kinds, dtype=object)


def _dtype_matrix(catalog: Catalog):
    """For every (accelerator, precision) of the catalog (rows: _tables' accelerator index, columns:
    _precision_ids): the compute dtype code used (-1 = cannot run), why not, and whether the GEMMs are
    weight-only (low-bit weights dequantized into a wider compute dtype)."""
    acc_ids, prec_ids = _tables(catalog)[1].index, _precision_ids(catalog)
    code = np.full((len(acc_ids), len(prec_ids)), -1, dtype=np.int64)
    why = np.full((len(acc_ids), len(prec_ids)), "", dtype=object)
    weight_only = np.zeros((len(acc_ids), len(prec_ids)))
    for i, a in enumerate(acc_ids):
        acc = catalog.accelerators[a]
        for j, p in enumerate(prec_ids):
            prec = catalog.precisions[p]
            native = p in acc.native_precisions and prec.compute_dtype in acc.dense_tflops
            if native:
                code[i, j] = COMPUTE_DTYPES.index(prec.compute_dtype)
            elif prec.weight_only_fallback and prec.weight_only_fallback in acc.dense_tflops:
                code[i, j] = COMPUTE_DTYPES.index(prec.weight_only_fallback)
                weight_only[i, j] = float(prec.bytes_per_weight < 2.0)  # dequantized inside the GEMM
            elif prec.weight_only_fallback:
                why[i, j] = f"{p} falls back to {prec.weight_only_fallback}, which {a} cannot compute"
            else:
                why[i, j] = f"{prec.compute_dtype} not native on {a} and {p} has no weight-only fallback"
    return code, why, weight_only


_DTYPES: dict = {}


_PRECISION_IDS: dict = {}


def _precision_ids(catalog: Catalog) -> pd.Index:
    """Per catalog object, one index (its look-up engine built once, not on every resolve)."""
    return per_catalog(_PRECISION_IDS, catalog, lambda cat: pd.Index(sorted(cat.precisions)))


_TABLES: dict = {}


def _tables(catalog: Catalog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model and accelerator tables of a catalog, cached per catalog object (catalogs are immutable)."""
    return per_catalog(_TABLES, catalog, lambda cat: (model_table(cat), accelerator_table(cat)))


def resolve(grid: pd.DataFrame, catalog: Catalog, eff: Efficiency) -> tuple[Cols, np.ndarray]:
    """(columns, reason) for a normalized grid. reason[i] == '' where the row can run so far."""
    n = len(grid)
    reason = np.full(n, "", dtype=object)
    kinds = np.full(n, "", dtype=object)  # FAILURE_KINDS of the rows with a reason
    models, accels = _tables(catalog)
    params = _params(eff, accels)
    prec_ids = _precision_ids(catalog)

    # the names as text once: the codes' look-ups, and the messages where a row fails
    model_names, acc_names, prec_names = (grid[c].astype(str) for c in ("model", "accelerator", "precision"))
    mc = _codes(model_names, models.index)
    ac = _codes(acc_names, accels.index)
    pc = _codes(prec_names, prec_ids)
    c = Cols()
    c.update(_gather(models, mc))
    c.update(_gather(accels, ac, columns=["hbm_bytes", "hbm_bandwidth_bytes_s", "tdp_w",
                                          "scale_up_bandwidth_bytes_s", "scale_up_domain",
                                          *(f"flops_{d}" for d in COMPUTE_DTYPES)]))
    c.update(_gather(params, ac))
    for col in ("tp", "pp", "ep", "attn_dp", "batch", "isl", "osl"):
        v = grid[col]  # integer already in the common case (normalize_grid): to_numeric would return it as is
        c[col] = (v if v.dtype == np.int64 else pd.to_numeric(v, errors="coerce")).to_numpy(dtype=float)

    def fail(kind: str, mask: np.ndarray, keys: list, make: Callable[..., str]) -> None:
        add_reasons(reason, kinds, kind, mask, keys, make)

    def config(mask: np.ndarray, keys: list, make: Callable[..., str]) -> None:
        fail("config", mask, keys, make)

    config(mc < 0, [model_names], lambda m: f"unknown model {m!r}")
    config(ac < 0, [acc_names], lambda a: f"unknown accelerator {a!r}")
    config(pc < 0, [prec_names], lambda p: f"unknown precision {p!r}")
    kv_names = grid["kv_precision"].astype(str).to_numpy()
    kv_codes, kv_uniques = pd.factorize(kv_names)
    kv_bytes = np.array([KV_BYTES.get(k, np.nan) for k in kv_uniques], dtype=float)[kv_codes] if n else np.zeros(0)
    config(np.isnan(kv_bytes), [kv_names], lambda k: f"unknown KV-cache precision {k!r} (bf16, fp8, fp4)")
    c["kv_bytes"] = np.nan_to_num(kv_bytes, nan=2.0)

    # precision: bytes per weight, compute dtype actually used, KV formats allowed
    precs = [catalog.precisions[p] for p in prec_ids]
    pcs = np.where(pc >= 0, pc, 0)
    c["w_bytes"] = np.array([p.bytes_per_weight for p in precs], dtype=float)[pcs] if precs else np.ones(n)
    dcode, dwhy, dwo = per_catalog(_DTYPES, catalog, _dtype_matrix)  # over accels.index x prec_ids
    acs = np.where(ac >= 0, ac, 0)
    dt = dcode[acs, pcs] if dcode.size else np.full(n, -1)
    c["weight_only"] = dwo[acs, pcs] if dwo.size else np.zeros(n)
    ok_ids = (mc >= 0) & (ac >= 0) & (pc >= 0)
    config(ok_ids & (dt < 0), [acs, pcs], lambda a, p: str(dwhy[a, p]))
    dt = np.where(dt < 0, 0, dt)
    c["dtype_code"] = dt.astype(float)
    flops = np.stack([c[f"flops_{d}"] for d in COMPUTE_DTYPES], axis=1) if n else np.zeros((0, 4))
    etas = np.stack([c[f"gemm_eta_max_{d}"] for d in COMPUTE_DTYPES], axis=1) if n else np.zeros((0, 4))
    rows = np.arange(n)
    c["peak_flops_s"] = flops[rows, dt] if n else np.zeros(0)
    c["gemm_eta_max"] = etas[rows, dt] if n else np.zeros(0)
    c["peak_bf16_flops_s"] = c["flops_bf16"]
    allowed = np.array([[k in p.kv_formats for k in ("bf16", "fp8", "fp4")] for p in precs], dtype=bool)
    kv_idx = np.array([("bf16", "fp8", "fp4").index(k) if k in ("bf16", "fp8", "fp4") else 0 for k in kv_uniques],
                      dtype=np.int64)[kv_codes] if n else np.zeros(0, dtype=np.int64)
    kv_ok = allowed[pcs, kv_idx] if len(precs) else np.ones(n, dtype=bool)
    config(ok_ids & ~kv_ok, [pcs, kv_names], lambda p, k: f"{precs[p].id} does not allow a {k} KV cache "
                                                        f"(allowed: {', '.join(precs[p].kv_formats)})")
    check_parallelism(c, grid, config, model_names, acc_names)
    c.update(engine_columns(grid, catalog, eff.engines, fail))
    if "engine" in grid:
        check_engine_parallelism(c, grid["engine"].fillna("").astype(str).str.strip().to_numpy(), catalog, fail)
    c["fail_kind"] = kinds  # evaluate's limited_by of the rows that fail here (`fail_kinds`)
    # Rows that already have a reason are answered by it; give their sizes harmless values so the vectorized
    # arithmetic that still runs over them stays finite (no divide-by-zero warnings for tp = 0).
    bad = reason != ""
    for col in ("tp", "pp", "ep", "attn_dp", "batch", "isl", "osl"):
        c[col] = np.where(bad & ~(c[col] >= 1), 1.0, c[col])
    return c, reason


def check_parallelism(c: Cols, grid: pd.DataFrame, fail, model_names, acc_names) -> None:
    """Split rules: heads and KV heads divide evenly, EP needs experts, the TP/EP group fits one scale-up
    domain, the context fits the model. `fail(mask, keys, make)` writes a 'config' reason."""
    tp, pp, ep, dp = c.tp, c.pp, c.ep, c.attn_dp
    for name in ("tp", "pp", "ep", "attn_dp", "batch", "isl", "osl"):
        v = c[name]
        bad = ~(v >= 1) | (v != np.floor(v))
        if not bad.any():  # the common case: skip the (slow) number-to-text conversion the message needs
            continue
        raw = grid[name].astype(str).to_numpy()
        fail(bad, [raw], lambda r, name=name: f"{name} must be a positive integer, got {r}")
    serving = grid["serving"].astype(str)
    codes, uniques = pd.factorize(serving, use_na_sentinel=False)  # the few modes checked, not every row
    fail(~np.isin(np.asarray(uniques, dtype=object), SERVING_MODES)[codes], [serving],
         lambda s: f"unknown serving mode {s!r} (aggregated, disaggregated)")
    heads, kvh = c.heads, c.kv_heads
    fail(np.mod(heads, np.maximum(tp, 1)) != 0, [tp, heads],
         lambda t, h: f"tp {t:.0f} does not divide {h:.0f} heads")
    gqa = c.is_mla == 0
    kv_split = (np.mod(kvh, np.maximum(tp, 1)) == 0) | (np.mod(tp, np.maximum(kvh, 1)) == 0)
    fail(gqa & ~kv_split, [tp, kvh], lambda t, k: f"tp {t:.0f} and {k:.0f} KV heads: neither divides the other")
    moe = c.is_moe > 0
    fail(~moe & (ep > 1), [ep, model_names], lambda e, m: f"ep {e:.0f} needs an MoE model ({m} is dense)")
    fail(~moe & (dp > 1), [dp], lambda d: "attention data parallel needs an MoE model (use more replicas instead)")
    # an EP size that does not divide the experts holds ceil(E / ep) slots a rank, the spare ones replicas
    # (memory.expert_slot_factor); a rank without a whole expert is not a layout any engine runs
    fail(moe & (ep > c.num_experts), [ep, c.num_experts], lambda e, x: f"ep {e:.0f} exceeds {x:.0f} experts")
    fail(np.mod(tp * dp, np.maximum(ep, 1)) != 0, [ep, tp * dp],
         lambda e, g: f"ep {e:.0f} must divide tp*attn_dp = {g:.0f} (experts spread over the stage's GPUs)")
    fail(pp > c.layers, [pp, c.layers], lambda p, n: f"pp {p:.0f} exceeds {n:.0f} layers")
    dom = c.scale_up_domain
    fail(tp * dp > dom, [tp * dp, dom, acc_names],
         lambda g, d, a: f"tp*attn_dp = {g:.0f} GPUs exceed the {d:.0f}-GPU scale-up domain of {a}")
    ctx = c.isl + c.osl
    fail(ctx > c.max_context, [ctx, c.max_context],
         lambda x, m: f"isl+osl = {x:.0f} tokens exceed the model's context {m:.0f}")


__all__ = ["FAILURE_KINDS", "GRID_DEFAULTS", "MODEL_COLUMNS", "OPTIONAL_CONFIG_COLUMNS", "Cols", "add_reasons",
           "fail_kinds", "normalize_grid", "resolve", "take"]
