"""Hostile files and paths (issue 13): special files never hang, sizes and nesting are capped, aliases cannot
explode, outputs are atomic and never written through a symlink, user text cannot drive the terminal or a
spreadsheet. One regression test per class of attack."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_optimize_problems import GOOD

from planner.cli import main
from planner.errors import InputError
from planner.inputs import parse_json, parse_yaml, read_file_text
from planner.limits import check
from planner.outputs import safe_cell, safe_frame, safe_text, set_aside, write_atomic
from planner.plan import _round

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def clean(res, code: int) -> str:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return " ".join(res.output.split())


# ---------------------------------------------------------------------------------------- special files
def _planner(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, so a hang is a timeout here, not a stuck test run."""
    return subprocess.run([sys.executable, "-m", "planner.cli", *args] if False else
                          [sys.executable, "-c", "from planner.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("command", [["solve"], ["verify"], ["predict", "--out", "x.csv", "--batch"]])
def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path, command):
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    res = _planner(*command, str(fifo), timeout=60)  # before the fix this blocked forever in open()
    assert res.returncode == 2, res.stderr
    assert "named pipe (FIFO), not a regular file" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(("path", "why"), [("/dev/zero", "character device"), ("/dev/null", "character device")])
def test_devices_and_folders_are_refused(tmp_path, path, why):
    assert why in clean(run("solve", path), 2)
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_file_text(tmp_path)


def test_size_cap_names_the_limit_and_the_setting(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    out = clean(run("solve", big, env={"PLANNER_MAX_INPUT_MB": "1"}), 2)
    assert "above the 1 MB input limit" in out and "PLANNER_MAX_INPUT_MB" in out
    assert "not a regular" not in clean(run("solve", big), 2)  # default limit: read, then refused as a problem
    assert "PLANNER_MAX_INPUT_MB" in clean(run("solve", big, env={"PLANNER_MAX_INPUT_MB": "x"}), 2)


# ---------------------------------------------------------------------------------- alias and depth bombs
def _laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_before_expansion(tmp_path):
    # 10^9 values once expanded, under a real field (description), anchors defined first
    text = _laughs(9) + GOOD + "description: *a8\n"
    out = clean(run("solve", _write(tmp_path, "bomb.yaml", text)), 2)
    assert "bomb.yaml: refused at line" in out and "expands to more than 1,000,000 values" in out
    assert "PLANNER_MAX_YAML_NODES" in out
    assert parse_yaml(_laughs(3), "ok.yaml")["a2"][0][0][0] == "x"  # small, honest aliases still work


def test_recursive_alias_and_deep_nesting_are_one_line_errors():
    with pytest.raises(InputError, match="recursive"):
        parse_yaml("a: &a [1, *a]\n", "p.yaml")
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        parse_yaml("[" * 5000 + "]" * 5000, "p.yaml")
    with pytest.raises(InputError, match="nested deeper"):
        parse_yaml("- " * 100 + "x\n", "p.yaml")
    deep_alias = "a: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\n"
    with pytest.raises(InputError, match="once aliases are expanded"):
        parse_yaml(deep_alias, "p.yaml")


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
        ('{"a": ' + "9" * 5000 + "}", "integer of 5000 digits is too large"),
        ('{"a": 1e999}', "overflows"),
        ('{"a": NaN}', "NaN is not a number JSON allows"),
        ('{"a": -Infinity}', "-Infinity is not a number JSON allows"),
        ('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),
    ],
)
def test_json_limits(text, expect):
    if expect is None:
        assert parse_json(text, "plan.json")["a"].startswith("[")  # brackets inside strings do not count
        return
    with pytest.raises(InputError, match=r"plan\.json") as info:
        parse_json(text, "plan.json")
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_forged_plan_with_huge_integer_exits_2(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text('{"problem": "t", "iterations": ' + "7" * 5000 + "}")
    assert "integer of 5000 digits" in clean(run("verify", plan), 2)


# ------------------------------------------------------------------------------------------------ outputs
def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_symlink_at_the_output_path_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.json").symlink_to(target)
    res = run("solve", _write(tmp_path, "p.yaml", GOOD), "--out", out, "--no-runner-up")
    assert "symbolic link" in clean(res, 2)
    assert target.read_text() == "keep me" and (out / "plan.json").is_symlink()
    with pytest.raises(InputError, match="symbolic link"):
        write_atomic(out / "plan.json", b"x")
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere" / "x.csv")
    with pytest.raises(InputError, match="symbolic link"):
        write_atomic(dangling, "x")


def test_concurrent_writes_leave_one_complete_file_and_no_temporaries(tmp_path):
    path = tmp_path / "plan.json"
    bodies = [json.dumps({"writer": i, "pad": "x" * (200_000 + 37 * i)}) for i in range(8)]
    errors: list[BaseException] = []

    def writer(body: str) -> None:
        try:
            for _ in range(25):
                write_atomic(path, body)
                assert json.loads(path.read_text())["pad"]  # a reader never sees a torn file
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert path.read_text() in bodies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_write_accepts_text_and_bytes_and_cleans_up_on_failure(tmp_path, monkeypatch):
    write_atomic(tmp_path / "a.txt", "é")
    write_atomic(tmp_path / "b.png", b"\x89PNG")
    assert (tmp_path / "a.txt").read_bytes() == "é".encode() and (tmp_path / "b.png").read_bytes() == b"\x89PNG"

    def boom(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "c.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.png"]


def test_a_failed_run_leaves_the_previous_plan_marked_stale(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plan.json").write_text('{"old": true}')
    bad = _write(tmp_path, "p.yaml", GOOD.replace("requests_per_s: 5", "requests_per_s: 5e12"))
    res = run("solve", bad, "--out", out, "--no-runner-up")
    assert res.exit_code != 0
    assert not (out / "plan.json").exists() and (out / "plan.json.stale").read_text() == '{"old": true}'
    res = run("solve", _write(tmp_path, "q.yaml", GOOD), "--out", out, "--no-runner-up")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["plan.json"]
    with set_aside(tmp_path / "absent.json") as aside:
        assert aside is None


# -------------------------------------------------------------------------------- markup, control, formulas
HOSTILE = "evil [/bold] [link=file:///etc/passwd]x[/link] \x1b]8;;file:///etc/passwd\x07y \x1b[31mred\x00 :smile:"


def test_terminal_text_is_escaped_and_stripped():
    s = safe_text(HOSTILE)
    assert "\x1b" not in s and "\x00" not in s and "\x07" not in s and "]8;;" not in s
    from rich.console import Console

    console = Console(record=True, width=200, emoji=False, color_system=None)
    console.print(s)  # an unescaped "[/bold]" raises MarkupError here
    text = console.export_text()
    assert "[/bold]" in text and "[link=file:///etc/passwd]" in text and ":smile:" in text


def test_hostile_problem_name_is_printed_as_text_after_a_solve(tmp_path):
    name = '"evil [/bold] [link=file:///etc/passwd]x[/link] \\e[31mred \\0 \\e]8;;file:///x\\a"'
    res = run("solve", _write(tmp_path, "p.yaml", GOOD.replace("name: t", f"name: {name}")), "--no-runner-up")
    out = clean(res, 0)
    assert "evil [/bold] [link=file:///etc/passwd]x[/link]" in out
    assert "\x1b" not in res.output and "\x00" not in res.output and "\x07" not in res.output


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+SUM(A1:A2)", "'+SUM(A1:A2)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("+1.5e3", "+1.5e3"),
        ("llama", "llama"),
        (-5, -5),
        (None, None),
    ],
)
def test_formula_cells_are_neutralized(cell, safe):
    assert safe_cell(cell) == safe


def test_safe_frame_neutralizes_text_columns_only():
    import pandas as pd

    frame = pd.DataFrame({"model": ["=1+1", "ok"], "gpus": [-1, 2], "@x": ["a", "b"]})
    out = safe_frame(frame)
    assert out["model"].tolist() == ["'=1+1", "ok"] and out["gpus"].tolist() == [-1, 2]
    assert list(out.columns) == ["model", "gpus", "'@x"]


def test_predict_batch_neutralizes_formulas_and_caps_rows(tmp_path, monkeypatch):
    import csv

    import planner.cli.predict_cmd as predict_cmd

    monkeypatch.setattr(predict_cmd, "BATCH_CHUNK", 2)  # several chunks: same output as one pass
    queries = tmp_path / "q.csv"
    queries.write_text(
        "model,gpu,gpus,precision,isl,osl,note\n"
        'llama-3.1-8b,h100-sxm,1,fp8,128,128,"=HYPERLINK(""http://x"",""y"")"\n'
        "llama-3.1-8b,h100-sxm,2,fp8,128,128,+SUM(A1:A2)\n"
        "=cmd|' /C calc'!A0,h100-sxm,1,fp8,128,128,@SUM(A1)\n"
        "llama-3.1-8b,h100-sxm,1,fp8,128,128,-5\n"
        "llama-3.1-8b,h100-sxm,1,fp8,128,128,plain\n"
    )
    out = tmp_path / "r.csv"
    clean(run("predict", "--batch", queries, "--out", out), 2)  # the =cmd model is unknown: a row error, exit 2
    rows = list(csv.DictReader(out.open()))
    notes = [r["note"] for r in rows]
    assert notes == ['\'=HYPERLINK("http://x","y")', "'+SUM(A1:A2)", "'@SUM(A1)", "-5", "plain"]
    assert rows[2]["model"].startswith("'=cmd") and rows[2]["notes"].startswith("unknown model")
    assert [r["fits"] for r in rows] == ["True", "True", "False", "True", "True"]
    assert not any(c.startswith(("=", "+", "@")) for r in rows for c in r.values())
    res = run("predict", "--batch", queries, "--out", out, env={"PLANNER_MAX_CSV_ROWS": "3"})
    assert "q.csv: query rows: 5 is above the limit of 3" in clean(res, 2)


def test_a_size_limit_admits_its_own_value(monkeypatch):
    """A limit is the most allowed: 200 workloads (the default) load, 201 are refused; an override moves the
    edge (PLANNER_MAX_WORKLOADS=5: 5 load, 6 are refused) and must be a positive whole number."""
    monkeypatch.delenv("PLANNER_MAX_WORKLOADS", raising=False)
    check("workloads", 200, "problem.yaml workloads")
    with pytest.raises(InputError, match="201 is above the limit of 200 workloads"):
        check("workloads", 201, "problem.yaml workloads")
    monkeypatch.setenv("PLANNER_MAX_WORKLOADS", "5")
    check("workloads", 5, "problem.yaml workloads")
    with pytest.raises(InputError, match="PLANNER_MAX_WORKLOADS=N"):
        check("workloads", 6, "problem.yaml workloads")
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("PLANNER_MAX_WORKLOADS", bad)
        with pytest.raises(InputError, match="must be a positive whole number"):
            check("workloads", 1, "problem.yaml workloads")


def test_plan_json_writes_no_infinity_or_nan():
    # a non-finite figure (an unmet latency's inf, a 0/0) reads as null in plan.json: strict JSON parsers reject
    # Infinity and NaN; finite figures keep 6 significant digits
    got = _round({"ttft_s": math.inf, "ratio": math.nan, "cut": -math.inf, "rows": [1.23456789, 0.0, 3]})
    assert got == {"ttft_s": None, "ratio": None, "cut": None, "rows": [1.23457, 0.0, 3]}
    json.dumps(got, allow_nan=False)
