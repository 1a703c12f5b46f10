"""Hour classes: the distinct demand levels of a week, the scenarios of a time-varying plan.

A workload's `demand_profile` gives 24 hourly multipliers of its peak demand (every day), or one list for
weekdays and one for weekends. Over the 168 hours of a week each hour has a vector of multipliers (one per
workload; 1 where a workload has no profile). Hours with the same vector are one class: the plan is the same for
them, so the MIP needs one scenario per class, weighted by its share of the year (hours per week / 168). Exact,
not an approximation: cost and revenue are linear in the hours a class lasts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HOURS_PER_DAY = 24
WEEKDAYS, WEEKEND_DAYS = 5, 2
HOURS_PER_WEEK = HOURS_PER_DAY * (WEEKDAYS + WEEKEND_DAYS)


@dataclass(frozen=True)
class DailyProfile:
    """Multipliers of peak demand for each hour of a weekday and of a weekend day (0..23 = hour starting)."""

    weekday: tuple[float, ...]
    weekend: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("weekday", "weekend"):
            hours = getattr(self, name)
            if len(hours) != HOURS_PER_DAY:
                raise ValueError(f"{name}: needs {HOURS_PER_DAY} hourly multipliers, got {len(hours)}")
            if any(not 0 <= m <= 1 for m in hours):
                raise ValueError(f"{name}: multipliers of peak must lie in [0, 1]")

    @classmethod
    def every_day(cls, hours: Sequence[float]) -> DailyProfile:
        return cls(tuple(hours), tuple(hours))


@dataclass(frozen=True)
class HourClass:
    """Hours of the week that share one demand level per workload."""

    label: str  # e.g. "weekday 09-17, weekend 12-14"
    multipliers: tuple[tuple[str, float], ...]  # (workload, multiplier of peak), workloads sorted
    hours_per_week: int

    @property
    def share(self) -> float:
        """Fraction of the year this class lasts."""
        return self.hours_per_week / HOURS_PER_WEEK

    def multiplier(self, workload: str) -> float:
        return dict(self.multipliers).get(workload, 1.0)


def _ranges(hours: list[int]) -> str:
    """[0, 1, 2, 5, 22, 23] -> "00-02, 05, 22-23" (hours starting)."""
    out, start = [], None
    for i, h in enumerate(hours):
        if start is None:
            start = h
        if i + 1 == len(hours) or hours[i + 1] != h + 1:
            out.append(f"{start:02d}" if start == h else f"{start:02d}-{h:02d}")
            start = None
    return ", ".join(out)


def _label(day_hours: dict[str, list[int]]) -> str:
    if day_hours.get("weekday") == day_hours.get("weekend"):
        return f"daily {_ranges(day_hours['weekday'])}"
    return "; ".join(f"{day} {_ranges(hs)}" for day, hs in day_hours.items() if hs)


def hour_classes(profiles: Mapping[str, DailyProfile | None]) -> list[HourClass]:
    """The distinct demand levels of a week across all workloads, highest total demand first (ties: the order
    the level first occurs in the week). Workloads without a profile run at 1 all week. Deterministic."""
    workloads = sorted(profiles)
    levels: dict[tuple[float, ...], dict[str, list[int]]] = {}
    for day in ("weekday", "weekend"):
        for h in range(HOURS_PER_DAY):
            key = tuple(getattr(profiles[w], day)[h] if profiles[w] is not None else 1.0 for w in workloads)
            levels.setdefault(key, {"weekday": [], "weekend": []})[day].append(h)
    order = sorted(enumerate(levels.items()), key=lambda t: (-sum(t[1][0]), t[0]))
    return [
        HourClass(
            label=_label(days),
            multipliers=tuple(zip(workloads, key, strict=True)),
            hours_per_week=len(days["weekday"]) * WEEKDAYS + len(days["weekend"]) * WEEKEND_DAYS,
        )
        for _, (key, days) in order
    ]
