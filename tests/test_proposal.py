"""`planner propose`: every format carries the plan's numbers, escapes what users and catalogs wrote, and is the
same for the same input and --date. Runs the quickstart problem once (module fixture) and reads the files back."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.economics import HOURS_PER_YEAR
from planner.report.proposal_format import usd

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "problems" / "quickstart.yaml"
TEXT_FORMATS = "html,md,xlsx,csv,json"
SCRIPT = "<script>alert(1)</script>"


def propose(out: Path, *extra: str, problem: Path = QUICKSTART) -> str:
    res = CliRunner().invoke(main, ["propose", str(problem), "--out", str(out), "--date", "2026-11-30",
                                    "--format", TEXT_FORMATS, *extra])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("proposal")
    propose(d)
    return d


def _plan(out: Path) -> dict:
    return json.loads((out / "plan.json").read_text())


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-9)


def same_dollars(shown: float, plan_value: float) -> bool:
    """A whole-dollar figure equals plan.json's: within rounding to the dollar plus plan.json's own rounding to
    6 significant digits (half a unit in the 6th digit)."""
    return abs(shown - plan_value) <= 0.5 + 5e-6 * abs(plan_value) + 1e-9


def _html_figure(html: str, key: str) -> str:
    card = rf'data-key="{re.escape(key)}"><div class="label">[^<]*</div>\s*<div class="value">([^<]*)<'
    m = re.search(card, html)
    assert m, key
    return m.group(1)


def _dollars(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text.split("/")[0]))


def test_html_summary_and_bom_totals_equal_the_plan(out):
    fl = _plan(out)["fleet"]
    html = (out / "proposal.html").read_text()
    # plan.json carries 6 significant digits; the proposal shows whole dollars of the same numbers
    for key, want in (("capex_usd", fl["capex_usd"]), ("opex_usd_per_year", fl["opex_usd_per_year"]),
                      ("annual_cost_usd", fl["cost_usd_per_hour"] * HOURS_PER_YEAR)):
        assert same_dollars(_dollars(_html_figure(html, key)), want), key
    assert _rel(_dollars(_html_figure(html, "usd_per_mtok")), fl["usd_per_mtok"]) < 1e-3
    assert _rel(_dollars(_html_figure(html, "tokens_per_usd")), fl["tokens_per_usd"]) < 1e-5
    capex = re.search(r'id="bom-capex">([^<]*)<', html).group(1)
    opex = re.search(r'id="bom-opex">([^<]*)<', html).group(1)
    assert same_dollars(_dollars(capex), fl["capex_usd"])
    assert same_dollars(_dollars(opex), fl["opex_usd_per_year"])
    assert capex == _html_figure(html, "capex_usd")  # one capex figure, the same text in both places


def test_csv_lines_and_totals_equal_the_plan(out):
    fl = _plan(out)["fleet"]
    rows = list(csv.DictReader(io.StringIO((out / "bom.csv").read_text())))
    lines = [r for r in rows if r["section"] != "total"]
    for r in lines:
        assert float(r["extended_usd"]) == pytest.approx(float(r["quantity"]) * float(r["unit_price_usd"]))
    capex = sum(float(r["extended_usd"]) for r in lines if r["recurrence"] == "one-time")
    opex = sum(float(r["extended_usd"]) for r in lines if r["recurrence"] == "per year")
    assert same_dollars(capex, fl["capex_usd"]) and same_dollars(opex, fl["opex_usd_per_year"])
    totals = {r["item"]: float(r["extended_usd"]) for r in rows if r["section"] == "total"}
    assert totals == {"capex (one-time)": pytest.approx(capex), "operating cost per year": pytest.approx(opex)}
    servers = {r["item"]: float(r["quantity"]) for r in lines if r["section"] == "Systems"}
    assert servers == {k: float(v) for k, v in fl["servers_new"].items()}


def test_xlsx_is_typed_with_formulas_and_equals_the_plan(out):
    from openpyxl import load_workbook

    fl = _plan(out)["fleet"]
    wb = load_workbook(out / "bom.xlsx")
    assert wb.sheetnames == ["Summary", "BOM", "TCO by year", "Assumptions"]
    bom = wb["BOM"]
    assert bom.freeze_panes == "A2" and wb["TCO by year"].freeze_panes == "A2"
    capex = opex = 0.0
    for r in range(2, bom.max_row + 1):
        if bom.cell(r, 1).value == "Total":
            assert str(bom.cell(r, 7).value).startswith("=SUMIF(")
            continue
        qty, price = bom.cell(r, 4).value, bom.cell(r, 6).value
        assert isinstance(qty, int | float) and isinstance(price, int | float)
        assert bom.cell(r, 7).value == f"=D{r}*F{r}"
        if bom.cell(r, 8).value == "one-time":
            capex += qty * price
        else:
            opex += qty * price
    assert same_dollars(capex, fl["capex_usd"]) and same_dollars(opex, fl["opex_usd_per_year"])
    summary = {wb["Summary"].cell(r, 4).value: wb["Summary"].cell(r, 2).value
               for r in range(2, wb["Summary"].max_row + 1)}
    assert same_dollars(summary["capex_usd"], fl["capex_usd"])
    assert same_dollars(summary["opex_usd_per_year"], fl["opex_usd_per_year"])
    tco = wb["TCO by year"]
    assert tco.cell(2, 2).value == pytest.approx(capex) and tco.cell(3, 8).value == "=SUM(B3:G3)"
    years = [tco.cell(r, 1).value for r in range(2, tco.max_row)]
    assert years == list(range(0, len(years)))
    assert sum(tco.cell(3, c).value for c in range(2, 8)) == pytest.approx(opex)


def test_markdown_carries_the_same_figures(out):
    fl = _plan(out)["fleet"]
    md = (out / "proposal.md").read_text()
    assert f"| {usd(fl['capex_usd'])} |" in md
    assert f"**{usd(fl['capex_usd'])}**" in md  # BOM total
    for section in ("Executive summary", "Deployments per workload", "Total cost of ownership", "Alternatives",
                    "Sensitivity", "Bill of materials", "Assumptions", "Risks"):
        assert f"## {section}" in md


def test_html_is_self_contained(out):
    html = (out / "proposal.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html and "<script" not in html
    assert html.count("<svg") >= 3  # TCO, tornado, at least one rack


def test_same_input_and_date_give_the_same_bytes(out, tmp_path):
    from openpyxl import load_workbook

    propose(tmp_path)
    for name in ("proposal.html", "proposal.md", "bom.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    a, b = load_workbook(out / "bom.xlsx"), load_workbook(tmp_path / "bom.xlsx")
    for ws in a.worksheets:
        assert [[c.value for c in row] for row in ws.iter_rows()] == \
               [[c.value for c in row] for row in b[ws.title].iter_rows()]


def test_planted_markup_and_formulas_stay_text(tmp_path):
    from openpyxl import load_workbook

    bundled = yaml.safe_load((ROOT / "catalogs" / "systems.yaml").read_text())["systems"]
    h100 = next(s for s in bundled if s["id"] == "hgx-h100")
    h100 = {**h100, "name": "=HYPERLINK(\"http://x\")", "notes": SCRIPT,
            "price": {**h100["price"], "source": "@SUM(A1) " + SCRIPT, "reason": SCRIPT}}
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "systems.yaml").write_text(yaml.safe_dump({"systems": [h100]}))
    prob = yaml.safe_load(QUICKSTART.read_text())
    prob.update(name=SCRIPT, description="-1+1 " + SCRIPT)
    prob["fleet"]["systems"] = ["hgx-h100"]
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(prob))
    out = tmp_path / "out"
    propose(out, "--catalog", str(cat), "--title", SCRIPT, problem=p)
    html = (out / "proposal.html").read_text()
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # title, name, description, note, reason
    md = (out / "proposal.md").read_text()
    assert "<script" not in md.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    rows = list(csv.reader(io.StringIO((out / "bom.csv").read_text())))
    cells = [c for r in rows for c in r]
    assert any(c.startswith("'=HYPERLINK") for c in cells) and any(c.startswith("'@SUM") for c in cells)
    assert not any(c.startswith(("=", "@", "+")) for c in cells)
    wb = load_workbook(out / "bom.xlsx")
    texts = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    formulas = [t for t in texts if t.startswith("=")]
    assert formulas and all(re.fullmatch(r"=(D\d+\*F\d+|SUMIF\(.*\)|SUM\([A-H]\d+:[A-H]\d+\)|H\d+|I\d+\+H\d+)", t)
                            for t in formulas), formulas
    assert any(t.startswith("'=HYPERLINK") for t in texts) and any(t.startswith("'@SUM") for t in texts)


def test_given_plan_is_reverified_and_used(out, tmp_path):
    got = propose(tmp_path / "again", "--plan", str(out / "plan.json"))
    assert "wrote" in got
    assert (tmp_path / "again" / "plan.json").read_text() == (out / "plan.json").read_text()
    bad = _plan(out)
    bad["deployments"][0]["replicas"] = 0
    bad["deployments"][0]["dp"] = 0
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    res = CliRunner().invoke(main, ["propose", str(QUICKSTART), "--out", str(tmp_path / "x"), "--plan",
                                    str(tmp_path / "bad.json"), "--format", "md"])
    assert res.exit_code == 2 and "fails verification" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("args,msg", [
    (["--format", "html,docx"], "unknown format docx"),
    (["--date", "30/11/2026"], "YYYY-MM-DD"),
])
def test_bad_flags_exit_2_with_one_message(tmp_path, args, msg):
    res = CliRunner().invoke(main, ["propose", str(QUICKSTART), "--out", str(tmp_path), *args])
    assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output


def test_infeasible_problem_exits_3_naming_the_limit(tmp_path):
    prob = yaml.safe_load(QUICKSTART.read_text())
    prob["site"]["power_limit_mw"] = 0.005
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(prob))
    res = CliRunner().invoke(main, ["propose", str(p), "--out", str(tmp_path / "o"), "--format", "md"])
    assert res.exit_code == 3 and "site power" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "proposal.md").exists()
