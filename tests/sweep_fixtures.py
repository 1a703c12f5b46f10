"""Sweep files for the sweep tests: the quickstart problem with the parameters a test gives."""
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parent.parent / "problems" / "quickstart.yaml"


def sweep_file(tmp_path: Path, params: str, design: str = "{kind: grid}", extra: str = "") -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(f"name: t\nproblem: {QUICKSTART}\nparameters:\n{params}\ndesign: {design}\n{extra}")
    return p
