"""Parameter paths: where a swept value goes, checked against the problem schema and the catalog.

Problem paths follow the problem file, with list items addressed by id (`workloads.chat.tpot_ms`,
`fleet.existing.hgx-h100.count` for lists keyed by system); `workloads.ID.demand` is a multiplier of whatever
demand the workload gives. Catalog paths are `catalog.KIND.ID.FIELD[.SUB]`; a dated price (`price`, or
`price_usd`) sets its low, base and high together, `price.base_usd` only the base.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field

from pydantic import BaseModel

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import PriceRange
from planner.economics import price_usd

LIST_KEYS = ("id", "system", "type")
PRICE_FIELDS = ("low_usd", "base_usd", "high_usd")
# Problem paths that change money, power or demand only: the candidate table (performance) stays the same.
MONEY_PREFIXES = ("economics.", "budget.", "objective.", "solver.", "site.power_limit_mw", "site.pue",
                  "site.facility_usd_per_kw_month", "fleet.supply.", "fleet.rent_supply.", "value.")
MONEY_WORKLOAD_FIELDS = ("demand", "headroom", "min_replicas", "value", "value_usd_per_mtok")


@dataclass(frozen=True)
class Target:
    scope: str  # "problem" or "catalog"
    steps: tuple[tuple[str, ...], ...]  # ("key", name) | ("item", list name, key field, id)
    multiplier: bool = False  # workloads.ID.demand: scale the given demand
    price_all: bool = False  # a dated price: set low, base and high
    integer: bool = False
    numeric: bool = True
    base: object = None
    catalog_levels: tuple[float, float, float] | None = None
    money: bool = False


def resolve(path: str, pdata: dict, catalog: Catalog) -> Target:
    segs = path.split(".")
    if any(not s for s in segs):
        raise ValueError(f"unknown parameter path {path!r}: empty segment")
    if segs[0] == "catalog":
        return _catalog(path, segs[1:], catalog)
    return _problem(path, segs, pdata, catalog)


def _unwrap(ann):
    """(kind, inner): kind one of model, list_model, dict, scalar; inner the model or scalar type."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        # a number with a word for "no value" (ttft_ms: float | "none") sweeps numbers; the word is no level
        nums = [a for a in args if typing.get_origin(a) is not typing.Literal]
        return "scalar", float if nums and all(a in (int, float) for a in nums) else str
    if origin is list:
        kind, inner = _unwrap(typing.get_args(ann)[0])
        return ("list_model" if kind == "model" else "list"), inner
    if origin is dict:
        return "dict", _unwrap(typing.get_args(ann)[1])[1]
    if origin is typing.Literal:
        return "scalar", str
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "model", ann
    return "scalar", ann


def _fields_of(model) -> str:
    return ", ".join(model.model_fields)


@dataclass
class _Walk:
    """Where a problem path's walk stands: the schema model and the problem data at this point, the steps
    taken and the names passed."""
    path: str
    model: type
    node: object
    steps: list = field(default_factory=list)
    done: list = field(default_factory=list)

    def fail(self, why: str) -> ValueError:
        return ValueError(f"unknown parameter path {self.path!r}: {why}")


def _problem(path: str, segs: list[str], pdata: dict, catalog: Catalog) -> Target:
    from planner.sweep.adapter import problem_model

    walk, i, inner = _Walk(path, problem_model(), pdata), 0, None
    while i < len(segs):
        name, last = segs[i], i == len(segs) - 1
        if name not in walk.model.model_fields:
            raise walk.fail(f"{'.'.join(walk.done) or 'the problem'} has no field {name!r} "
                            f"(fields: {_fields_of(walk.model)})")
        kind, inner = _unwrap(walk.model.model_fields[name].annotation)
        if kind == "model":
            demand = _into_model(walk, name, inner, last)
            if demand is not None:
                return demand
            i += 1
        elif kind == "list_model":
            _into_list_item(walk, name, inner, segs, i)
            i += 2
        else:
            _leaf(walk, name, kind, segs, i)
            break
    tgt = Target("problem", tuple(walk.steps), integer=inner is int, numeric=inner in (int, float),
                 money=_is_money_problem(segs))
    base, levels = _problem_base(segs, pdata, catalog)
    return Target(**{**tgt.__dict__, "base": base, "catalog_levels": levels})


