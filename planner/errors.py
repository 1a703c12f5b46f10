"""Typed, expected failures. The CLI prints their message (no traceback) and exits with `exit_code`."""

from __future__ import annotations


class PlannerError(Exception):
    """Base class of every failure a user can cause or must act on."""

    exit_code = 1


class InputError(PlannerError):
    """A bad input file, flag or reference: exit code 2."""

    exit_code = 2


class CatalogError(InputError):
    """One or more problems in catalog YAML; `findings` holds one line per problem."""

    def __init__(self, findings: list[str]):
        self.findings = list(findings)
        super().__init__("\n".join(self.findings))


class InfeasibleError(PlannerError):
    """The problem is well formed but no plan satisfies it: exit code 3."""

    exit_code = 3


class SolverError(PlannerError):
    """The solver failed for a reason that is not the user's input."""

    exit_code = 4
