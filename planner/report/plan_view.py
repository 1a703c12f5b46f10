"""Render a `Plan` for people: deployments, fleet, racks, economics, binding limits, runner-up."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from planner.fmt import formatted as _n
from planner.fmt import table_usd
from planner.outputs import safe_text as _s
from planner.plan import Fleet, Plan
from planner.report.economics_view import render_economics


def _parallel(tp, pp, ep, dp) -> str:
    return f"tp{tp} pp{pp}" + (f" ep{ep}" if ep > 1 else "") + (f" adp{dp}" if dp > 1 else "")


def _ms(achieved: float | None, target: float | None) -> str:
    """achieved / target in ms ('-' where either is unknown)."""
    return " / ".join("-" if v is None else _ms_value(v * 1e3) for v in (achieved, target))


def _ms_value(ms: float) -> str:
    """Four significant figures, whole milliseconds from 1 s up (never '3.953e+04')."""
    return f"{ms:,.0f}" if ms >= 999.5 else f"{ms:.4g}"


def _targets_table(console: Console, plan: Plan) -> None:
    """What each workload was solved against beside what the plan achieves: latency at its SLO percentile, the
    quality floor. Older plans without targets print nothing."""
    rows = [r for r in plan.workloads if r.ttft_target_s is not None or r.tpot_target_s is not None]
    if not rows:
        return
    from planner.perf.slo_policy import recorded_basis  # the perf package is heavy to import: only with targets

    t = Table(title="Targets (achieved / target)", title_justify="left")
    for col in ("workload", "held at", "TTFT ms", "TPOT ms", "quality"):
        t.add_column(col, justify="left" if col == "workload" else "right")
    for r in rows:
        floor = "-" if r.quality_floor_score is None else \
            f"{_n(r.quality, '.1f')} / {r.quality_floor_score:g} ({_s(r.quality_floor_benchmark or '')})"
        pct = recorded_basis(r.slo_basis, r.slo_percentile, plan.servings_of(r.workload))
        ttft = _ms(r.ttft_s, r.ttft_target_s)
        if r.ttft_target_s is None and r.ttft_s is not None:  # no TTFT target: the basis states the bound used
            ttft = f"{_ms_value(r.ttft_s * 1e3)} / none"
        t.add_row(_s(r.workload), _s(pct), ttft, _ms(r.tpot_s, r.tpot_target_s), floor)
    console.print(t)
    lim, fl = plan.limits, plan.fleet
    if lim is None:
        return
    used = [("site power", lim.site_power_kw, fl.facility_power_kw, "kW"),
            ("capex budget", lim.budget_capex_usd, fl.capex_usd, "USD"),
            ("hourly budget", lim.budget_usd_per_hour, fl.cost_usd_per_hour, "USD/h")]
    parts = [f"{name} {_n(have)} of {_n(cap)} {unit}" for name, cap, have, unit in used if cap is not None]
    if parts:
        console.print("limits (used of allowed): " + "; ".join(parts), highlight=False)


def _serving(d) -> str:
    """agg, or the disaggregated unit: prefill instances x their layout + decode instances (the parallel
    column is the decode layout)."""
    if d.serving == "aggregated":
        return "agg"
    if d.prefill_instances is None or d.decode_instances is None:
        return "disagg"
    pre = _parallel(*(x or 1 for x in (d.prefill_tp, d.prefill_pp, d.prefill_ep, d.prefill_attn_dp)))
    return f"disagg {d.prefill_instances}P {pre} + {d.decode_instances}D"


DEPLOYMENT_COLUMNS = ("workload", "model", "precision", "system", "mode", "engine", "parallel", "spec", "serving",
                      "batch", "replicas", "GPUs", "out tok/s", "TTFT ms", "TPOT ms", "quality")
NUMERIC_COLUMNS = ("batch", "replicas", "GPUs", "out tok/s", "TTFT ms", "TPOT ms", "quality")
# columns that say the same for every deployment of most plans: shown once under the table instead, so the
# names a buyer reads (model, system) are not cut to fit a terminal
SHARED_WHEN_EQUAL = ("mode", "engine", "spec", "serving")
NAME_COLUMNS = ("workload", "model", "system")
CAPTION_NAMES = {"spec": "speculative decoding"}
CAPTION_VALUES = {"-": "none", "agg": "aggregated"}


def _deployment_row(d) -> list[str]:
    return [
        _s(d.workload),
        _s(d.model),
        _s(f"{d.precision}/kv {d.kv_precision}"),
        _s(d.system),
        _s(d.mode),
        _s(d.engine or "generic"),
        _parallel(d.tp, d.pp, d.ep, d.attn_dp),
        _s("-" if d.speculative == "none" else d.speculative),
        _s(_serving(d)),
        str(d.batch),
        str(d.replicas),
        str(d.gpus),
        _n(d.output_tok_s),
        _n(d.ttft_s * 1000),
        _n(d.tpot_s * 1000, ".1f"),
        _n(d.quality, ".1f"),
    ]


def _deployments_table(console: Console, plan: Plan) -> None:
    rows = [_deployment_row(d) for d in plan.deployments]
    shared = {c: rows[0][DEPLOYMENT_COLUMNS.index(c)] for c in SHARED_WHEN_EQUAL
              if rows and len({r[DEPLOYMENT_COLUMNS.index(c)] for r in rows}) == 1}
    keep = [i for i, c in enumerate(DEPLOYMENT_COLUMNS) if c not in shared]
    t = Table(title="Deployments", title_justify="left")
    for i in keep:
        col = DEPLOYMENT_COLUMNS[i]
        # a name too wide for a narrow terminal folds onto a second line instead of losing its end to "…"
        t.add_column(col, justify="right" if col in NUMERIC_COLUMNS else "left",
                     overflow="fold" if col in NAME_COLUMNS else "ellipsis")
    for r in rows:
        t.add_row(*(r[i] for i in keep))
    if shared:
        t.caption = "every deployment: " + ", ".join(f"{CAPTION_NAMES.get(c, c)} {CAPTION_VALUES.get(v, v)}"
                                                     for c, v in shared.items())
        t.caption_justify = "left"
    console.print(t)


def _served(capacity_tok_s: float, required_tok_s: float | None) -> str:
    """Share of the required output the capacity covers: under max_throughput a budget may cover only part."""
    if not required_tok_s:
        return "-"
    share = min(1.0, capacity_tok_s / required_tok_s)
    return "100%" if share >= 1.0 else f"{share:.1%}"


def render_plan(console: Console, plan: Plan) -> None:
    """The whole plan for a terminal: headline, deployments, coverage, targets, fleet, economics, notes."""
    gap = "-" if plan.gap is None else f"{plan.gap:.2e}"
    console.print(
        f"[bold]{_s(plan.problem)}[/bold]: {_s(plan.status)}, {_s(plan.objective)} = "
        f"{_n(plan.objective_value, ',.6g')} {_s(plan.objective_unit)} (bound {_n(plan.best_bound, ',.6g')}, "
        f"gap {gap}) with {_s(plan.backend)} in {plan.solve_time_s:.2f} s; {plan.candidates} candidates",
        highlight=False,
    )
    _deployments_table(console, plan)
    _coverage_table(console, plan)
    _targets_table(console, plan)
    _fleet_tables(console, plan.fleet)
    _economics_table(console, plan.fleet, peak_class=bool(plan.hourly))
    for name, p in plan.price_of.items():
        console.print(f"[bold]cost of {name}:[/bold] {p.message}")
    _placement_line(console, plan)
    render_economics(console, plan)
    _closing_lines(console, plan)


def _coverage_table(console: Console, plan: Plan) -> None:
    w = Table(title="Demand coverage", title_justify="left")
    for col in ("workload", "demand tok/s", "required (headroom)", "capacity tok/s", "served", "replicas"):
        w.add_column(col, justify="left" if col == "workload" else "right")
    for r in plan.workloads:
        w.add_row(
            _s(r.workload),
            _n(r.demand_output_tok_s),
            _n(r.required_output_tok_s),
            _n(r.capacity_output_tok_s),
            _served(r.capacity_output_tok_s, r.required_output_tok_s),
            str(r.replicas),
        )
    console.print(w)


def _fleet_tables(console: Console, fl: Fleet) -> None:
    """Servers by how they are obtained, the GPUs they hold, and the racks they fill."""
    f = Table(title="Fleet", title_justify="left")
    for col in ("system", "new", "existing", "rented", "total"):
        f.add_column(col, justify="left" if col == "system" else "right")
    for s, n in fl.servers.items():
        f.add_row(
            _s(s),
            str(fl.servers_new.get(s, 0)),
            str(fl.servers_existing.get(s, 0)),
            str(fl.servers_rented.get(s, 0)),
            str(n),
        )
    console.print(f)
    console.print("GPUs: " + ", ".join(f"{n} x {_s(a)}" for a, n in fl.gpus.items()), highlight=False)
    if not fl.racks:
        return
    r = Table(title=f"Racks ({len(fl.racks)})", title_justify="left")
    for col in ("#", "rack type", "systems each", "kW each", "U each"):
        r.add_column(col, justify="left" if col in ("rack type", "systems each") else "right")
    # consecutive identical racks as one row ("8-57"): ai-factory-10mw printed 50 equal NVL72 rows
    rows = [(_s(rk.rack_type), _s(", ".join(f"{n} x {s}" for s, n in rk.systems.items())), f"{rk.power_kw:,.1f}",
             str(rk.rack_units_used or "-")) for rk in fl.racks]
    first = 0
    for i, row in enumerate(rows):
        if i + 1 < len(rows) and rows[i + 1] == row:
            continue
        r.add_row(str(i + 1) if i == first else f"{first + 1}-{i + 1}", *row)
        first = i + 1
    console.print(r)


def _economics_table(console: Console, fl: Fleet, peak_class: bool = False) -> None:
    """The fleet's own figures. With a demand profile they are the peak hour class's (its rentals, energy and
    opex as if every hour were the peak): said in the title and the opex line, since the investment view below
    prints the year averages beside them (diurnal-own-rent: opex $2.29M here, $1.03M a year there)."""
    title = "Economics and power (peak hour class; year averages in the investment view)" if peak_class \
        else "Economics and power"
    e = Table(title=title, title_justify="left", show_header=False)
    e.add_column("what")
    e.add_column("value", justify="right")
    rows = [
        ("capex (new servers, network, racks)", table_usd(fl.capex_usd)),
        ("opex per year at the peak class's rate" if peak_class else "opex per year",
         table_usd(fl.opex_usd_per_year)),
        ("cost per hour (all in)", table_usd(fl.cost_usd_per_hour)),
        *[(f"  {_s(k)}", table_usd(v)) for k, v in fl.cost_breakdown_usd_per_hour.items() if v],
        ("IT power all-in provisioned / average", f"{fl.it_power_kw:,.0f} / {fl.it_power_avg_kw:,.0f} kW"),
        ("facility power (IT x PUE)", f"{fl.facility_power_kw:,.0f} kW"),
        ("output tokens/s (total tok/s)", f"{fl.output_tok_s:,.0f} ({fl.total_tok_s:,.0f})"),
        *(
            [("$ per million output tokens at average demand (headline)", _n(fl.usd_per_mtok_at_average, ",.3f")),
             ("output tokens per $ at average demand", _n(fl.tokens_per_usd_at_average))]
            if fl.headline == "at_average" else []
        ),
        ("output tokens per $ at capacity", _n(fl.tokens_per_usd)),
        ("$ per million output tokens at capacity", _n(fl.usd_per_mtok, ",.3f")),
        *(
            [("$ per million output tokens at average demand", _n(fl.usd_per_mtok_at_average, ",.3f"))]
            if fl.headline != "at_average" and fl.usd_per_mtok_at_average is not None else []
        ),
        ("output tokens per kWh (owned, all-in IT)", _n(fl.tokens_per_kwh)),
        # capacity per IT MW (before PUE); the investment view's per-MW figure is served tokens per facility MW
        ("output tokens/s at capacity per provisioned IT MW (owned)", _n(fl.output_tok_s_per_provisioned_mw)),
        *[(f"rental term {s}", t) for s, t in fl.rental_terms.items()],
    ]
    for k, v in rows:
        e.add_row(k, v)
    console.print(e)


def _placement_line(console: Console, plan: Plan) -> None:
    if not plan.placement:
        return
    spread = ", ".join(
        f"{e.server_id}{'@' + e.rack if e.rack else ''}: {sum(e.deployments.values())}"
        for e in plan.placement[:12]
    )
    more = f" (+{len(plan.placement) - 12} more)" if len(plan.placement) > 12 else ""
    console.print(f"[bold]placement (replicas per server):[/bold] {spread}{more}")


def _closing_lines(console: Console, plan: Plan) -> None:
    """Binding limits, the runner-up, notes and timing."""
    if plan.binding:
        console.print("[bold]Binding limits[/bold]")
        for b in plan.binding:
            console.print(f"  - {_s(b.message)}", highlight=False)
    if plan.runner_up:
        console.print(f"[bold]Runner-up[/bold]: {_s(plan.runner_up.message)}", highlight=False)
    for n in plan.notes:
        console.print(f"[dim]note: {_s(n)}[/dim]", highlight=False)
    timing = ", ".join(f"{_s(k)} {v:.2f} s" for k, v in plan.timing.items())
    if timing:
        console.print(f"[dim]timing: {timing}[/dim]", highlight=False)
