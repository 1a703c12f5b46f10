"""Run a sweep: expand, skip what the ledger has, compute each technical group's candidates once, solve every
scenario, record each as it finishes, then write the results.

Stopping: SIGINT (Ctrl-C) and SIGTERM set a flag; queued scenarios are cancelled, running ones finish and are
recorded, and `Interrupted` is raised (exit 130) after the results of what finished are written. A SIGKILL
loses only the scenarios in flight: every finished one is already committed.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from planner.catalog.catalog import Catalog
from planner.errors import InputError, PlannerError
from planner.sweep import design, ledger
from planner.sweep.apply import catalog_hash
from planner.sweep.executors import make_executor
from planner.sweep.spec import Sweep, without_fast_solve

MAX_SCENARIOS = 200_000


class Interrupted(PlannerError):
    exit_code = 130


@dataclass
class RunSummary:
    total: int
    already_done: int
    ran: int
    evaluations: int  # candidate tables computed
    reused: int  # scenarios that re-used a table computed for another scenario
    elapsed_s: float
    statuses: Counter = field(default_factory=Counter)
    stopped: bool = False

    @property
    def rate_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s > 0 else 0.0


def scenario_hash(sweep_hash: str, index: int, values: dict) -> str:
    """Index included: sampling designs may draw the same point twice (Morris trajectories do)."""
    blob = json.dumps([sweep_hash, index, values], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def scenario_catalog_hash(base_hash: str, sweep: Sweep, values: dict) -> str:
    changes = {p.path: values[p.path] for p in sweep.parameters if p.target.scope == "catalog"}
    if not changes:
        return base_hash
    return hashlib.sha256((base_hash + json.dumps(changes, sort_keys=True)).encode()).hexdigest()[:16]


def group_key(sweep: Sweep, values: dict) -> str:
    """Scenarios equal in every technical parameter (all but money, power, demand) share candidates."""
    return json.dumps([values.get(p.path) for p in sweep.parameters if not p.money])


def sweep_hash(fingerprint: str, cat_hash: str) -> str:
    return hashlib.sha256((fingerprint + cat_hash).encode()).hexdigest()[:16]


def check_ledger_sweep(where: Path, old: dict[str, str], sweep: Sweep, cat_hash: str,
                       meta: dict[str, str]) -> None:
    """Refuse a ledger that holds another sweep (`old`: its meta), saying what differs. One written before
    `solver.fast_solve` existed (its hash left the field out; those sweeps solved as `small` does) is this
    sweep's when the file keeps the default: it resumes under the ledger's own hash (`meta` takes it), so the
    scenario hashes of its rows and of the new ones agree."""
    held = old.get("sweep_hash")
    if held in (None, meta["sweep_hash"]):
        return
    fast = sweep.spec.solver.fast_solve
    if held == sweep_hash(sweep.fingerprint_before_fast_solve, cat_hash):
        if fast == "small":
            meta["sweep_hash"] = held
            return
        raise InputError(f"{where}: holds this sweep as a planner from before solver.fast_solve ran it (as "
                         f"`fast_solve: small` does); this file says fast_solve: {fast}: drop that line to "
                         "resume, or use another --out")
    if old.get("name") != sweep.name:
        what = f"another sweep ({old.get('name')!r})"
    elif old.get("catalog_hash") != cat_hash:
        what = ("this sweep on another catalog (a figure changed since: prices, performance data or the "
                "calibration), whose plans would not compare with new ones")
    elif _spec_without_fast_solve(old.get("spec")) != _spec_without_fast_solve(meta["spec"]):
        what = "this sweep with other settings (the sweep file's parameters, design or solver changed)"
    else:
        what = "this sweep on another version of its problem file"
    raise InputError(f"{where}: holds {what}; use another --out (or run the sweep as it was)")


def _spec_without_fast_solve(spec: str | None):
    """A ledger's spec (JSON) as `without_fast_solve` reads it; None when it is not JSON."""
    try:
        data = json.loads(spec) if spec else None
    except ValueError:  # a damaged ledger: its spec compares as different, and the refusal says so
        return None
    return without_fast_solve(data) if isinstance(data, dict) else data


def sweep_meta(sweep: Sweep, cat_hash: str, scenarios: list[design.Scenario]) -> dict[str, str]:
    """What `planner sweep report` needs without the sweep file: the spec, the parameters, the design."""
    meta = {
        "sweep_hash": sweep_hash(sweep.fingerprint, cat_hash),
        "name": sweep.name,
        "spec": json.dumps(sweep.spec.model_dump(mode="json"), sort_keys=True),
        "problem_name": str(sweep.problem_data.get("name", "")),
        "objective": sweep.objective,
        "metric": sweep.metric,
        "catalog_hash": cat_hash,
        "scenarios": str(len(scenarios)),
        "parameters": json.dumps([{"path": p.path, "label": p.label, "base": p.base, "values": list(p.values),
                                   "low": p.low, "high": p.high, "money": p.money} for p in sweep.parameters]),
    }
    if sweep.spec.design.kind in ("sobol", "morris"):
        meta["unit_samples"] = json.dumps(design.unit_samples(sweep).tolist())
    return meta


