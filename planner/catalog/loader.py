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
from planner.catalog.schemas import KINDS, Entry
from planner.errors import CatalogError

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "catalogs"


def bundled_dir() -> Path:
    """The catalog shipped with planner (override with PLANNER_CATALOG_DIR)."""
    return Path(os.environ.get("PLANNER_CATALOG_DIR", BUNDLED_DIR))


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory where possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_validation_error(where: str, entry_id: str, err: ValidationError) -> list[str]:
    """One line per pydantic error: `file: id.field.path: must be > 0, got -3`."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        field = f"{entry_id}.{loc}" if loc else entry_id
        lines.append(f"{where}: {field}: {_describe(e)}")
    return lines


def _describe(e: dict[str, Any]) -> str:
    ctx, typ, got = e.get("ctx", {}), e["type"], e.get("input")
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if typ in bounds:
        limit = next(iter(ctx.values()))
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        hint = " (check the unit in the field name)" if bounds[typ].startswith("<") else ""
        return f"must be {bounds[typ]} {limit}, got {got!r}{hint}"
    if typ == "extra_forbidden":
        return "unknown field (check the spelling; `planner catalog schema` lists the fields)"
    if typ == "missing":
        return "required field is missing"
    if typ in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (field: value), got {got!r}"
    if typ == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length', 0)}"
    if typ == "list_type":
        return f"must be a list, e.g. [a, b], got {got!r}"
    if typ == "finite_number":
        return f"must be a finite number, got {got!r}"
    if typ == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {got!r}"
    if typ == "string_pattern_mismatch":
        return f"must be a lower-case id (letters, digits, '-', '.'), got {got!r}"
    msg = e["msg"].removeprefix("Value error, ")
    return f"{msg}, got {got!r}" if typ.endswith("_type") or typ.endswith("_parsing") else msg


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
            except TypeError:  # unhashable key: let the base class report it
                break
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first at line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str):
    """yaml.safe_load, but a duplicated key is an error instead of silently overriding the first."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def read_text(path: Path) -> tuple[str, str | None]:
    """A text file's content, or ("", why it cannot be read) for a missing, unreadable or binary file."""
    try:
        return path.read_text(encoding="utf-8"), None
    except IsADirectoryError:
        return "", "is a folder, not a file"
    except OSError as exc:
        return "", f"cannot read: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return "", f"not a UTF-8 text file (byte {exc.start} is 0x{exc.object[exc.start]:02x}); is it binary?"


def _read_yaml(path: Path, findings: list[str]) -> dict | None:
    where = display_path(path)
    text, problem = read_text(path)
    if problem:
        findings.append(f"{where}: {problem}")
        return None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        findings.append(f"{where}: not valid YAML{at}: {problem}")
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
