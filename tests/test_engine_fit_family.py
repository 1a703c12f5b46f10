"""Engine factors per engine x architecture family (engine_fit.choose, engines.engine_params): a family's own entry
is preferred, the vendor's pooled one stands in for the others, and the qualification rule is applied, in
sample and again with each source held out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.catalog.schema_base import architecture_family
from planner.perf import engine_fit
from planner.perf.engine_fit import choose, engine_combos, family_qualifies
from planner.perf.engines import ENGINE_NEUTRAL, engine_columns, engine_params, neutral_distance

CAT = load_catalog()


def test_architecture_family_is_derived_and_unknown_names_get_their_own():
    fam = {a: x.family for a, x in CAT.accelerators.items()}
    assert fam["h200-sxm"] == fam["h100-sxm"] == "hopper"
    assert fam["b200"] == fam["gb300"] == "blackwell"  # Blackwell Ultra: the same tensor-core generation
    assert (fam["mi300x"], fam["mi355x"], fam["a100-sxm-80gb"]) == ("cdna3", "cdna4", "ampere")
    assert architecture_family("Toy Chip (v1)") == "toy_chip"  # a user's part: its vendor's factors


def test_family_entry_preferred_then_vendor_then_neutral():
    eff = {"trtllm": {"nvidia": {"eta_factor": {"value": 0.8}, "step_s": {"value": 1e-3}},
                      "hopper": {"eta_factor": {"value": 1.25}, "step_s": {"value": 0.0}}}}
    assert engine_params(eff, "trtllm", "nvidia", "hopper")["eta_factor"] == 1.25
    assert engine_params(eff, "trtllm", "nvidia", "blackwell")["eta_factor"] == 0.8
    assert engine_params(eff, "trtllm", "nvidia")["step_s"] == 1e-3
    assert engine_params(eff, "vllm", "nvidia", "hopper") == ENGINE_NEUTRAL
    # per accelerator in the model's columns: the accelerator's family picks the entry
    g = pd.DataFrame([dict(model="llama-3.1-8b", accelerator=a, precision="fp8", engine="trtllm")
                      for a in ("h200-sxm", "b200", "a100-sxm-80gb")])
    cols = engine_columns(g, CAT, eff, lambda *a: None)
    assert cols["eng_eta_factor"][:2].tolist() == [1.25, 0.8]


def test_family_qualifies_rule():
    fam = np.array(["hopper"] * 6 + ["blackwell"] * 6, dtype=object)
    src = np.array(["A", "B"] * 3 + ["C"] * 6, dtype=object)
    group = np.ones(12, dtype=bool)
    hopper = fam == "hopper"
    assert family_qualifies(hopper, group, fam, src)
    assert not family_qualifies(fam == "blackwell", group, fam, src)  # one source
    assert not family_qualifies(hopper & (np.arange(12) < 3), group, fam, src)  # 3 rows < 4 factors
    assert not family_qualifies(hopper, hopper, fam, src)  # the engine has no other family: the vendor fit


def _trials(prefer: dict[str, int], fam: np.ndarray, src: np.ndarray) -> engine_fit._Trials:
    """Fake trials: one engine on nvidia, each row's error least at the combo its family prefers."""
    combos = engine_combos()
    n = len(fam)
    logs = np.ones((len(combos), n))
    for f, k in prefer.items():
        logs[k, fam == f] = 0.0
    return engine_fit._Trials(
        combos=combos, base=pd.DataFrame({"accelerator": ["x"] * n}), pub=pd.DataFrame({"accelerator": []}),
        values=np.exp(logs), logs=logs, actual=np.ones(n), sources=src,
        group=np.array(["trtllm/nvidia"] * n, dtype=object), fitted=np.ones(n, dtype=bool),
        light=np.zeros(n, dtype=bool), assumed=np.full(n, "", dtype=object),
        far=np.array([neutral_distance(c) for c in combos]))


def _combo(**f) -> int:
    return engine_combos().index(dict(f))


HOPPER = _combo(eta_factor=1.25, moe_factor=0.5, seq_factor=1.0, step_s=3e-3)
BLACKWELL = _combo(eta_factor=0.8, moe_factor=1.0, seq_factor=1.0, step_s=3e-3)  # the same host factors


def test_split_off_pools_every_family():
    fam = np.array(["hopper"] * 8 + ["blackwell"] * 4, dtype=object)
    src = np.array(["A", "B"] * 4 + ["C", "D"] * 2, dtype=object)
    t = _trials({"hopper": HOPPER, "blackwell": BLACKWELL}, fam, src)
    combo, key, pooled = choose(t, fam)  # the default, the fit's (benchmarks/engine_fit_family.py)
    assert set(key) == {"trtllm/nvidia"} and set(combo) == {pooled["trtllm/nvidia"]}
    assert set(choose(t, fam, family_split=True)[1]) == {"trtllm/hopper", "trtllm/blackwell"}  # both qualify


def test_choose_splits_qualified_families_and_reapplies_the_rule_out_of_sample():
    fam = np.array(["hopper"] * 8 + ["blackwell"] * 4, dtype=object)
    src = np.array(["A", "B"] * 4 + ["C"] * 4, dtype=object)
    t = _trials({"hopper": HOPPER, "blackwell": BLACKWELL}, fam, src)
    combo, key, pooled = choose(t, fam, family_split=True)
    assert set(key[fam == "hopper"]) == {"trtllm/hopper"} and set(combo[fam == "hopper"]) == {HOPPER}
    # one source of Blackwell: pooled with the engine's other rows (the vendor fit, which the 8 Hopper rows win)
    assert set(key[fam == "blackwell"]) == {"trtllm/nvidia"} and set(combo[fam == "blackwell"]) == {HOPPER}
    assert pooled["trtllm/nvidia"] == HOPPER
    # holding out B leaves Hopper one source: it no longer qualifies and every row takes the vendor's fit
    assert set(choose(t, fam, "B", family_split=True)[1]) == {"trtllm/nvidia"}
    # with a second Blackwell source, Blackwell gets its own entry
    src2 = np.array(["A", "B"] * 4 + ["C", "D"] * 2, dtype=object)
    t2 = _trials({"hopper": HOPPER, "blackwell": BLACKWELL}, fam, src2)
    combo2, key2, _ = choose(t2, fam, family_split=True)
    assert set(key2[fam == "blackwell"]) == {"trtllm/blackwell"} and set(combo2[fam == "blackwell"]) == {BLACKWELL}


def test_a_family_keeps_the_vendor_host_factors():
    """A family refits the kernel efficiencies only: its rows preferring other host time (seq_factor, step_s)
    still get the pooled fit's, at the best efficiencies there."""
    fam = np.array(["hopper"] * 8 + ["blackwell"] * 8, dtype=object)
    src = np.array(["A", "B"] * 8, dtype=object)
    other_host = _combo(eta_factor=0.8, moe_factor=1.0, seq_factor=0.0, step_s=0.0)
    t = _trials({"hopper": HOPPER, "blackwell": other_host}, fam, src)
    t.logs[BLACKWELL, fam == "blackwell"] = 0.5  # the best of Blackwell's rows at Hopper's host factors
    t.logs[other_host, fam == "hopper"] = 2.0  # the pooled fit: Hopper's
    combo, key, _ = choose(t, fam, family_split=True)
    assert set(key[fam == "blackwell"]) == {"trtllm/blackwell"}
    hosts = {(t.combos[k]["seq_factor"], t.combos[k]["step_s"]) for k in combo}
    assert hosts == {(1.0, 3e-3)} and set(combo[fam == "blackwell"]) == {BLACKWELL}
