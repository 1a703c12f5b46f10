"""Render catalog entries for people (rich tables) and machines (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from planner.catalog.catalog import Catalog
from planner.catalog.schema_base import Entry
from planner.catalog.schemas import KINDS
from planner.outputs import safe_text as _s

# The columns `planner catalog list KIND` shows, chosen to compare entries at a glance.
LIST_COLUMNS: dict[str, list[str]] = {
    "accelerators": [
        "hbm_gb", "hbm_bandwidth_tb_s", "tdp_w", "dense_tflops", "native_precisions", "scale_up_domain",
    ],
    "systems": [
        "accelerator", "accelerator_count", "nameplate_power_kw", "network_power_kw", "cooling", "price.base_usd",
    ],
    "racks": ["max_power_kw", "rack_units", "cooling"],
    "sites": ["pue", "facility_usd_per_kw_month.base_usd"],
    "models": ["family", "total_params_b", "active_params_b", "layers", "max_context", "native_precision"],
    "precisions": ["bytes_per_weight", "compute_dtype", "weight_only_fallback", "kv_formats"],
    "workloads": ["isl_tokens", "osl_tokens", "ttft_ms", "tpot_ms", "quality_floor"],
    "rental_prices": ["system", "term", "provider_class", "lease_unit", "usd_per_gpu_hour.base_usd"],
    "economics": ["amortization_years", "cost_of_capital", "electricity_usd_per_kwh.base_usd"],
    "licences": ["vendors", "usd_per_gpu_year.base_usd", "rented_usd_per_gpu_hour.base_usd"],
    "engines": ["version", "date", "vendors", "attention_dp", "wide_ep", "max_batch", "cuda_graph_max_batch",
                "overlap_scheduling", "speculative_methods"],
    "network": ["role", "port_speed_gbps", "ports", "price.base_usd"],
}


def _get(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict) and set(v) == {"benchmark", "min_score"}:
        return f"{v['benchmark']} >= {_fmt(v['min_score'])}"
    if isinstance(v, dict):  # empty (an unset per-vendor table): "-" as for None, not a blank cell
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items() if x not in (None, False)) or "-"
    if isinstance(v, list):
        sep = "\n" if any(isinstance(x, dict) for x in v) else ", "
        return sep.join(_fmt(x) for x in v) or "-"
    if isinstance(v, float):
        if v.is_integer():
            return f"{int(v):,}"
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def list_rows(catalog: Catalog, kinds: list[str]) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        for e in catalog.entries[kind].values():
            data = e.model_dump(mode="json")
            row = {"kind": kind, "id": e.id, "name": e.name}
            if kind == "engines":
                data["speculative_methods"] = sorted({s["method"] for s in data["speculative"]}) or None
            row.update({c: _get(data, c) for c in LIST_COLUMNS[kind]})
            rows.append(row)
    return rows


def render_list(console: Console, catalog: Catalog, kinds: list[str]) -> None:
    for kind in kinds:
        cols = LIST_COLUMNS[kind]
        table = Table(title=f"{kind} ({len(catalog.entries[kind])})", title_justify="left")
        table.add_column("id", style="bold", no_wrap=True)
        for c in cols:
            u = field_unit(kind, c)
            table.add_column(f"{c} [{u}]" if u else c, overflow="fold")
        for row in list_rows(catalog, [kind]):
            table.add_row(_s(row["id"]), *(_s(_fmt(row[c])) for c in cols))
        console.print(table)


def field_unit(kind: str, path: str) -> str | None:
    field = KINDS[kind].model_fields.get(path.split(".")[0])
    extra = field.json_schema_extra if field else None
    return extra.get("unit") if isinstance(extra, dict) else None


def render_entry(console: Console, catalog: Catalog, kind: str, entry: Entry) -> None:
    """Every field with its unit, then per-field provenance, then the entry's sources."""
    table = Table(title=_s(f"{kind[:-1]} {entry.id}  ({catalog.origin.get((kind, entry.id), '?')})"),
                  title_justify="left", show_header=True)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_column("unit")
    table.add_column("provenance", overflow="fold")
    data = entry.model_dump(mode="json", exclude={"sources", "provenance"})
    for name, value in data.items():
        prov = entry.provenance.get(name)
        ptext = ""
        if prov:
            parts = []
            if prov.assumed:
                parts.append(f"ASSUMED: {prov.reason}")
            if prov.range:
                parts.append(f"range {_fmt(prov.range[0])}..{_fmt(prov.range[1])}")
            if prov.source:
                parts.append(prov.source)
            ptext = "; ".join(parts)
        sub = [f"{k}.{p}" for k, p in entry.provenance.items() if k.startswith(name + ".")]
        if sub:
            ptext = "; ".join([ptext, *sub]).strip("; ")
        table.add_row(_s(name), _s(_fmt(value)), _s(field_unit(kind, name) or ""), _s(ptext))
    console.print(table)
    console.print("[bold]sources[/bold]")
    for s in entry.sources:
        console.print(_s(f"  - {s.url}" + (f"  ({s.note})" if s.note else "")), soft_wrap=True, highlight=False)