def _into_model(walk: _Walk, name: str, inner, last: bool) -> Target | None:
    """Step into a nested group; a workload's whole demand is the one group that can be swept (as a
    multiplier)."""
    walk.steps.append(("key", name))
    walk.done.append(name)
    walk.node = walk.node.get(name) if isinstance(walk.node, dict) else None
    if last and inner.__name__ == "Demand" and walk.done[0] == "workloads":
        if not isinstance(walk.node, dict):
            raise ValueError(f"{walk.path}: workload {walk.done[1]!r} gives no demand to scale")
        return Target("problem", tuple(walk.steps), multiplier=True, base=1, money=True)
    if last:
        raise walk.fail(f"{'.'.join(walk.done)} is a group of fields ({_fields_of(inner)}), name one")
    walk.model = inner
    return None


def _into_list_item(walk: _Walk, name: str, inner, segs: list[str], i: int) -> None:
    """Step into the item of a list (workloads, ...) that the next segment names by its key field."""
    keyf = next((k for k in LIST_KEYS if k in inner.model_fields), None)
    items = walk.node.get(name) if isinstance(walk.node, dict) else None
    items = items if isinstance(items, list) else []
    if i == len(segs) - 1 or keyf is None:
        raise walk.fail(f"{name} is a list: address an item by its {keyf or 'id'}, "
                        f"e.g. {'.'.join([*walk.done, name])}.<{keyf or 'id'}>.<field>")
    ident = segs[i + 1]
    ids = [str(x.get(keyf)) for x in items if isinstance(x, dict)]
    if ident not in ids:
        raise ValueError(f"{walk.path}: {'.'.join([*walk.done, name])} has no item with {keyf} {ident!r} "
                         f"(in the problem: {', '.join(ids) or 'none'})")
    walk.steps.append(("item", name, keyf, ident))
    walk.done += [name, ident]
    walk.node = items[ids.index(ident)]
    walk.model = inner


def _leaf(walk: _Walk, name: str, kind: str, segs: list[str], i: int) -> None:
    """The last step: a value, or one key of a mapping (e.g. economics.system_prices_usd.<id>)."""
    if kind == "dict":
        if i + 2 != len(segs):
            raise walk.fail(f"{name} is a mapping: name one key, e.g. {'.'.join([*walk.done, name])}.<id>")
        walk.steps += [("key", name), ("key", segs[i + 1])]
        return
    if i != len(segs) - 1:
        raise walk.fail(f"{'.'.join([*walk.done, name])} is a value, not a group")
    if kind == "list":
        raise ValueError(f"{walk.path}: a list of values cannot be swept")
    walk.steps.append(("key", name))


def _is_money_problem(segs: list[str]) -> bool:
    path = ".".join(segs)
    if segs[0] == "workloads":
        return len(segs) >= 3 and segs[2] in MONEY_WORKLOAD_FIELDS
    return any(path == p.rstrip(".") or path.startswith(p) for p in MONEY_PREFIXES)


def _get(node, segs):
    for s in segs:
        if isinstance(node, list):
            node = next((x for x in node if isinstance(x, dict) and any(str(x.get(k)) == s for k in LIST_KEYS)),
                        None)
        elif isinstance(node, dict):
            node = node.get(s)
        else:
            return None
    return node


def _levels(pr) -> tuple[float, float, float] | None:
    return (pr.low_usd, pr.base_usd, pr.high_usd) if isinstance(pr, PriceRange) else None


