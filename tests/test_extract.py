"""planner.optimize.extract's pieces on hand-made inputs (the whole of it runs in every solve test)."""

from __future__ import annotations

from types import SimpleNamespace

from planner.optimize.extract import _racks


def _inst(**systems):
    return SimpleNamespace(systems={s: SimpleNamespace(whole_rack=w, nameplate_kw=kw) for s, (w, kw) in
                                    systems.items()}, racks={})


def test_without_rack_types_each_whole_rack_system_stands_in_a_rack_of_its_own():
    """No rack types in the problem (racks not modelled): 2 NVL72 racks listed as such, the 8-GPU servers in
    none (nothing to place them in)."""
    inst = _inst(nvl=(True, 120.0), hgx=(False, 10.2))
    got = _racks(inst, False, {"hgx": 3, "nvl": 2}, {}, None)
    assert got == [{"rack_type": "(not modelled)", "systems": {"nvl": 1}, "power_kw": 120.0}] * 2
    assert _racks(inst, False, {"hgx": 3}, {}, None) == []
