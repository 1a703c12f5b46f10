"""The input errors of one problem file, collected while it is resolved against the catalog so the user sees
them all at once (`build_instance` raises one InputError with every line)."""

from __future__ import annotations

from planner.catalog.catalog import Catalog


class InputErrors:
    """`bad(path, message)` adds a line `file: field path: message`; `lines` holds them in the order found."""

    def __init__(self, where: str, catalog: Catalog) -> None:
        self.where = where
        self.catalog = catalog
        self.lines: list[str] = []

    def bad(self, path: str, msg: str) -> None:
        self.lines.append(f"{self.where}: {path}: {msg}")

    @staticmethod
    def known(table: dict) -> str:
        return ", ".join(sorted(table)) or "none in the catalog"

    def unknown_system(self, s: str) -> str:
        holding = sorted(k for k, v in self.catalog.systems.items() if v.accelerator == s)
        if holding:
            return f"{s!r} is an accelerator, not a system; systems holding it: {', '.join(holding)}"
        return f"unknown system {s!r} (known: {self.known(self.catalog.systems)})"
