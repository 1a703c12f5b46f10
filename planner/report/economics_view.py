"""Render what a plan earns (issue 10): the investment view, the hour classes of a demand profile and the
per-platform comparison. Renders `plan.economics`, `plan.hourly` and `plan.platforms`; computes nothing."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from planner.fmt import formatted as _n
from planner.fmt import table_usd
from planner.plan import Plan


def _usds(*xs: float | None) -> str:
    return " / ".join(table_usd(x) for x in xs)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:,.1f}%"


def render_economics(console: Console, plan: Plan) -> None:
    e = plan.economics
    if e is None:
        return
    t = Table(title="Investment view (year averages)", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    rows = [
        ("revenue / cost / profit per hour",
         _usds(e.revenue_usd_per_hour, e.cost_usd_per_hour, e.profit_usd_per_hour)),
        ("gross margin (after capital charge)", _pct(e.gross_margin)),
        ("capex at year 0", table_usd(e.capex_usd)),
        ("revenue / opex / capital charge per year",
         _usds(e.revenue_usd_per_year, e.opex_usd_per_year, e.capital_charge_usd_per_year)),
        ("payback (simple / discounted)",
         f"{_n(e.payback_years, ',.2f')} / {_n(e.discounted_payback_years, ',.2f')} years"),
        (f"NPV at {100 * e.discount_rate:g}% over {e.horizon_years:g} years", table_usd(e.npv_usd)),
        ("IRR", _pct(e.irr)),
        # rented servers count in the hours they are rented (plan.json `provisioned_mw`), unlike the fleet's
        # site power and its per-MW figure, which are owned servers' only
        ("provisioned power (IT nameplate x PUE, owned and rented)", f"{e.provisioned_mw:,.3f} MW"),
        ("revenue / profit per MW-year",
         _usds(e.revenue_usd_per_mw_year, e.profit_usd_per_mw_year)),
        ("output tok/s served per provisioned MW / per average IT W",
         f"{_n(e.output_tok_s_per_mw)} / {_n(e.output_tok_s_per_w, ',.3g')}"),
        (f"per rack ({e.racks}): revenue / profit per year, tok/s",
         f"{_usds(e.revenue_usd_per_rack_year, e.profit_usd_per_rack_year)}, "
         f"{_n(e.output_tok_s_per_rack)}"),
        ("output tok/s served / offered (utilization)",
         f"{_n(e.served_output_tok_s)} / {_n(e.capacity_output_tok_s)} ({_pct(e.utilization)})"),
        ("$ per million output tokens served", _n(e.usd_per_mtok_served, ",.3f")),
        *[(f"  revenue {w} per hour", table_usd(v)) for w, v in e.revenue_by_workload_usd_per_hour.items()],
    ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if plan.hourly:
        _render_hourly(console, plan)
    if plan.platforms:
        _render_platforms(console, plan)


def _render_hourly(console: Console, plan: Plan) -> None:
    t = Table(title="Hour classes (demand profile)", title_justify="left")
    for col in ("hours", "h/week", "owned rep.", "rented rep.", "rented servers", "served tok/s", "util.",
                "cost $/h", "revenue $/h", "profit $/h"):
        t.add_column(col, justify="left" if col in ("hours", "rented servers") else "right")
    for h in plan.hourly:
        t.add_row(
            h.hours,
            str(h.hours_per_week),
            str(h.owned_replicas),
            str(h.rented_replicas),
            ", ".join(f"{n} x {s}" for s, n in h.servers_rented.items()) or "-",
            _n(sum(h.served_output_tok_s.values())),
            _pct(h.utilization),
            _n(h.cost_usd_per_hour, ",.2f"),
            _n(h.revenue_usd_per_hour, ",.2f"),
            _n(h.profit_usd_per_hour, ",.2f"),
        )
    console.print(t)


def _render_platforms(console: Console, plan: Plan) -> None:
    t = Table(title="Platforms (the best plan on each accelerator alone, same site and prices)",
              title_justify="left")
    for col in ("accelerator", "precision", "GPUs", "profit $/h", "vs best", "profit $/MW-yr",
                "revenue $/MW-yr", "tok/s per MW", "status"):
        t.add_column(col, justify="left" if col in ("accelerator", "precision", "status") else "right")
    for p in plan.platforms:
        t.add_row(
            p.accelerator,
            ", ".join(p.precisions) or "-",
            str(p.gpus),
            _n(p.profit_usd_per_hour, ",.0f"),
            "-" if p.difference_pct is None else f"{p.difference_pct:+.1f}%",
            table_usd(p.profit_usd_per_mw_year),
            table_usd(p.revenue_usd_per_mw_year),
            _n(p.output_tok_s_per_mw),
            p.status,
        )
    console.print(t)
