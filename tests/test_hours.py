"""Hour classes of demand profiles: the distinct levels of a week, each with the hours it lasts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.optimize.hours import HOURS_PER_WEEK, DailyProfile, hour_classes

DIURNAL = [0.25] * 7 + [0.5] * 2 + [1.0] * 9 + [0.5] * 4 + [0.25] * 2  # 00-06 low, 07-08, 09-17 peak, 18-21, 22-23


def test_one_profile_by_hand():
    classes = hour_classes({"chat": DailyProfile.every_day(DIURNAL)})
    assert [c.multiplier("chat") for c in classes] == [1.0, 0.5, 0.25]
    assert [c.hours_per_week for c in classes] == [9 * 7, 6 * 7, 9 * 7]
    assert classes[0].label == "daily 09-17"
    assert classes[1].label == "daily 07-08, 18-21"
    assert classes[2].label == "daily 00-06, 22-23"
    assert sum(c.share for c in classes) == pytest.approx(1.0)


def test_weekday_weekend_and_a_flat_workload():
    week = DailyProfile(tuple(DIURNAL), tuple([0.25] * 24))
    classes = hour_classes({"chat": week, "batch": None})
    # batch runs flat at 1; chat has 3 weekday levels and 0.25 all weekend (same level as weekday nights)
    assert [c.multipliers for c in classes] == [
        (("batch", 1.0), ("chat", 1.0)),
        (("batch", 1.0), ("chat", 0.5)),
        (("batch", 1.0), ("chat", 0.25)),
    ]
    assert [c.hours_per_week for c in classes] == [9 * 5, 6 * 5, 9 * 5 + 24 * 2]
    assert classes[2].label == "weekday 00-06, 22-23; weekend 00-23"


def test_no_profile_is_one_class():
    (c,) = hour_classes({"a": None, "b": None})
    assert c.hours_per_week == HOURS_PER_WEEK and c.multiplier("a") == 1.0


def test_bad_profiles_are_refused():
    with pytest.raises(ValueError, match="needs 24"):
        DailyProfile.every_day([1.0] * 23)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DailyProfile.every_day([1.5] + [1.0] * 23)


LEVEL = st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0])


@given(
    a=st.lists(LEVEL, min_size=24, max_size=24),
    b=st.lists(LEVEL, min_size=24, max_size=24),
    c=st.lists(LEVEL, min_size=24, max_size=24),
)
def test_classes_partition_the_week_and_keep_the_hourly_sums(a, b, c):
    """Every hour of the week is in exactly one class, and any per-hour sum over classes equals the sum over the
    168 hours computed directly."""
    profiles = {"x": DailyProfile(tuple(a), tuple(b)), "y": DailyProfile.every_day(c)}
    classes = hour_classes(profiles)
    assert sum(k.hours_per_week for k in classes) == HOURS_PER_WEEK
    assert len({k.multipliers for k in classes}) == len(classes)
    direct = sum(5 * (a[h] + 2 * c[h]) + 2 * (b[h] + 2 * c[h]) for h in range(24))
    by_class = sum(k.hours_per_week * (k.multiplier("x") + 2 * k.multiplier("y")) for k in classes)
    assert by_class == pytest.approx(direct)
