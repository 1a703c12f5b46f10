"""Guards of the candidate-search speed work (issue 7): the shortcuts give what the plain code gives."""

from __future__ import annotations

import json
import math

import yaml

from planner.perf.params import SAFE_LOADER, efficiency_path, read_yaml


def _same(a, b) -> bool:
    """Equal values of the same types, all the way down (1 == 1.0 == True would hide a changed type)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def test_efficiency_yaml_reads_the_same_with_the_fast_loader():
    """read_yaml uses libyaml's parser where PyYAML has it: the calibration reads to the same values, keys in
    the same order and of the same types as the pure-Python safe loader gives."""
    text = efficiency_path().read_text(encoding="utf-8")
    want = yaml.safe_load(text)
    assert want, "the calibration file is empty"
    assert _same(read_yaml(), want)
    assert json.dumps(read_yaml(), sort_keys=False) == json.dumps(want, sort_keys=False)


def test_fast_loader_keeps_yaml_types():
    """Ints, floats (exponent forms too), booleans, nulls, dates as text and quoted numbers as the safe loader
    reads them: the C parser shares the safe constructors, so types cannot drift."""
    text = ("a: 1\nb: 1.5\nc: 1e-3\nd: 2.0E+5\ne: true\nf: null\ng: '12'\nh: [1, 2.0, x]\ni: {j: .5}\n"
            "k: .inf\nl: -.nan\nm: 0x1f\nn: 1_000\n")
    assert _same(yaml.load(text, Loader=SAFE_LOADER), yaml.safe_load(text))