def run_sweep(sweep: Sweep, catalog: Catalog, out_dir: Path, *, workers: int = 1, executor: str = "local",
              ray_address: str | None = None, resume: bool = False, progress=None) -> RunSummary:
    """Run (or resume) a sweep into `out_dir`; returns counts. `progress(done, total)` is called per scenario."""
    n = design.count(sweep)
    if n > MAX_SCENARIOS:
        raise InputError(f"{sweep.where}: the design expands to {n:,} scenarios (at most {MAX_SCENARIOS:,}): "
                         "use fewer values or a sampling design")
    scenarios = design.expand(sweep)
    cat_hash = catalog_hash(catalog)
    meta = sweep_meta(sweep, cat_hash, scenarios)
    led = ledger.open_for_writing(out_dir)
    try:
        old = led.meta()
        done = led.done()
        check_ledger_sweep(led.path, old, sweep, cat_hash, meta)
        if done and not resume:
            raise InputError(f"{led.path}: {len(done)} scenarios of this sweep are already recorded: pass "
                             "--resume to run only the missing ones, or use another --out")
        led.set_meta(meta)
        pending = [s for s in scenarios if s.index not in done]
        summary = RunSummary(len(scenarios), len(done), 0, 0, 0, 0.0)
        if pending:
            try:
                _run(sweep, catalog, led, scenarios, pending, meta["sweep_hash"], cat_hash, summary,
                     workers=workers, executor=executor, ray_address=ray_address, progress=progress)
            finally:
                runs = json.loads(led.meta().get("runs", "[]"))
                runs.append({"ran": summary.ran, "evaluations": summary.evaluations, "reused": summary.reused,
                             "elapsed_s": round(summary.elapsed_s, 3), "workers": workers, "executor": executor,
                             "stopped": summary.stopped})
                led.set_meta({"runs": json.dumps(runs)})
    finally:
        led.close()
    return summary


def _run(sweep, catalog, led, scenarios, pending, sweep_hash, cat_hash, summary, *, workers, executor, ray_address,
         progress) -> None:
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.perf_counter()
    ex = None
    try:
        token = sweep_hash
        payload = pickle.dumps((sweep, catalog, token), protocol=pickle.HIGHEST_PROTOCOL)
        ex = make_executor(executor, payload, token, workers, ray_address,
                           (led.lock_fd,) if led.lock_fd is not None else ())
        groups: dict[str, list[design.Scenario]] = {}
        for s in pending:
            groups.setdefault(group_key(sweep, s.values), []).append(s)
        # one candidate evaluation per technical group, in parallel across groups; a group of several scenarios
        # in the whole design (not just the pending ones: a resume must start them from the same point) also
        # gets its base scenario's solution to start each of them from
        sizes = Counter(group_key(sweep, s.values) for s in scenarios)
        by_group: dict[str, tuple] = {}
        for gk, key, blob, _, start in ex.run("candidates_task",
                                              [(g, ss[0].values, sizes[g] > 1) for g, ss in groups.items()],
                                              lambda: stop["flag"]):
            by_group[gk] = (key, ex.share(blob) if blob is not None else None, start)
            summary.evaluations += key is not None
        if stop["flag"]:
            return
        tasks = [(s.index, s.values, *by_group.get(g, (None, None, None))) for g, ss in groups.items() for s in ss]
        index = {s.index: s for s in pending}
        if progress:
            progress(0, len(tasks))
        for res in ex.run("scenario_task", tasks, lambda: stop["flag"]):
            s = index[res["idx"]]
            row = {**res, "scenario_hash": scenario_hash(sweep_hash, s.index, s.values),
                   "catalog_hash": scenario_catalog_hash(cat_hash, sweep, s.values), "params": s.values,
                   "varied": s.varied}
            led.record(row)
            summary.ran += 1
            summary.evaluations += res.get("computed", 0)
            summary.statuses[res["status"]] += 1
            if progress:
                progress(summary.ran, len(tasks))
    finally:
        if ex is not None:
            ex.close()
        for s, h in old.items():
            signal.signal(s, h)
        summary.elapsed_s = time.perf_counter() - t0
        summary.reused = max(0, summary.ran - summary.evaluations)
        summary.stopped = stop["flag"] and summary.ran < len(pending)
