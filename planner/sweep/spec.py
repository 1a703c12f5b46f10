"""Sweep files (`sweeps/*.yaml`): strict schema, loading, and validation of every parameter against the base
problem and the catalog.

    name: quickstart-economics
    problem: ../problems/quickstart.yaml          # relative to the sweep file
    parameters:
      - path: economics.electricity_usd_per_kwh   # a problem field (lists addressed by id: workloads.chat.tpot_ms)
        range: {low: 0.04, high: 0.20, steps: 5}
      - path: catalog.systems.hgx-b200.price_usd  # a catalog figure (low/base/high prices set together)
        catalog: low_base_high                    # the catalog's own low, base and high
      - path: workloads.chat.demand               # a multiplier of the workload's demand
        values: [0.5, 1, 2]
    design: {kind: grid}                          # one_at_a_time, random, latin_hypercube, sobol, morris
    solver: {time_limit_s: 20}

Every mistake is one line naming the sweep file and the field (`sweeps/x.yaml: parameters[1].path: ...`),
exit code 2, before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from planner.catalog.catalog import Catalog
from planner.catalog.loader import display_path, format_validation_error, load_yaml, read_text
from planner.catalog.schema_base import Strict
from planner.errors import InputError
from planner.inputs import read_file_text
from planner.sweep import paths

Scalar = float | int | str
DesignKind = Literal["grid", "one_at_a_time", "random", "latin_hypercube", "sobol", "morris"]
METRICS = ("cost_usd_per_hour", "tokens_per_usd", "usd_per_mtok", "output_tok_s", "capex_usd",
           "facility_power_kw", "profit_usd_per_hour")


class Range(Strict):
    low: float
    high: float
    steps: int = Field(5, ge=1, le=1000, description="grid points from low to high (both included)")
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.high < self.low:
            raise ValueError(f"empty range: high {self.high:g} < low {self.low:g}")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.steps > 1 and self.high == self.low:
            raise ValueError(f"empty range: low = high = {self.low:g} with {self.steps} steps")
        return self


class ParameterSpec(Strict):
    path: str = Field(min_length=1, description="problem field (workloads.chat.tpot_ms) or catalog.KIND.ID.FIELD")
    values: Annotated[list[Scalar], Field(min_length=1)] | None = None
    range: Range | None = None
    catalog: Literal["low_base_high"] | None = Field(None, description="the catalog's low, base and high")
    base: Scalar | None = Field(None, description="centre of one-at-a-time designs (default: the problem's)")
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_values(cls, data):
        if isinstance(data, dict) and data.get("values") == []:
            raise ValueError("values: empty list (give at least one value)")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ParameterSpec:
        given = [k for k in ("values", "range", "catalog") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of values, range, catalog (got {', '.join(given) or 'none'})")
        return self


class DesignSpec(Strict):
    kind: DesignKind = "grid"
    samples: int | None = Field(None, ge=1, le=1_000_000, description="random/LHS scenarios; sobol N; morris r")
    seed: int = Field(0, ge=0)
    levels: int = Field(4, ge=2, le=100, description="morris grid levels")

    @model_validator(mode="after")
    def _samples(self) -> DesignSpec:
        needs = {"random", "latin_hypercube", "sobol", "morris"}
        if self.kind in needs and self.samples is None:
            raise ValueError(f"design {self.kind} needs samples")
        if self.kind == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"sobol samples must be a power of two, got {self.samples}")
        return self


class SweepSolver(Strict):
    """Overrides of the problem's solver settings for every scenario."""

    time_limit_s: float | None = Field(None, gt=0, le=86400)
    gap: float | None = Field(None, ge=0, le=0.5, description="relative optimality gap (plans report theirs)")
    backend: str | None = Field(None, description="every MIP on this backend, as `planner solve --backend` "
                                "(no fast solve)")
    fast_solve: Literal["small", "all", "none"] = Field(
        "small", description="small: MIPs of up to 1,000 variables in-process on HiGHS to proven optimality "
        "(the plans of `planner solve`, faster); all: every MIP so (each plan the optimum, where `planner "
        "solve` may stop at another plan within the problem's gap); none: every MIP as `planner solve`")

    @field_validator("fast_solve", mode="before")
    @classmethod
    def _fast_solve_word(cls, value):
        """`fast_solve: off` (or no, false, on, yes, true) is a YAML boolean, not a choice: say which words are."""
        if isinstance(value, bool):
            said = "off, no or false" if not value else "on, yes or true"
            raise ValueError(f"{said} reads as a YAML boolean ({str(value).lower()}), not a choice: "
                             "use small, all or none (none: every MIP solved as `planner solve` does)")
        return value


