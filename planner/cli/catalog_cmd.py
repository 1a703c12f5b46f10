"""`planner catalog ...`: browse, validate and export the schemas of the catalogs."""

from __future__ import annotations

import json

import click

from planner.catalog.kinds import KIND_NAMES
from planner.cli.common import catalog_option, console, handle_errors, load_run_catalog


@click.group()
def catalog() -> None:
    """Browse and validate the catalogs (accelerators, systems, models, precisions, ...)."""


@catalog.command("list")
@click.argument("kind", required=False, type=click.Choice(list(KIND_NAMES)))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@catalog_option
@handle_errors
def catalog_list(kind: str | None, as_json: bool, catalog_dirs: tuple[str, ...]) -> None:
    """List entries of one KIND, or of every kind."""
    from planner.report.catalog_view import list_rows, render_list

    cat = load_run_catalog(catalog_dirs)
    kinds = [kind] if kind else list(KIND_NAMES)
    if as_json:
        click.echo(json.dumps(list_rows(cat, kinds), indent=2))
    else:
        render_list(console, cat, kinds)


@catalog.command("show")
@click.argument("entry_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@catalog_option
@handle_errors
def catalog_show(entry_id: str, as_json: bool, catalog_dirs: tuple[str, ...]) -> None:
    """Show every field of ENTRY_ID with units and sources."""
    from planner.errors import InputError
    from planner.report.catalog_view import render_entry

    cat = load_run_catalog(catalog_dirs)
    found = cat.find(entry_id)
    if not found:
        import difflib

        ids = sorted({i for t in cat.entries.values() for i in t})
        close = difflib.get_close_matches(entry_id, ids, n=3)
        hint = f" (did you mean: {', '.join(close)}?)" if close else " (`planner catalog list` shows all ids)"
        raise InputError(f"no catalog entry with id {entry_id!r}{hint}")
    if as_json:
        click.echo(json.dumps({k: e.model_dump(mode="json") for k, e in found}, indent=2))
        return
    for kind, entry in found:
        render_entry(console, cat, kind, entry)


@catalog.command("validate")
@click.argument("dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--no-bundled", is_flag=True, help="Validate DIRS alone, without the bundled catalog under them.")
@handle_errors
def catalog_validate(dirs: tuple[str, ...], no_bundled: bool) -> None:
    """Validate the bundled catalog with DIRS layered over it (later wins)."""
    if no_bundled and not dirs:
        from planner.errors import InputError

        raise InputError("--no-bundled needs at least one catalog folder to validate")

    cat = load_run_catalog(dirs, include_bundled=not no_bundled)
    counts = ", ".join(f"{len(t)} {k}" for k, t in cat.entries.items() if t)
    assumed = sum(len(e.assumed_fields()) for t in cat.entries.values() for e in t.values())
    click.echo(f"catalog OK: {counts}; {assumed} figures marked assumed")


@catalog.command("schema")
@click.argument("kind", required=False, type=click.Choice(list(KIND_NAMES)))
def catalog_schema(kind: str | None) -> None:
    """Print the JSON Schema of one KIND (or all), for editors."""
    kinds = [kind] if kind else list(KIND_NAMES)
    from planner.catalog.schemas import KINDS

    schemas = {k: KINDS[k].model_json_schema() for k in kinds}
    click.echo(json.dumps(schemas[kind] if kind else schemas, indent=2))


