"""The sweep ledger: `DIR/ledger.sqlite`, one row per finished scenario, each written in its own transaction.

A killed sweep loses only the scenarios in flight; `--resume` runs what has no row. The scenario index is the
primary key and the scenario hash is unique, so no scenario is recorded twice. One sweep at a time writes a
ledger: `open_for_writing` takes an exclusive lock on `DIR/ledger.lock` (released by the OS when the process
dies, even on SIGKILL) and refuses a second writer with a clear message.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from planner.errors import InputError

LEDGER = "ledger.sqlite"
LOCK = "ledger.lock"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    idx INTEGER PRIMARY KEY,
    scenario_hash TEXT NOT NULL UNIQUE,
    catalog_hash TEXT NOT NULL,
    params TEXT NOT NULL,
    varied TEXT,
    status TEXT NOT NULL,
    objective REAL,
    metrics TEXT,
    fleet TEXT,
    deployments TEXT,
    error TEXT,
    tech_key TEXT,
    reused INTEGER NOT NULL DEFAULT 0,
    elapsed_s REAL,
    finished_at REAL
);
"""
COLUMNS = ("idx", "scenario_hash", "catalog_hash", "params", "varied", "status", "objective", "metrics", "fleet",
           "deployments", "error", "tech_key", "reused", "elapsed_s", "finished_at")
INSERT = f"INSERT INTO scenarios({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
JSON_COLUMNS = ("params", "metrics", "fleet", "deployments")


@dataclass
class Ledger:
    path: Path
    conn: sqlite3.Connection
    lock_fd: int | None = None

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, values: dict[str, str]) -> None:
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items())

    def done(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT idx FROM scenarios")}

    def record(self, row: dict) -> None:
        """One finished scenario, in its own transaction (committed before the next one starts)."""
        vals = [json.dumps(row.get(c), sort_keys=True) if c in JSON_COLUMNS else row.get(c) for c in COLUMNS]
        vals[COLUMNS.index("finished_at")] = time.time()
        with self.conn:
            self.conn.execute(INSERT, vals)

    def rows(self) -> list[dict]:
        cur = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM scenarios ORDER BY idx")
        out = []
        for r in cur.fetchall():
            d = dict(zip(COLUMNS, r, strict=True))
            for c in JSON_COLUMNS:
                d[c] = json.loads(d[c]) if d[c] is not None else None
            out.append(d)
        return out

    def close(self) -> None:
        self.conn.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing releases the flock
            self.lock_fd = None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.isolation_level = ""  # `with conn:` opens and commits one transaction
    return conn


def open_for_writing(out_dir: Path) -> Ledger:
    """Lock the folder's ledger for this process (exit 2 when another sweep holds it) and open it."""
    fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 64).decode(errors="replace").strip()
        os.close(fd)
        raise InputError(f"{out_dir / LEDGER}: another sweep is writing this ledger"
                         f"{f' (pid {holder})' if holder else ''}; wait for it or use another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    try:
        conn = _connect(out_dir / LEDGER)
        with conn:
            conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        os.close(fd)
        raise InputError(f"{out_dir / LEDGER}: not a sweep ledger ({exc})") from None
    return Ledger(out_dir / LEDGER, conn, fd)


def open_for_reading(out_dir: Path) -> Ledger:
    path = out_dir / LEDGER
    if not path.is_file():
        raise InputError(f"{out_dir}: no sweep ledger here ({LEDGER} is missing); run `planner sweep` first")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        conn.execute("SELECT count(*) FROM scenarios").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a sweep ledger ({exc})") from None
    return Ledger(path, conn)
