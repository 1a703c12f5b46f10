"""Problem-file sections for what tokens earn and when they are asked for (issue 10): `value`, `priority`,
`demand_profile`. Strict like the rest of the problem file; every error names the field.

    value: {usd_per_mtok_output: 2.0, usd_per_mtok_input: 0.5,
            tiers: [{min_tok_s_per_user: 100, usd_per_mtok_output: 4.0}]}
    priority: 3                        # instead of value: a weight for value-weighted max_throughput
    demand_profile: [24 multipliers]   # or {weekday: [24], weekend: [24]}; multipliers of the peak demand
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from planner.catalog.schema_base import Strict as _CatalogStrict
from planner.catalog.schema_base import unit

HOURS = 24
MAX_USD_PER_MTOK = 10_000.0  # far above any list price (frontier models ~ $100/Mtok): a typo guard


class Strict(_CatalogStrict):
    """As the problem file's sections: unknown fields, `.inf`, and true/false for numbers are errors."""


UsdPerMtok = Annotated[float, Field(ge=0, le=MAX_USD_PER_MTOK, json_schema_extra=unit("USD/Mtok"))]


class PriceTier(Strict):
    """An interactivity tier: services at >= `min_tok_s_per_user` tokens/s per user (1 / TPOT) earn this."""

    min_tok_s_per_user: float = Field(gt=0, le=100_000, json_schema_extra=unit("tok/s/user"))
    usd_per_mtok_output: UsdPerMtok


class TokenValue(Strict):
    """What a million tokens earn. Tiers raise the output price for faster (more interactive) service: their
    thresholds must increase and their prices must not fall as the threshold rises (nor below the base)."""

    usd_per_mtok_output: UsdPerMtok = Field(description="price per million output tokens (the base tier)")
    usd_per_mtok_input: UsdPerMtok = Field(0.0, description="price per million input (prompt) tokens")
    tiers: list[PriceTier] = Field(default_factory=list, description="faster tiers, by tokens/s per user")

    @model_validator(mode="after")
    def _monotone(self) -> TokenValue:
        prev_t, prev_p, prev_name = 0.0, self.usd_per_mtok_output, "the base usd_per_mtok_output"
        for i, t in enumerate(self.tiers):
            if t.min_tok_s_per_user <= prev_t:
                raise ValueError(
                    f"tiers[{i}].min_tok_s_per_user {t.min_tok_s_per_user:g} must be above the previous tier's "
                    f"{prev_t:g}: list tiers from slowest to fastest"
                )
            if t.usd_per_mtok_output < prev_p:
                raise ValueError(
                    f"tiers[{i}].usd_per_mtok_output {t.usd_per_mtok_output:g} is below {prev_name} "
                    f"({prev_p:g}): a faster tier must not be cheaper"
                )
            prev_t, prev_p = t.min_tok_s_per_user, t.usd_per_mtok_output
            prev_name = f"tiers[{i}]'s price"
        return self

    def tier_pairs(self) -> tuple[tuple[float, float], ...]:
        return tuple((t.min_tok_s_per_user, t.usd_per_mtok_output) for t in self.tiers)


def _check_hours(hours: object, name: str) -> list:
    if not isinstance(hours, list):
        raise ValueError(f"{name}must be a list of {HOURS} hourly multipliers of peak demand, got {hours!r}")
    if len(hours) != HOURS:
        raise ValueError(
            f"{name}needs exactly {HOURS} hourly multipliers (hour 0 = midnight to 1 am), got {len(hours)}"
        )
    for h, m in enumerate(hours):
        if isinstance(m, bool) or not isinstance(m, int | float) or not 0 <= m <= 1:
            raise ValueError(f"{name}hour {h}: a multiplier of peak demand must be a number in [0, 1], got {m!r}")
    return hours


Hours = Annotated[list[float], AfterValidator(lambda v: _check_hours(v, ""))]


class DemandProfile(Strict):
    """A day's demand as multipliers of the workload's peak: one list for every day, or weekday and weekend."""

    weekday: Hours
    weekend: Hours

    @model_validator(mode="before")
    @classmethod
    def _every_day(cls, data):
        if isinstance(data, list):
            _check_hours(data, "")
            return {"weekday": data, "weekend": data}
        if not isinstance(data, dict):
            raise ValueError(
                f"must be a list of {HOURS} hourly multipliers or {{weekday: [...], weekend: [...]}}, got {data!r}"
            )
        return data

    @model_validator(mode="after")
    def _some_demand(self) -> DemandProfile:
        if not any(self.weekday) and not any(self.weekend):
            raise ValueError("every multiplier is 0: the workload would never be asked for anything")
        return self


def check_value_fields(problem) -> list[str]:
    """Checks across sections (objective x workloads), as `field.path: message` lines; empty when fine.

    - a workload gives `value` or `priority`, not both;
    - max_profit needs a value for every workload (its own or the problem's `value`); priority weighs tokens
      for max_throughput only; headroom (capacity above peak) has no meaning when demand is only a cap;
    - a demand_profile multiplies the peak demand, so it needs one; profiles are solved for min_cost and
      max_profit;
    - value-weighted max_throughput needs a value for every workload (priority-weighted: missing weights are 1).
    """
    kind = problem.objective.kind
    out: list[str] = []
    for w in problem.workloads:
        at = f"workloads[{w.id}]"
        if w.value is not None and w.priority is not None:
            out.append(f"{at}: give value or priority, not both")
        if w.priority is not None and kind != "max_throughput":
            out.append(
                f"{at}.priority: weighs tokens for objective max_throughput, not {kind}"
                + (" (max_profit needs a value: {usd_per_mtok_output: ...})" if kind == "max_profit" else "")
            )
        if kind == "max_profit":
            if w.value is None and problem.value is None and w.priority is None:
                out.append(
                    f"{at}.value: objective max_profit needs what its tokens earn: give value: "
                    "{usd_per_mtok_output: ...} here or for the whole problem"
                )
            if w.headroom:
                out.append(f"{at}.headroom: max_profit treats demand as a cap on sales; headroom does not apply")
        if w.demand_profile is not None and w.demand is None:
            out.append(f"{at}.demand_profile: multiplies the peak demand: give demand too")
        if w.demand_profile is not None and kind not in ("min_cost", "max_profit"):
            out.append(f"{at}.demand_profile: supported with objective min_cost or max_profit, not {kind}")
    if kind == "max_throughput" and not any(w.priority is not None for w in problem.workloads):
        priced = [w.id for w in problem.workloads if w.value is not None or problem.value is not None]
        if priced and len(priced) < len(problem.workloads):
            missing = next(w.id for w in problem.workloads if w.id not in priced)
            out.append(
                f"workloads[{missing}].value: max_throughput weighs tokens by their value when any workload has "
                "one: give every workload a value (or the problem a default value), or use priority instead"
            )
    return out
