"""The loaded catalog: validated entries by kind and id, and where each came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.catalog.schema_base import Entry
from planner.catalog.schema_engines import Engine
from planner.catalog.schema_prices import Economics, NetworkItem, RentalPrice, SoftwareLicence
from planner.catalog.schemas import Accelerator, Model, Precision, RackType, Site, System, Workload
from planner.errors import InputError


@dataclass(frozen=True)
class Catalog:
    entries: dict[str, dict[str, Entry]]
    origin: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def accelerators(self) -> dict[str, Accelerator]:
        return self.entries["accelerators"]  # type: ignore[return-value]

    @property
    def systems(self) -> dict[str, System]:
        return self.entries["systems"]  # type: ignore[return-value]

    @property
    def racks(self) -> dict[str, RackType]:
        return self.entries["racks"]  # type: ignore[return-value]

    @property
    def sites(self) -> dict[str, Site]:
        return self.entries["sites"]  # type: ignore[return-value]

    @property
    def models(self) -> dict[str, Model]:
        return self.entries["models"]  # type: ignore[return-value]

    @property
    def precisions(self) -> dict[str, Precision]:
        return self.entries["precisions"]  # type: ignore[return-value]

    @property
    def workloads(self) -> dict[str, Workload]:
        return self.entries["workloads"]  # type: ignore[return-value]

    @property
    def rental_prices(self) -> dict[str, RentalPrice]:
        return self.entries["rental_prices"]  # type: ignore[return-value]

    @property
    def economics(self) -> dict[str, Economics]:
        return self.entries["economics"]  # type: ignore[return-value]

    @property
    def licences(self) -> dict[str, SoftwareLicence]:
        return self.entries["licences"]  # type: ignore[return-value]

    @property
    def engines(self) -> dict[str, Engine]:
        return self.entries["engines"]  # type: ignore[return-value]

    @property
    def network(self) -> dict[str, NetworkItem]:
        return self.entries["network"]  # type: ignore[return-value]

    def get(self, kind: str, entry_id: str, *, what: str | None = None) -> Entry:
        """Look an id up, or fail with the list of known ids (exit code 2)."""
        table = self.entries[kind]
        if entry_id not in table:
            label = what or kind[:-1]
            raise InputError(f"unknown {label} {entry_id!r} (known: {', '.join(sorted(table))})")
        return table[entry_id]

    def find(self, entry_id: str) -> list[tuple[str, Entry]]:
        """Every kind that has an entry with this id."""
        return [(k, t[entry_id]) for k, t in self.entries.items() if entry_id in t]


def per_catalog(cache: dict, catalog: Catalog, build):
    """`build(catalog)`, computed once per catalog object and kept in `cache` (catalogs are immutable; each
    entry holds its catalog, so a freed catalog's id reused by another one misses)."""
    hit = cache.get(id(catalog))
    if hit is None or hit[0] is not catalog:
        if len(cache) > 16:
            cache.clear()
        hit = (catalog, build(catalog))
        cache[id(catalog)] = hit
    return hit[1]
