"""One home for reading every user file: problem YAML, catalog YAML, plan.json, CSV batches.

Every reader refuses what is not a regular file (a FIFO is opened non-blocking and refused, never waited on; a
device such as /dev/zero is refused before a byte is read), caps the size (`PLANNER_MAX_INPUT_MB`), and parses
with limits: YAML safely (no tags that build objects), a key given twice is an error, aliases may not expand
beyond `PLANNER_MAX_YAML_NODES` values and nesting is capped (`PLANNER_MAX_NESTING`); JSON refuses NaN and
Infinity, integers longer than `PLANNER_MAX_INT_DIGITS` digits and deep nesting. Every failure is one line
naming the file (and field where there is one), raised as `InputError` (exit code 2).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from planner.errors import InputError
from planner.limits import env_name, limit


def display_path(path: str | Path) -> str:
    """A path as the user would type it: relative to the working directory where possible."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return str(path)


# ------------------------------------------------------------------------------------------------ files
_KINDS = (
    (stat.S_ISDIR, "is a folder, not a file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def _not_regular(mode: int) -> str | None:
    for test, why in _KINDS:
        if test(mode):
            return why
    return None if stat.S_ISREG(mode) else "is not a regular file"


def read_bytes(path: str | Path) -> bytes:
    """A regular file's bytes, at most the input size limit; anything else is an InputError naming it."""
    where = display_path(path)
    cap_mb = limit("input_mb")
    cap = cap_mb * 1024 * 1024
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below refuses it before any read
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise InputError(f"{where}: is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        why = _not_regular(st.st_mode)
        if why:
            raise InputError(f"{where}: {why}")
        if st.st_size > cap:
            raise InputError(f"{where}: {_mb(st.st_size)} is above the {cap_mb} MB input limit "
                             f"(raise it with {env_name('input_mb')}=N)")
        os.set_blocking(fd, True)
        chunks, got = [], 0
        while got <= cap:  # the file may grow after fstat: stop one byte past the cap
            chunk = os.read(fd, min(1 << 20, cap + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > cap:
            raise InputError(f"{where}: larger than the {cap_mb} MB input limit "
                             f"(raise it with {env_name('input_mb')}=N)")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{where}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.1f} MB"


def read_file_text(path: str | Path) -> str:
    """A UTF-8 text file's content (a leading byte-order mark dropped); InputError naming the file."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{display_path(path)}: not a UTF-8 text file (byte {exc.start} is 0x{data[exc.start]:02x}); "
            "is it binary?"
        ) from None


def read_text(path: str | Path) -> tuple[str, str | None]:
    """A text file's content, or ("", why it cannot be read): missing, unreadable, special, too big, binary."""
    try:
        return read_file_text(path), None
    except InputError as exc:
        return "", str(exc).removeprefix(f"{display_path(path)}: ")


# ------------------------------------------------------------------------------------------------- YAML
class YamlLimitError(yaml.YAMLError):
    """The YAML is valid but too big or too deep once aliases are expanded."""

    def __init__(self, problem: str, mark=None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _UniqueKeys:
    """construct_mapping that refuses a key given twice in one mapping (both loaders below)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
            except TypeError:  # unhashable key: let the base class report it
                break
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first at line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _LimitedLoader(_UniqueKeys, yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that refuses duplicate keys, deep nesting and alias bombs (the pure
    Python parser: used where PyYAML was built without libyaml)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._max_depth = limit("nesting")
        self._max_nodes = limit("yaml_nodes")

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                raise YamlLimitError(_too_deep(self._max_depth), self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expanded(node, self._max_nodes, self._max_depth)
        return node


# libyaml's parser: the same documents ~10x faster (the catalog's nine files took ~1.2 s of every command in
# the Python parser). It composes the whole node graph in C, refusing nesting beyond 1,000 levels itself; the
# graph is then checked as above before anything is constructed, and the constructor is the same Python one.
_CLoader = getattr(yaml, "CSafeLoader", None)
_LimitedCLoader = type("_LimitedCLoader", (_UniqueKeys, _CLoader), {}) if _CLoader is not None else None


def _too_deep(max_depth: int, where: str = "") -> str:
    return f"nested deeper than {max_depth} levels{where} (raise it with {env_name('nesting')}=N)"


LIBYAML_MAX_DEPTH = 1000  # libyaml's own cap (1,001 levels refused, 1,000 read; PyYAML 6 with libyaml 0.2.5)


def _libyaml_too_deep(max_depth: int) -> str:
    """libyaml's cap met: ours where it is the lower, else the parser's own, which no override raises (a 1,200-deep
    document under PLANNER_MAX_NESTING=2000 read 'nested deeper than 2000 levels (raise it ...)')."""
    if max_depth < LIBYAML_MAX_DEPTH:
        return _too_deep(max_depth)
    return f"nested deeper than {LIBYAML_MAX_DEPTH} levels, the YAML parser's own limit"


def _load_c(text: str):
    """load_yaml with libyaml: compose in C, check sizes and depth on the graph, construct in Python."""
    loader = _LimitedCLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:  # libyaml's own cap on nesting, in the words of ours
            if "maximum nesting depth" in str(getattr(exc, "problem", "")):
                raise YamlLimitError(_libyaml_too_deep(limit("nesting")), exc.problem_mark) from None
            raise
        if node is None:
            return None
        _check_expanded(node, limit("yaml_nodes"), limit("nesting"))
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expanded(root, max_nodes: int, max_depth: int) -> None:
    """Size and depth of the document as the program would see it (aliases expanded), computed without
    expanding: each distinct node once, iteratively, so a billion-laughs file costs microseconds."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    shared = False  # a node with two parents: the document uses aliases
    pushed: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            on_path.discard(key)
            if size[key] > max_nodes:
                raise YamlLimitError(
                    f"expands to more than {max_nodes:,} values through aliases (&anchor/*alias); "
                    f"raise it with {env_name('yaml_nodes')}=N", node.start_mark)
            if height[key] > max_depth:
                raise YamlLimitError(_too_deep(max_depth, " once aliases are expanded" if shared else ""),
                                     node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlLimitError("an alias refers to a value that contains it (a recursive structure)",
                                 node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        kids = _children(node)
        shared = shared or any(id(k) in pushed for k in kids)
        pushed.update(id(k) for k in kids)
        stack.extend((k, False) for k in kids if id(k) not in size)


def load_yaml(text: str):
    """Parse YAML safely with the limits above; raises yaml.YAMLError (see `yaml_error_line`)."""
    try:
        return _load_c(text) if _LimitedCLoader is not None else yaml.load(text, Loader=_LimitedLoader)
    except RecursionError:  # belt and braces: the depth limit should come first
        raise YamlLimitError(f"nested too deeply (raise the limit with {env_name('nesting')}=N)") from None


def yaml_error_line(where: str, exc: yaml.YAMLError) -> str:
    """One line for a YAML error: file, line and column, what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    what = "refused" if isinstance(exc, YamlLimitError) else "not valid YAML"
    return f"{where}: {what}{at}: {problem}"


def parse_yaml(text: str, where: str):
    """YAML text -> data, or InputError naming `where`."""
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise InputError(yaml_error_line(where, exc)) from None


# ------------------------------------------------------------------------------------------------- JSON
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings (linear; no recursion)."""
    depth = best = 0
    for ch in re.findall(r"[\[\]{}]", _STRINGS.sub("", text)):
        depth += 1 if ch in "[{" else -1
        best = max(best, depth)
    return best


def parse_json(text: str, where: str):
    """JSON text -> data with limits: nesting, integer digits, and no NaN/Infinity (InputError naming where)."""
    max_depth, max_digits = limit("nesting"), limit("int_digits")
    if json_depth(text) > max_depth:
        raise InputError(f"{where}: refused: nested deeper than {max_depth} levels "
                         f"(raise it with {env_name('nesting')}=N)")

    def parse_int(s: str) -> int:
        digits = len(s.lstrip("-"))
        if digits > max_digits:
            raise ValueError(f"an integer of {digits} digits is too large (limit {max_digits} digits, "
                             f"{env_name('int_digits')})")
        return int(s)

    def parse_float(s: str) -> float:
        x = float(s)
        if not math.isfinite(x):
            raise ValueError(f"the number {s[:40]} overflows (not finite)")
        return x

    def parse_constant(s: str):
        raise ValueError(f"{s} is not a number JSON allows (only finite numbers)")

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise InputError(f"{where}: refused: {exc}") from None
    except RecursionError:
        raise InputError(f"{where}: refused: nested too deeply") from None


# -------------------------------------------------------------------------------------- validation errors
def format_validation_error(where: str, entry_id: str, err: ValidationError) -> list[str]:
    """One line per pydantic error: `file: id.field.path: must be > 0, got -3`."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        field = f"{entry_id}.{loc}" if loc else entry_id
        lines.append(f"{where}: {field}: {_describe(e)}")
    return lines


def _short(x: Any) -> str:
    """repr of an input value for a message, cut short (an error must stay one readable line)."""
    text = repr(x)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text):,} characters)"


def _describe(e: dict[str, Any]) -> str:
    ctx, typ, got = e.get("ctx", {}), e["type"], _short(e.get("input"))
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if typ in bounds:
        lim = next(iter(ctx.values()))
        lim = f"{lim:g}" if isinstance(lim, float) else lim
        hint = " (check the unit in the field name)" if bounds[typ].startswith("<") else ""
        return f"must be {bounds[typ]} {lim}, got {got}{hint}"
    if typ == "extra_forbidden":
        return "unknown field (check the spelling; `planner catalog schema` lists the fields)"
    if typ == "missing":
        return "required field is missing"
    if typ in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (field: value), got {got}"
    if typ == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length', 0)}"
    if typ == "list_type":
        return f"must be a list, e.g. [a, b], got {got}"
    if typ == "finite_number":
        return f"must be a finite number, got {got}"
    if typ == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {got}"
    if typ == "string_pattern_mismatch":
        return f"must be a lower-case id (letters, digits, '-', '.'), got {got}"
    msg = e["msg"].removeprefix("Value error, ")
    return f"{msg}, got {got}" if typ.endswith("_type") or typ.endswith("_parsing") else msg


def ids_in_path(line: str, where: str, raw: dict) -> str:
    """A `format_validation_error` line (entry id "@") with list items named by their `id` in `raw`:
    `file: @.workloads.0.tpot_ms: ...` -> `file: workloads[chat].tpot_ms: ...` (problem files, plans)."""
    head = f"{where}: @"
    if not line.startswith(head):
        return line
    rest = line[len(head) :]
    path, sep, msg = rest.partition(": ")
    parts = [p for p in path.split(".") if p]
    out: list[str] = []
    node = raw
    for p in parts:
        if p.isdigit() and isinstance(node, list):
            i = int(p)
            item = node[i] if i < len(node) else None
            label = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else i
            out[-1] = f"{out[-1]}[{label}]" if out else f"[{label}]"
            node = item
            continue
        out.append(p)
        node = node.get(p) if isinstance(node, dict) else None
    field = ".".join(out) or "problem"
    return f"{where}: {field}{sep}{msg}"
