"""The two YAML paths of planner.inputs.load_yaml give the same data and the same one-line refusals: libyaml's
(composed in C, the default where PyYAML has it) and the pure-Python parser (the fallback)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner import inputs
from planner.errors import InputError

CATALOGS = sorted((Path(__file__).resolve().parents[1] / "catalogs").glob("*.yaml"))
DEEP_ALIAS = "a: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\n"
REFUSED = [
    ("[" * 5000 + "]" * 5000, "nested deeper than 64 levels (raise"),
    ("- " * 100 + "x\n", "nested deeper than 64 levels (raise"),
    (DEEP_ALIAS, "nested deeper than 64 levels once aliases are expanded"),
    ("a: &a [1, *a]\n", "recursive structure"),
    ("a: 1\nb: 2\na: 3\n", "key 'a' appears twice in one mapping (first at line 1)"),
    ("a: [1, 2\n", "not valid YAML at line"),
]


@pytest.fixture(params=["libyaml", "python"])
def loader(request, monkeypatch):
    if request.param == "libyaml" and inputs._LimitedCLoader is None:
        pytest.skip("PyYAML built without libyaml")
    if request.param == "python":
        monkeypatch.setattr(inputs, "_LimitedCLoader", None)
    return request.param


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_is_the_default_where_pyyaml_has_it(monkeypatch):
    # load_yaml itself composes with libyaml (asserting only that PyYAML has it failed where it has not, the
    # fallback working, and held were load_yaml to keep the Python parser)
    used = []
    monkeypatch.setattr(inputs, "_load_c", lambda text, real=inputs._load_c: used.append(text) or real(text))
    assert inputs.load_yaml("a: [1, 2]\n") == {"a": [1, 2]} and used == ["a: [1, 2]\n"]


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.name)
def test_the_catalogs_read_the_same_on_both_paths(path):
    text = path.read_text(encoding="utf-8")
    assert inputs.load_yaml(text) == yaml.load(text, Loader=inputs._LimitedLoader)


@pytest.mark.parametrize(("text", "expect"), REFUSED)
def test_the_same_refusals_on_both_paths(loader, text, expect):
    with pytest.raises(InputError) as info:
        inputs.parse_yaml(text, "p.yaml")
    assert expect in str(info.value) and str(info.value).startswith("p.yaml: ")
    assert "\n" not in str(info.value)


def test_small_aliases_and_empty_documents(loader):
    assert inputs.load_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    assert inputs.load_yaml("") is None and inputs.load_yaml("# nothing\n") is None


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_own_depth_cap_is_not_reported_as_ours(monkeypatch):
    # with the nesting limit raised past libyaml's own cap, a document between the two is refused by libyaml: the
    # message named the raised limit ('nested deeper than 2000 levels (raise it ...)') for 1,200 levels
    monkeypatch.setenv("PLANNER_MAX_NESTING", "2000")
    with pytest.raises(InputError) as info:
        inputs.parse_yaml("[" * 1200 + "]" * 1200, "p.yaml")
    assert "nested deeper than 1000 levels, the YAML parser's own limit" in str(info.value)
    assert "2000" not in str(info.value)
