"""The proposal's PDF: WeasyPrint renders the very HTML page (its print styles), so both carry the same
content. WeasyPrint is an optional extra: `pip install "planner[pdf]"`."""

from __future__ import annotations

from planner.errors import InputError


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def render_pdf(html: str) -> bytes:
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise InputError(
            f"--format pdf needs WeasyPrint ({exc.__class__.__name__}: {exc}); install it with "
            "`pip install \"planner[pdf]\"`, or leave pdf out of --format"
        ) from None
    return HTML(string=html, base_url=None).write_pdf()
