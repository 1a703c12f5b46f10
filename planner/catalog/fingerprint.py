"""Content hashes of a loaded catalog: the whole catalog (recorded in every plan) and the part the performance
model reads (keys the candidate cache). Hashes of the validated entries in canonical JSON, so the same figures
give the same hash whichever files, order or comments they came from."""

from __future__ import annotations

import hashlib
import json

from planner.catalog.catalog import Catalog

# Kinds the performance model never reads (money, sites, archetypes; systems enter the candidate cache key through
# their scale-up domains). Every other kind, present or future (engines, ...), is part of the perf fingerprint:
# a new kind costs a cache miss, never a stale hit.
NON_PERF_KINDS = ("economics", "licences", "racks", "rental_prices", "sites", "systems", "workloads")

_MEMO: dict[tuple[int, tuple[str, ...]], tuple[Catalog, str]] = {}


def _digest(catalog: Catalog, kinds: tuple[str, ...]) -> str:
    key = (id(catalog), kinds)
    hit = _MEMO.get(key)
    if hit is not None and hit[0] is catalog:  # the memo holds the catalog, so its id cannot be reused
        return hit[1]
    h = hashlib.sha256()
    for kind in kinds:
        for entry_id in sorted(catalog.entries.get(kind, {})):
            data = catalog.entries[kind][entry_id].model_dump(mode="json")
            h.update(json.dumps([kind, entry_id, data], sort_keys=True, default=str).encode())
    digest = h.hexdigest()[:16]
    if len(_MEMO) > 32:
        _MEMO.clear()
    _MEMO[key] = (catalog, digest)
    return digest


def catalog_fingerprint(catalog: Catalog) -> str:
    """Hash of every entry of the catalog (all kinds)."""
    return _digest(catalog, tuple(sorted(catalog.entries)))


def perf_fingerprint(catalog: Catalog) -> str:
    """Hash of the entries the performance model may read (accelerators, models, precisions, ...)."""
    return _digest(catalog, tuple(k for k in sorted(catalog.entries) if k not in NON_PERF_KINDS))
