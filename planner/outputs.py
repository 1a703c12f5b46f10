"""One home for writing result files and for making user text safe to show or to open in a spreadsheet.

Files: `write_atomic` writes to a uniquely named temporary file in the target folder and `os.replace`s it, so a
reader never sees a half-written file and two runs writing the same path at once leave one complete version;
an existing symlink at the output path is refused, never followed; whatever fails or is interrupted (Ctrl-C,
SIGTERM) removes its temporary file. `set_aside` moves a previous result out of the way while a run computes
its replacement, so a failed or killed run never leaves an older plan.json that looks current.

Text: `safe_text` strips control characters (ANSI/OSC escape sequences, NUL, bidi overrides) and escapes rich
markup, for every user or catalog string printed on the terminal; `safe_cell` neutralizes spreadsheet
formulas in CSV/XLSX cells written from user strings.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planner import interrupts
from planner.errors import InputError

STALE_SUFFIX = ".stale"


# ------------------------------------------------------------------------------------------------ files
def make_out_dir(path: str | Path, given: str | None = None) -> Path:
    """Create an output folder, or exit 2 naming it (a file in the way, no permission, read-only disk).

    `given` is what the user typed after --out when that is a file inside `path`."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        folder = f" {p}" if given else ""
        why = exc.strerror or exc
        raise InputError(f"--out {given or path}: cannot create the folder{folder}: {why}") from None
    return p


def _refuse_special(path: Path) -> None:
    """An output path may be absent or a regular file; a symlink (even to a regular file) is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise InputError(f"{path}: is a symbolic link; refusing to write through it (remove it or choose "
                         "another --out)")
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InputError(f"{path}: is {kind}; refusing to replace it")


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8, or bytes) to `path` all at once; InputError naming the path on failure."""
    p = Path(path)
    _refuse_special(p)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    folder = p.parent if str(p.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        interrupts.raise_if_requested()  # an interrupted run writes no result, even one it finished
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise InputError(f"{p}: cannot write: {exc.strerror or exc}") from None
    finally:  # also on KeyboardInterrupt/SystemExit: never leave a temporary file behind
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def stale_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + STALE_SUFFIX)


@contextlib.contextmanager
def set_aside(path: str | Path) -> Iterator[Path | None]:
    """While a run computes the replacement of `path`, the previous file waits as `path.stale`.

    If the block succeeds (and wrote `path`), the stale copy is removed; if it fails, is interrupted or is
    killed, `path` is absent and `path.stale` says plainly that what it holds is not this run's result.
    Yields the stale path (None when there was no previous file)."""
    p = Path(path)
    aside = None
    if os.path.lexists(p):
        _refuse_special(p)
        aside = stale_path(p)
        try:
            os.replace(p, aside)
        except FileNotFoundError:  # a concurrent run moved it first
            aside = None
        except OSError as exc:
            raise InputError(f"{p}: cannot move the previous result aside: {exc.strerror or exc}") from None
    yield aside
    if p.exists():  # this run's result is in place: no stale copy, of this run or an earlier one, remains
        with contextlib.suppress(OSError):
            os.unlink(stale_path(p))


# ------------------------------------------------------------------------------------------------- text
# C0 controls but tab and newline, DEL, C1 controls (8-bit CSI/OSC), bidi overrides and isolates
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# a whole ANSI/OSC sequence, so no remnant such as "[31m" or "]8;;file://..." is left behind
_ESCAPE_SEQ = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")


def clean_text(value: Any) -> str:
    """`value` as text without terminal control sequences or control characters (newlines and tabs kept)."""
    return _CONTROL.sub("", _ESCAPE_SEQ.sub("", str(value)))


def safe_text(value: Any) -> str:
    """User or catalog text ready to print with rich: control characters stripped, markup escaped."""
    from rich.markup import escape

    return escape(clean_text(value))


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV/XLSX cell value that no spreadsheet will run as a formula: text starting with = + - @ tab or CR
    gets a leading apostrophe (the OWASP advice); numbers, and text that is just a number, pass unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _NUMBER.fullmatch(value.strip()):
        return value
    return "'" + value


def safe_frame(frame):
    """A copy of a pandas DataFrame with every text cell (and column name) passed through `safe_cell`."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    out = frame.copy()
    for col in out.columns:
        if not (is_numeric_dtype(out[col]) or is_bool_dtype(out[col])):  # object and string dtypes
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out