class SweepFile(Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    problem: str = Field(min_length=1, description="base problem file, relative to the sweep file")
    parameters: list[ParameterSpec] = Field(min_length=1)
    design: DesignSpec = DesignSpec()
    solver: SweepSolver = SweepSolver()
    metric: Literal[METRICS] | None = Field(None, description="what tornado and sensitivity analyse")

    @model_validator(mode="after")
    def _unique(self) -> SweepFile:
        ps = [p.path for p in self.parameters]
        twice = sorted({p for p in ps if ps.count(p) > 1})
        if twice:
            raise ValueError(f"parameter path listed more than once: {', '.join(twice)}")
        return self


@dataclass(frozen=True)
class Parameter:
    """One validated parameter: where it goes, its grid values, its bounds for sampling designs, its base."""

    path: str
    label: str
    target: paths.Target
    values: tuple[Scalar, ...]  # grid / one-at-a-time values
    low: float | None  # continuous bounds (None: discrete values only)
    high: float | None
    log: bool
    base: Scalar
    money: bool  # True: changes money, power or demand only (candidates are reused)


@dataclass(frozen=True)
class Sweep:
    name: str
    where: str
    spec: SweepFile
    problem_path: Path
    problem_text: str
    problem_data: dict
    parameters: tuple[Parameter, ...]
    metric: str
    objective: str  # the base problem's objective kind

    @property
    def fingerprint(self) -> str:
        """Everything that decides the scenarios and their results, except the catalog (hashed apart)."""
        return self._fingerprint(self.spec.model_dump(mode="json"))

    @property
    def fingerprint_before_fast_solve(self) -> str:
        """The fingerprint this sweep had before `solver.fast_solve` existed (the spec had no such field; every
        sweep solved as `small` does now)."""
        return self._fingerprint(without_fast_solve(self.spec.model_dump(mode="json")))

    def _fingerprint(self, spec: dict) -> str:
        blob = json.dumps({"spec": spec, "problem": self.problem_text}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def without_fast_solve(spec: dict) -> dict:
    """A sweep spec (`SweepFile.model_dump(mode="json")`, or a ledger's copy of one) as it read before
    `solver.fast_solve` existed: the same without that field."""
    solver = spec.get("solver")
    if not isinstance(solver, dict):
        return spec
    return {**spec, "solver": {k: v for k, v in solver.items() if k != "fast_solve"}}


def load_sweep(path: str | Path, catalog: Catalog) -> Sweep:
    p = Path(path)
    where = display_path(p)
    text = read_file_text(p)
    if not text.strip():
        raise InputError(f"{where}: the file is empty (a sweep needs name, problem and parameters)")
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    return parse_sweep(data, where, p.parent, catalog)


def parse_sweep(data: object, where: str, base_dir: Path, catalog: Catalog) -> Sweep:
    spec = parse_sweep_spec(data, where)
    prob_path = (base_dir / spec.problem) if not Path(spec.problem).is_absolute() else Path(spec.problem)
    ptext, why = read_text(prob_path)
    if why:
        raise InputError(f"{where}: problem: {display_path(prob_path)}: {why}")
    return build_sweep(spec, where, prob_path, ptext, catalog)


def parse_sweep_spec(data: object, where: str) -> SweepFile:
    if not isinstance(data, dict):
        raise InputError(f"{where}: top level must be a mapping (name, problem, parameters, design)")
    try:
        return SweepFile.model_validate(data)
    except ValidationError as err:
        lines = [_nice(x, where, data) for x in format_validation_error(where, "@", err)]
        raise InputError("\n".join(lines)) from None


def build_sweep(spec: SweepFile, where: str, prob_path: Path, ptext: str, catalog: Catalog) -> Sweep:
    """A validated sweep from its parsed spec and the base problem's text."""
    from planner.sweep import adapter

    pwhere = display_path(prob_path)
    problem = adapter.parse_problem_text(ptext, pwhere)  # the base problem must be valid on its own
    pdata = load_yaml(ptext)
    params = []
    for i, ps in enumerate(spec.parameters):
        params.append(_parameter(ps, f"{where}: parameters[{i}]", pdata, problem, catalog))
    adapter.check_references(pdata, catalog, pwhere)
    known = adapter.backend_names()
    if spec.solver.backend is not None and spec.solver.backend not in known:
        raise InputError(f"{where}: solver.backend: unknown backend {spec.solver.backend!r} "
                         f"(choose one of: {', '.join(known)})")
    sweep = Sweep(spec.name, where, spec, prob_path, ptext, pdata, tuple(params),
                  spec.metric or _default_metric(problem.objective.kind), problem.objective.kind)
    _check_values(sweep, catalog)
    return sweep


def _default_metric(objective: str) -> str:
    return {"max_tokens_per_dollar": "tokens_per_usd", "max_throughput": "output_tok_s",
            "max_profit": "profit_usd_per_hour"}.get(objective, "cost_usd_per_hour")


def _parameter(ps: ParameterSpec, at: str, pdata: dict, problem, catalog: Catalog) -> Parameter:
    try:
        target = paths.resolve(ps.path, pdata, catalog)
    except ValueError as exc:
        raise InputError(f"{at}.path: {exc}") from None
    low = high = None
    log = False
    if ps.values is not None:
        values = tuple(dict.fromkeys(_canon(v) for v in ps.values))
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(nums) == len(values) and not target.integer:
            low, high = float(min(nums)), float(max(nums))
    elif ps.range is not None:
        r = ps.range
        values = tuple(dict.fromkeys(_canon(v, target.integer) for v in _steps(r)))
        low, high, log = r.low, r.high, r.scale == "log"
    else:
        levels = target.catalog_levels
        if levels is None:
            raise InputError(f"{at}.catalog: {ps.path} has no catalog low/base/high (only dated prices do)")
        values = tuple(dict.fromkeys(_canon(v) for v in levels))
        low, high = float(levels[0]), float(levels[2])
    if target.integer and any(isinstance(v, float) and v != int(v) for v in values):
        raise InputError(f"{at}: {ps.path} takes whole numbers, got {', '.join(map(str, values))}")
    if target.integer:
        values = tuple(dict.fromkeys(int(v) for v in values))
    if target.numeric and any(isinstance(v, str) for v in values):
        raise InputError(f"{at}.values: {ps.path} is a number, got {', '.join(map(repr, values))}")
    base = ps.base if ps.base is not None else target.base
    if target.numeric and isinstance(base, str):
        if ps.base is not None:  # the user's own `base:`, not the base problem's
            raise InputError(f"{at}.base: {ps.path} is a number, got {base!r}")
        raise InputError(f"{at}: the base problem gives {ps.path} = {base!r}, not a number: give the parameter a "
                         "numeric `base:`")
    if base is None:
        base = values[len(values) // 2]
    return Parameter(ps.path, ps.label or ps.path, target, values, low, high, log, _canon(base), target.money)


def _steps(r: Range) -> list[float]:
    import numpy as np

    if r.steps == 1:
        return [r.low]
    if r.scale == "log":
        return [float(x) for x in np.geomspace(r.low, r.high, r.steps)]
    return [float(x) for x in np.linspace(r.low, r.high, r.steps)]


def _canon(v, integer: bool = False):
    """One spelling per value (hashes and ledger rows stay stable): 0.1 + 0.2 -> 0.3, 2.0 -> 2."""
    if isinstance(v, (bool, str)):
        return v
    if integer:
        return round(float(v))
    x = float(f"{float(v):.10g}")
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _check_values(sweep: Sweep, catalog: Catalog) -> None:
    """Each parameter's extreme values, one at a time on the base problem, must give a valid problem."""
    from planner.sweep.apply import scenario_inputs

    for i, p in enumerate(sweep.parameters):
        probes = list(p.values) if len(p.values) <= 8 else [p.values[0], p.values[-1]]
        if p.low is not None:
            probes += [p.low, p.high]
        for v in dict.fromkeys(probes):
            try:  # the scenario's messages led by these words: the sweep file named once, no prefix to strip
                scenario_inputs(sweep, {p.path: v}, catalog,
                                f"{sweep.where}: parameters[{i}] ({p.path} = {v!r}) gives an invalid problem")
            except InputError as exc:
                raise InputError(str(exc).splitlines()[0]) from None  # the first reason


def _nice(line: str, where: str, data: dict) -> str:
    """`file: @.parameters.1.range: ...` -> `file: parameters[1].range: ...`."""
    head = f"{where}: @"
    if not line.startswith(head):
        return line
    path, sep, msg = line[len(head):].partition(": ")
    out = []
    for part in (x for x in path.split(".") if x):
        if part.isdigit() and out:
            out[-1] += f"[{part}]"
        else:
            out.append(part)
    msg = msg.replace("`planner catalog schema` lists the fields", "see sweeps/README.md")
    return f"{where}: {'.'.join(out) or 'sweep'}{sep}{msg}"
