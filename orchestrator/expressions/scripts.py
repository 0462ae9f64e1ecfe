"""Run BPMN script tasks in a RestrictedPython sandbox with a time budget and size caps.

Scripts come from uploaded models, so they are compiled with RestrictedPython plus our own policy
(``script_policy``): no imports, no classes, no ``_`` names, ``* ** + << %`` and f-strings routed
through size guards (``script_guards``), and a ``_tick_()`` call injected into every loop body,
comprehension and function/lambda body that enforces the time and memory budget (``script_clock``).
The script sees the task data keys as variables and its JSON-like variables are written back.
"""

from __future__ import annotations

import copy
import logging
import re
import textwrap
from functools import lru_cache
from types import CodeType, TracebackType
from typing import Any

from RestrictedPython import compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.limits import SCRIPT_MAX_SEQUENCE_LENGTH, check_expanded_size, safe_str
from orchestrator.expressions.script_builtins import SCRIPT_BUILTINS, PrintCollector, guarded_getattr
from orchestrator.expressions.script_clock import ScriptAbort, ScriptClock
from orchestrator.expressions.script_guards import (
    add,
    apply,
    checklen,
    expanded,
    inplace,
    lshift,
    mod,
    mul,
    power,
)
from orchestrator.expressions.script_policy import ScriptPolicy

SCRIPT_FILENAME = "<script>"
MAX_SOURCE_LENGTH = 100_000
_LINE = re.compile(r"Line (\d+)")
_log = logging.getLogger(__name__)


class ScriptError(ExpressionError):
    """A script task failed to compile or run; ``line`` is the script line when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


DROP = object()


def to_json_like(value: Any, depth: int = 0) -> Any:
    """A JSON-like copy of ``value`` (tuples become lists), or DROP for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 100:
        return DROP
    if isinstance(value, (list, tuple)):
        items = [to_json_like(item, depth + 1) for item in value]
        return DROP if any(item is DROP for item in items) else items
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return DROP
        entries = {key: to_json_like(item, depth + 1) for key, item in value.items()}
        return DROP if any(item is DROP for item in entries.values()) else entries
    return DROP


# -- compilation -------------------------------------------------------------------------------

def _normalize(source: str) -> str:
    if not isinstance(source, str):
        raise ScriptError("script must be text")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ScriptError(f"script is longer than {MAX_SOURCE_LENGTH} characters")
    return textwrap.dedent(source.replace("\r\n", "\n").replace("\r", "\n"))


@lru_cache(maxsize=512)
def _compile(source: str) -> CodeType:
    """Compile once per distinct script text; failures are not cached and re-raise each time."""
    try:
        result = compile_restricted_exec(source, filename=SCRIPT_FILENAME, policy=ScriptPolicy)
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ScriptError(f"script cannot be compiled: {type(exc).__name__}") from None
    if result.errors:
        match = _LINE.match(result.errors[0])
        messages = [_LINE.sub(r"script line \1", error, count=1) for error in result.errors]
        raise ScriptError("; ".join(messages), line=int(match.group(1)) if match else None)
    assert result.code is not None
    return result.code


def check_script(source: str) -> None:
    """Deploy-time check: raise ScriptError (an ExpressionError) if the script is not allowed."""
    _compile(_normalize(source))


# -- running -----------------------------------------------------------------------------------

def _script_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe_exception(exc: Exception) -> str:
    """``Type: message`` without expanding huge arguments (KeyError(big) would str() them)."""
    try:
        text = safe_str(exc, SCRIPT_MAX_SEQUENCE_LENGTH)
    except ExpressionError:
        text = "<message too large>"
    return f"{type(exc).__name__}: {text[:1000]}"


def _injected(data: dict[str, Any], copy_values: bool) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and not key.startswith("_"):
            try:
                names[key] = copy.deepcopy(value) if copy_values else value
            except Exception as exc:  # any failure to copy untrusted data is reported the same way
                raise ScriptError(f"task data value '{key}' cannot be copied: {exc}") from None
    return names


def _environment(clock: ScriptClock, printed: list[PrintCollector]) -> dict[str, Any]:
    def print_factory(_getattr_: Any = None) -> PrintCollector:
        collector = PrintCollector()
        printed.append(collector)
        return collector

    return {
        "__builtins__": SCRIPT_BUILTINS,
        "__name__": "script",
        "_getattr_": guarded_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_apply_": apply,
        "_inplacevar_": inplace,
        "_mul_": mul,
        "_pow_": power,
        "_add_": add,
        "_lshift_": lshift,
        "_mod_": mod,
        "_checklen_": checklen,
        "_expanded_": expanded,
        "_print_": print_factory,
        "_tick_": clock.tick,
    }


def _write_back(data: dict[str, Any], before: set[str], namespace: dict[str, Any]) -> None:
    results = {key: value for key, value in namespace.items() if not key.startswith("_")}
    try:
        check_expanded_size(list(results.values()), SCRIPT_MAX_SEQUENCE_LENGTH)
    except ExpressionError as exc:
        raise ScriptError(f"script variables are too large: {exc.message}") from None
    for key in before:
        if key not in namespace:
            del data[key]
    for key, value in results.items():
        converted = to_json_like(value)
        if converted is not DROP:
            data[key] = converted


def run_script(source: str, data: dict[str, Any], *, time_limit: float = 1.0, copy_values: bool = True) -> None:
    """Run a script task against ``data`` (mutated in place only if the script succeeds).

    ``copy_values=False`` lets the script change ``data``'s nested values even when it fails: for
    callers that throw ``data`` away on failure, such as the sandbox process.
    """
    code = _compile(_normalize(source))
    names = _injected(data, copy_values)
    clock = ScriptClock(time_limit)
    printed: list[PrintCollector] = []
    namespace = {**names, **_environment(clock, printed)}
    try:
        exec(code, namespace)  # noqa: S102 - restricted bytecode with guarded globals
    except ScriptAbort as exc:
        line = _script_line(exc.__traceback__)
        raise ScriptError(f"{exc} (line {line})" if line else str(exc), line=line) from None
    except Exception as exc:  # every failure inside untrusted script code becomes a ScriptError
        line = _script_line(exc.__traceback__)
        detail = exc.message if isinstance(exc, ExpressionError) else _describe_exception(exc)
        raise ScriptError(f"script line {line}: {detail}" if line else f"script: {detail}", line=line) from None
    finally:
        output = "".join(collector.text() for collector in printed)
        if output:
            _log.debug("script output: %s", output)
    _write_back(data, set(names), namespace)
