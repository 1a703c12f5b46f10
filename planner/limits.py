"""Size limits checked before work starts, each with a setting to raise it.

A limit is read from the environment variable `PLANNER_MAX_<NAME>` (e.g. `PLANNER_MAX_WORKLOADS=500`), else
its default below. Limits keep a mistaken or hostile input from running for hours or exhausting memory; each
refusal names the limit, the value found and the variable that raises it (exit code 2).
"""

from __future__ import annotations

import os

from planner.errors import InputError

# name: (default, what it counts)
DEFAULTS: dict[str, tuple[int, str]] = {
    "input_mb": (32, "MB per input file (problem, catalog, plan.json, CSV)"),
    "yaml_nodes": (1_000_000, "YAML values after expanding aliases"),
    "nesting": (64, "levels of nesting in a YAML or JSON file"),
    "int_digits": (30, "digits of an integer in a JSON file"),
    "workloads": (200, "workloads in one problem"),
    "systems": (200, "systems a problem may choose from"),
    "gpus": (10_000_000, "GPUs in one deployment or fleet"),
    "csv_rows": (1_000_000, "query rows in one predict --batch CSV"),
    "num_requests": (1_000_000, "requests of one simulated predict run (--num-requests)"),
    "grid": (2_000_000, "configurations evaluated for one problem"),
}


def env_name(name: str) -> str:
    return f"PLANNER_MAX_{name.upper()}"


def limit(name: str) -> int:
    """The limit in force: the environment's override, else the default (a bad override exits 2)."""
    default, _ = DEFAULTS[name]
    raw = os.environ.get(env_name(name), "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise InputError(f"{env_name(name)}={raw!r}: must be a positive whole number") from None
    if value <= 0:
        raise InputError(f"{env_name(name)}={raw!r}: must be a positive whole number")
    return value


def check(name: str, value: float, where: str) -> None:
    """Refuse `value` above the limit `name`, naming `where` (file and field, or flag) and the override."""
    most = limit(name)
    if value > most:
        _, what = DEFAULTS[name]
        raise InputError(
            f"{where}: {value:,.0f} is above the limit of {most:,} {what} "
            f"(raise it with {env_name(name)}=N if this is intended)"
        )
