"""Load catalog folders into a validated `Catalog`.

Each YAML file holds one or more kinds as top-level keys (`accelerators:`, `models:`, ...), each a list of
entries. Folders load in order and later folders win: an entry whose id already exists replaces it, so users
override or extend the bundled catalog with `--catalog DIR` and no code change. Every problem found is
collected, then raised together as one `CatalogError`, each line naming file, entry id and field path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import Entry
from planner.catalog.schemas import KINDS
from planner.errors import CatalogError
from planner.inputs import (  # reading files lives in planner.inputs; these names stay importable here
    display_path,
    format_validation_error,
    load_yaml,
    read_text,
    yaml_error_line,
)

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "catalogs"


def bundled_dir() -> Path:
    """The catalog shipped with planner (override with PLANNER_CATALOG_DIR)."""
    return Path(os.environ.get("PLANNER_CATALOG_DIR", BUNDLED_DIR))


def _read_yaml(path: Path, findings: list[str]) -> dict | None:
    where = display_path(path)
    text, problem = read_text(path)
    if problem:
        findings.append(f"{where}: {problem}")
        return None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        findings.append(yaml_error_line(where, exc))
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        findings.append(f"{where}: top level must be a mapping of kinds ({', '.join(KINDS)})")
        return None
    return data


def yaml_files(folder: Path) -> list[Path]:
    """The catalog files of a folder: its top-level *.yaml/*.yml (subfolders hold data such as op tables)."""
    return sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def parse_entries(kind: str, items: Any, where: str, findings: list[str]) -> list[Entry]:
    """Validate the list under one kind key of one file."""
    schema = KINDS[kind]
    if not isinstance(items, list):
        findings.append(f"{where}: {kind}: must be a list of entries")
        return []
    out: list[Entry] = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            findings.append(f"{where}: {kind}[{i}]: must be a mapping with an id")
            continue
        entry_id = str(raw.get("id", f"{kind}[{i}]"))
        if entry_id in seen:
            findings.append(f"{where}: {entry_id}: duplicate id in {kind}")
            continue
        seen.add(entry_id)
        try:
            out.append(schema.model_validate(raw))
        except ValidationError as err:
            findings.extend(format_validation_error(where, entry_id, err))
    return out


def load_catalog(extra_dirs: Sequence[str | Path] = (), *, include_bundled: bool = True) -> Catalog:
    """Load the bundled catalog, then each of `extra_dirs` in order (later wins); validate everything."""
    dirs = ([bundled_dir()] if include_bundled else []) + [Path(d) for d in extra_dirs]
    findings: list[str] = []
    entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
    origin: dict[tuple[str, str], str] = {}
    for folder in dirs:
        if not folder.is_dir():
            findings.append(f"{display_path(folder)}: catalog folder not found")
            continue
        defined_here: dict[tuple[str, str], str] = {}
        files = yaml_files(folder)
        if not files and folder != bundled_dir():
            findings.append(
                f"{display_path(folder)}: no catalog files (*.yaml, *.yml) at the top of this folder "
                "(subfolders are not read)"
            )
        for path in files:
            data = _read_yaml(path, findings)
            if data is None:
                continue
            where = display_path(path)
            for kind, items in data.items():
                if kind not in KINDS:
                    findings.append(f"{where}: {kind}: unknown kind (expected one of: {', '.join(KINDS)})")
                    continue
                for entry in parse_entries(kind, items, where, findings):
                    key = (kind, entry.id)
                    if key in defined_here:
                        findings.append(
                            f"{where}: {entry.id}: duplicate id in {kind} (also in {defined_here[key]})"
                        )
                        continue
                    defined_here[key] = where
                    entries[kind][entry.id] = entry
                    origin[key] = where
    catalog = Catalog(entries=entries, origin=origin)
    findings.extend(check_references(catalog))
    if findings:
        raise CatalogError(findings)
    return catalog


def check_references(catalog: Catalog) -> list[str]:
    """Cross-entry checks: every id an entry names must exist."""
    out: list[str] = []

    def need(kind: str, entry: Entry, field: str, ref_kind: str, ref: str) -> None:
        if ref not in catalog.entries[ref_kind]:
            known = ", ".join(sorted(catalog.entries[ref_kind])) or "none"
            out.append(
                f"{catalog.origin[(kind, entry.id)]}: {entry.id}.{field}: unknown {ref_kind[:-1]} {ref!r} "
                f"(known: {known})"
            )

    for s in catalog.systems.values():
        need("systems", s, "accelerator", "accelerators", s.accelerator)
        acc = catalog.accelerators.get(s.accelerator)
        if acc and s.scale_up_domain > acc.scale_up_domain:
            out.append(
                f"{catalog.origin[('systems', s.id)]}: {s.id}.scale_up_domain: {s.scale_up_domain} exceeds "
                f"the scale_up_domain {acc.scale_up_domain} of accelerator {acc.id} "
                f"({catalog.origin[('accelerators', acc.id)]})"
            )
    for a in catalog.accelerators.values():
        for i, p in enumerate(a.native_precisions):
            need("accelerators", a, f"native_precisions[{i}]", "precisions", p)
    for m in catalog.models.values():
        need("models", m, "native_precision", "precisions", m.native_precision)
        for i, c in enumerate(m.checkpoints):
            need("models", m, f"checkpoints[{i}].precision", "precisions", c.precision)
    for e in catalog.engines.values():
        for i, p in enumerate(e.precisions):
            need("engines", e, f"precisions[{i}]", "precisions", p)
        for i, a in enumerate(e.accelerators or []):
            need("engines", e, f"accelerators[{i}]", "accelerators", a)
        if e.superseded_by is not None:
            need("engines", e, "superseded_by", "engines", e.superseded_by)
        for i, u in enumerate(e.unsupported_paths):
            for j, a in enumerate(u.accelerators):
                need("engines", e, f"unsupported_paths[{i}].accelerators[{j}]", "accelerators", a)
        for i, sp in enumerate(e.speculative):
            for j, m in enumerate(sp.measured_on):
                need("engines", e, f"speculative[{i}].measured_on[{j}]", "models", m)
    for r in catalog.rental_prices.values():
        need("rental_prices", r, "system", "systems", r.system)
        rack_scale = r.system in catalog.systems and catalog.systems[r.system].whole_rack
        if rack_scale != (r.lease_unit == "whole_rack"):
            out.append(
                f"{catalog.origin[('rental_prices', r.id)]}: {r.id}.lease_unit: {r.lease_unit} but system "
                f"{r.system} is {'a whole rack' if rack_scale else 'a server'} (whole_rack leases are for "
                "rack-scale systems, and those lease only whole)"
            )
    for lic in catalog.licences.values():
        for i, s in enumerate(lic.bundled_with_systems):
            need("licences", lic, f"bundled_with_systems[{i}]", "systems", s)
    return out


def iter_entries(catalog: Catalog, kinds: Iterable[str] | None = None):
    for kind in kinds or KINDS:
        yield from ((kind, e) for e in catalog.entries[kind].values())