def _catalog_entry(segs: list[str], pdata: dict, catalog: Catalog):
    """The catalog figure a problem path falls back to when the problem does not give it (a PriceRange, a
    number, or None)."""
    path = ".".join(segs)
    econ = catalog.economics.get(_get(pdata, ["economics", "id"]) or "default")
    site = catalog.sites.get(str(_get(pdata, ["site", "id"])))
    if segs[0] == "economics" and len(segs) == 2 and econ is not None:
        return getattr(econ, segs[1], None)
    if path == "site.facility_usd_per_kw_month" and site is not None:
        return site.facility_usd_per_kw_month
    if path == "site.pue" and site is not None:
        return site.pue
    if segs[:2] == ["economics", "system_prices_usd"] and segs[2] in catalog.systems:
        return catalog.systems[segs[2]].price
    if segs[:2] == ["economics", "rack_prices_usd"] and segs[2] in catalog.racks:
        return catalog.racks[segs[2]].price
    if segs[0] == "workloads" and len(segs) == 3:
        arch = catalog.workloads.get(str(_get(pdata, [*segs[:2], "archetype"])))
        return getattr(arch, segs[2], None) if arch is not None else None
    return None


def _problem_base(segs: list[str], pdata: dict, catalog: Catalog):
    """(the value the base problem uses, the catalog's low/base/high for it if it is a dated price)."""
    given = _get(pdata, segs)
    entry = _catalog_entry(segs, pdata, catalog)
    levels = _levels(entry)
    case = _get(pdata, ["economics", "price_case"]) or "base"
    fallback = price_usd(entry, case) if levels else entry
    return (given if given is not None else fallback), levels


def _catalog(path: str, segs: list[str], catalog: Catalog) -> Target:
    if not segs or segs[0] not in catalog.entries:
        raise ValueError(f"unknown parameter path {path!r}: catalog.KIND.ID.FIELD with KIND one of "
                         f"{', '.join(sorted(catalog.entries))}")
    kind = segs[0]
    table = catalog.entries[kind]
    if len(segs) < 3:
        raise ValueError(f"unknown parameter path {path!r}: give catalog.{kind}.<id>.<field>")
    if segs[1] not in table:
        known = sorted(table)
        more = f", ... ({len(known)} in all)" if len(known) > 12 else ""
        raise ValueError(f"{path}: catalog.{kind} has no entry {segs[1]!r} (known: {', '.join(known[:12])}{more})")
    entry = table[segs[1]]
    name, rest = segs[2], segs[3:]
    fields = type(entry).model_fields
    alias = name.endswith("_usd") and name[:-4] in fields and _is_price(entry, name[:-4])
    if alias:
        name = name[:-4]
    if name not in fields:
        raise ValueError(f"unknown parameter path {path!r}: catalog {kind} entries have no field {name!r} "
                         f"(fields: {', '.join(f for f in fields if f not in ('source', 'provenance'))})")
    value = getattr(entry, name)
    steps = [("key", kind), ("key", segs[1]), ("key", name)]
    money = kind in ("rental_prices", "economics") or isinstance(value, PriceRange)
    if isinstance(value, PriceRange):
        if alias or not rest:
            if rest:
                raise ValueError(f"unknown parameter path {path!r}: {name}_usd is a value, not a group")
            return Target("catalog", tuple(steps), price_all=True, base=value.base_usd,
                          catalog_levels=_levels(value), money=True)
        if rest not in ([f] for f in PRICE_FIELDS):
            raise ValueError(f"unknown parameter path {path!r}: a price has {', '.join(PRICE_FIELDS)}")
        return Target("catalog", (*steps, ("key", rest[0])), base=getattr(value, rest[0]),
                      catalog_levels=_levels(value), money=True)
    for s in rest:
        if isinstance(value, dict) and s in value:
            value = value[s]
        elif isinstance(value, BaseModel) and s in type(value).model_fields:
            value = getattr(value, s)
        else:
            raise ValueError(f"unknown parameter path {path!r}: no {s!r} under catalog.{kind}.{segs[1]}.{name}")
        steps.append(("key", s))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}: only numbers can be swept in the catalog (this is {type(value).__name__})")
    return Target("catalog", tuple(steps), integer=isinstance(value, int), base=value, money=money)


def _is_price(entry, name: str) -> bool:
    return isinstance(getattr(entry, name, None), PriceRange)
