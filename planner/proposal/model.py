"""The proposal's content: typed, computed once from Plan + problem + catalog, rendered by planner.report.

Every figure is stored unrounded in its unit (named in the field); renderers format, never compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ONE_TIME = "one-time"
PER_YEAR = "per year"


@dataclass(frozen=True)
class Figure:
    """One headline number: `key` is stable (tests and spreadsheets find it), `unit` says how to format it."""

    key: str
    label: str
    value: float | None
    unit: str  # usd, usd_per_year, usd_per_mtok, tokens_per_usd, tokens_per_kwh, kw, tok_s, years, pct, count
    note: str = ""


@dataclass(frozen=True)
class BomLine:
    section: str
    item: str
    description: str
    quantity: float
    unit: str
    unit_price_usd: float
    recurrence: str  # ONE_TIME or PER_YEAR
    source: str
    date: str
    unit_low_usd: float | None = None
    unit_high_usd: float | None = None
    assumed: bool = False

    @property
    def extended_usd(self) -> float:
        return self.quantity * self.unit_price_usd


@dataclass(frozen=True)
class DeploymentRow:
    workload: str
    model: str
    precision: str
    kv_precision: str
    engine: str
    accelerator: str
    system: str
    mode: str
    parallelism: str
    serving: str
    replicas: int
    gpus: int
    output_tok_s: float
    ttft_ms: float
    ttft_target_ms: float | None
    tpot_ms: float
    tpot_target_ms: float | None
    percentile: str
    quality: float | None
    quality_floor: str


@dataclass(frozen=True)
class RackSlot:
    system: str
    units: int  # 0: the system is the whole rack
    power_kw: float


@dataclass(frozen=True)
class RackDrawing:
    rack_type: str
    count: int  # identical racks drawn once
    units_total: int
    max_kw: float | None
    power_kw: float
    units_used: int
    slots: tuple[RackSlot, ...]

    @property
    def whole_rack(self) -> bool:
        """A rack-scale system (NVL72) fills it: it has no rack units of its own ("0 of 48 U" misread)."""
        return any(s.units == 0 for s in self.slots)


@dataclass(frozen=True)
class TcoYear:
    year: int  # 0: purchase
    capex_usd: float
    energy_usd: float
    facility_usd: float
    maintenance_usd: float
    rental_usd: float
    other_usd: float = 0.0  # cost components the plan adds that the proposal does not name (e.g. licences)

    @property
    def total_usd(self) -> float:
        return (self.capex_usd + self.energy_usd + self.facility_usd + self.maintenance_usd + self.rental_usd
                + self.other_usd)


@dataclass(frozen=True)
class Alternative:
    name: str
    kind: str  # chosen, family, rent-vs-buy, runner-up
    accelerators: str
    annual_cost_usd: float | None
    capex_usd: float | None
    output_tok_s: float | None
    usd_per_mtok: float | None
    delta_usd_per_year: float | None
    delta_pct: float | None
    note: str = ""


@dataclass(frozen=True)
class TornadoBar:
    driver: str
    low_label: str
    high_label: str
    low_usd_per_year: float | None
    high_usd_per_year: float | None
    note: str = ""

    @property
    def swing_usd(self) -> float:
        vals = [v for v in (self.low_usd_per_year, self.high_usd_per_year) if v is not None]
        return max(vals) - min(vals) if len(vals) == 2 else 0.0


@dataclass(frozen=True)
class Assumption:
    topic: str
    item: str
    value: str
    source: str
    date: str
    assumed: bool
    reason: str = ""


@dataclass(frozen=True)
class Risk:
    kind: str
    severity: str  # high, medium, low
    text: str


@dataclass(frozen=True)
class Proposal:
    title: str
    date: str
    problem: str
    description: str
    objective: str
    status: str
    buy_summary: tuple[str, ...]
    figures: tuple[Figure, ...]
    deployments: tuple[DeploymentRow, ...]
    racks: tuple[RackDrawing, ...]
    bom: tuple[BomLine, ...]
    horizon_years: int
    cost_of_capital: float
    tco: tuple[TcoYear, ...]
    alternatives: tuple[Alternative, ...]
    base_usd_per_year: float
    tornado: tuple[TornadoBar, ...]
    assumptions: tuple[Assumption, ...]
    risks: tuple[Risk, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    deployments_note: str = ""  # what the deployment rows' counts are, where that is not obvious (hour classes)

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)

    @property
    def capex_total_usd(self) -> float:
        return sum(b.extended_usd for b in self.bom if b.recurrence == ONE_TIME)

    @property
    def recurring_usd_per_year(self) -> float:
        return sum(b.extended_usd for b in self.bom if b.recurrence == PER_YEAR)
