"""The proposal in a real browser (headless Chromium: no console errors, summary numbers visible, screenshot
saved) and its PDF as pages (pdftoppm: page count, no blank page). Skipped, saying why, where Chromium,
pdftoppm or WeasyPrint are not installed (`.ci/run` installs them)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "problems" / "quickstart.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
# Appended to a copy of the page (the page itself has no scripts): lists each summary card's value with whether
# it is laid out, visible and inside the first screen.
PROBE = """<script>
window.addEventListener("load", () => {
  const out = [...document.querySelectorAll("#summary .card")].map(c => {
    const v = c.querySelector(".value"), r = v.getBoundingClientRect(), s = getComputedStyle(v);
    return {key: c.dataset.key, text: v.textContent.trim(), w: r.width, h: r.height, top: r.top,
            visible: s.visibility === "visible" && s.display !== "none" && parseFloat(s.opacity) > 0};
  });
  const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("render")
    fmt = "html,pdf,json" if _weasyprint() else "html,json"
    res = CliRunner().invoke(main, ["propose", str(QUICKSTART), "--out", str(d), "--date", "2026-11-30",
                                    "--format", fmt])
    assert res.exit_code == 0, res.output
    return d


def _weasyprint() -> bool:
    from planner.report.proposal_pdf import pdf_available

    return pdf_available()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium; "
                    ".ci/run installs it when run as root)")
def test_html_renders_in_chromium_without_console_errors(out):
    page = out / "proposal.html"
    shot = out / "proposal.png"
    res = _chromium("--window-size=1280,2400", f"--screenshot={shot}", page.as_uri())
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console  # the page has no scripts: any console message is an error or a failed fetch
    assert shot.exists() and shot.stat().st_size > 20_000
    from PIL import Image

    img = Image.open(shot).convert("L")
    top = img.crop((0, 0, img.width, 900))
    assert sum(top.histogram()[:128]) > 5_000  # text and cards drawn, not a blank page

    probe = out / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium("--window-size=1280,2400", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()).stdout
    cards = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    plan = json.loads((out / "plan.json").read_text())["fleet"]
    by_key = {c["key"]: c for c in cards}
    for key in ("capex_usd", "opex_usd_per_year", "annual_cost_usd", "usd_per_mtok", "facility_power_kw"):
        c = by_key[key]
        assert c["visible"] and c["w"] > 20 and c["h"] > 10 and 0 <= c["top"] < 2400, c
    assert by_key["capex_usd"]["text"] == f"${plan['capex_usd']:,.0f}"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed (Debian: apt-get install "
                    "poppler-utils; .ci/run installs it when run as root)")
def test_pdf_pages_render_and_none_is_blank(out, tmp_path):
    if not _weasyprint():
        pytest.skip("WeasyPrint is not installed (pip install 'planner[pdf]')")
    pdf = out / "proposal.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 3 <= len(pages) <= 20, len(pages)
    from PIL import Image

    for p in pages:
        img = Image.open(p).convert("L")
        dark = sum(img.histogram()[:200])
        assert dark > 0.005 * img.width * img.height, f"{p.name} is (nearly) blank"
