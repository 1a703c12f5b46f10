"""`planner propose`: solve (or take a re-verified plan.json) and write the procurement proposal."""

from __future__ import annotations

import datetime as dt

import click

from planner.cli.common import (
    POSITIVE,
    catalog_option,
    console,
    handle_errors,
    load_run_catalog,
    make_out_dir,
    write_out,
)
from planner.errors import InputError
from planner.optimize.backends import BACKENDS

FORMATS = ("html", "md", "pdf", "xlsx", "csv", "json")


def parse_formats(text: str) -> tuple[str, ...]:
    got = [x.strip().lower() for x in text.split(",") if x.strip()]
    bad = [x for x in got if x not in FORMATS]
    if bad or not got:
        raise InputError(f"--format {text!r}: unknown format {', '.join(bad) or '(none)'} "
                         f"(choose from: {', '.join(FORMATS)}, comma-separated)")
    return tuple(x for x in FORMATS if x in got)


def parse_date(text: str | None) -> str:
    if text is None:
        return dt.datetime.now(dt.UTC).date().isoformat()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"--date {text!r}: give a date as YYYY-MM-DD") from None


@click.command("propose")
@click.argument("problem", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), default=None,
              help="Use this plan.json (re-verified against PROBLEM first) instead of solving.")
@click.option("--format", "formats", default=",".join(FORMATS), show_default=True,
              help="Comma-separated outputs: html, md, pdf, xlsx, csv, json.")
@click.option("--title", default=None, help="Title of the proposal (default: from the problem name).")
@click.option("--date", "date", default=None, help="Date printed on the proposal, YYYY-MM-DD (default: today).")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="MIP backend (default: scip).")
@click.option("--time-limit", "time_limit", type=POSITIVE, default=None, help="Seconds per MILP.")
@catalog_option
@handle_errors
def propose(problem: str, out_dir: str, plan_file: str | None, formats: str, title: str | None, date: str | None,
            backend: str | None, time_limit: float | None, catalog_dirs: tuple[str, ...]) -> None:
    """Write a procurement proposal for PROBLEM.yaml into --out: proposal.html/.pdf/.md, bom.csv/.xlsx and
    plan.json (exit 2: bad input, 3: infeasible, 4: solver failure)."""
    import time
    from importlib.metadata import version

    from planner.plan import plan_json
    from planner.proposal.alternatives import start_jobs
    from planner.proposal.build import build_proposal
    from planner.proposal.solver import solve_for_proposal
    from planner.report.proposal_files import render_files

    t0 = time.perf_counter()
    want = parse_formats(formats)
    day = parse_date(date)
    if "pdf" in want:
        from planner.report.proposal_pdf import pdf_available

        if not pdf_available():
            if formats != ",".join(FORMATS):
                from planner.report.proposal_pdf import render_pdf

                render_pdf("")  # raises the InputError that says how to install it
            want = tuple(x for x in want if x != "pdf")
            console.print("note: proposal.pdf skipped: WeasyPrint is not installed (pip install \"planner[pdf]\")")
    cat = load_run_catalog(catalog_dirs)
    out = make_out_dir(out_dir)
    # the re-solves for alternatives and sensitivity start as soon as the candidates exist, beside the main solve
    solved = solve_for_proposal(problem, cat, plan_path=plan_file, catalog_dirs=catalog_dirs, backend=backend,
                                time_limit_s=time_limit, on_candidates=lambda s: start_jobs(s, cat, backend))
    text = plan_json(solved.plan)  # 6 significant digits; the proposal shows the unrounded plan
    t_solve = time.perf_counter() - t0
    prop = build_proposal(solved, cat, title=title, date=day, backend=backend)
    written = render_files(prop, want, text, version("planner"))
    for name, data in written.items():
        write_out(out / name, data)
    elapsed = time.perf_counter() - t0
    console.print(f"wrote {', '.join(str(out / n) for n in written)}")
    capex = prop.figure("capex_usd").value
    console.print(f"capex ${capex:,.0f}, total cost ${prop.base_usd_per_year:,.0f} a year; "
                  f"{len(prop.alternatives)} alternatives, {len(prop.tornado)} sensitivity drivers; "
                  f"{elapsed:.1f} s ({t_solve:.1f} s solve)", highlight=False)
