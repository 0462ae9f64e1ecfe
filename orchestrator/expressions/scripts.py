"""Run BPMN script tasks in a RestrictedPython sandbox with a time budget and size caps.

Scripts come from uploaded models, so they are compiled with RestrictedPython plus our own policy:
no imports, no classes, no ``_`` names, ``* ** + << %`` and f-strings routed through size guards,
and a ``_tick_()`` call injected into every loop body, comprehension and function/lambda body.
The tick enforces the deadline (sys.settrace cannot: a one-line ``while True: pass`` emits no line
events) and stays raised after the deadline, so ``try/except`` cannot keep a script alive; it also
stops a script whose allocations grow the process peak RSS by more than ``MAX_MEMORY_GROWTH``.
The script sees the task data keys as variables and its JSON-like variables are written back.
"""

from __future__ import annotations

import ast
import copy
import functools
import logging
import operator
import re
import sys
import textwrap
import time
from collections.abc import Callable
from functools import lru_cache
from types import CodeType, TracebackType
from typing import Any

from RestrictedPython import compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.sandbox import (
    STR_METHODS,
    check_bits,
    check_expanded_size,
    check_length,
    guarded_add,
    guarded_mul,
    guarded_pow,
    safe_round,
    safe_str,
    safe_sum,
)

try:
    import resource
except ImportError:  # pragma: no cover - not available on Windows
    resource = None  # type: ignore[assignment]

SCRIPT_FILENAME = "<script>"
MAX_SOURCE_LENGTH = 100_000
MAX_MEMORY_GROWTH = 256 * 1024 * 1024
_MEMORY_CHECK_INTERVAL = 0.001
_BINOP_GUARDS = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.Add: "_add_", ast.LShift: "_lshift_",
                 ast.Mod: "_mod_"}
_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*)?((?:\d+)?(?:\.(?:\*|\d+))?)")
MAX_SEQUENCE_LENGTH = 1_000_000
MAX_INT_BITS = 100_000
MAX_PRINT_CHARS = 10_000
_LINE = re.compile(r"Line (\d+)")
_log = logging.getLogger(__name__)


class ScriptError(ExpressionError):
    """A script task failed to compile or run; ``line`` is the script line when known."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class _ScriptAbort(BaseException):
    """Raised by the tick; a BaseException so ``except Exception`` in a script cannot swallow it."""


# -- size guards called by the compiled script ------------------------------------------------

mul = functools.partial(guarded_mul, max_items=MAX_SEQUENCE_LENGTH, max_bits=MAX_INT_BITS)
power = functools.partial(guarded_pow, max_bits=MAX_INT_BITS)
add = functools.partial(guarded_add, max_items=MAX_SEQUENCE_LENGTH)


def _check_size(size: int) -> None:
    check_length(size, MAX_SEQUENCE_LENGTH)


def lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        check_bits(a.bit_length() + max(b, 0), MAX_INT_BITS)
    return a << b


def expanded(value: Any) -> Any:
    """Values formatted into text (f-strings, %, print) must not expand to a huge string."""
    check_expanded_size(value, MAX_SEQUENCE_LENGTH)
    return value


def _repr(value: Any) -> str:
    return repr(expanded(value))


_script_str = functools.partial(safe_str, limit=MAX_SEQUENCE_LENGTH)


def _isinstance(value: Any, kinds: Any) -> bool:
    """isinstance() that understands the size-checked ``str`` scripts get instead of the real type."""
    if isinstance(kinds, tuple):
        kinds = tuple(str if kind is _script_str else kind for kind in kinds)
    return isinstance(value, str if kinds is _script_str else kinds)


def mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        expanded(b)
        for star, number in _PERCENT_SPEC.findall(a):
            if star or any(int(n) > 1000 for n in _SPEC_NUMBER.findall(number)):
                raise ExpressionError("'%' format width/precision above 1000 or '*' is not allowed")
    return a % b


def checklen(value: Any) -> Any:
    _check_size(len(value))
    return value


_INPLACE = {"+=": add, "*=": mul, "**=": power, "<<=": lshift, "%=": mod, "-=": operator.sub,
            "/=": operator.truediv, "//=": operator.floordiv, ">>=": operator.rshift,
            "&=": operator.and_, "|=": operator.or_, "^=": operator.xor}


def inplace(op: str, target: Any, value: Any) -> Any:
    if op not in _INPLACE:
        raise ExpressionError(f"operator '{op}' is not allowed")
    return _INPLACE[op](target, value)


def apply(function: Any, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def _join(text: str, iterable: Any) -> str:
    parts = list(iterable)
    _check_size(sum(len(part) for part in parts if isinstance(part, str)) + len(text) * max(len(parts) - 1, 0))
    return text.join(parts)


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    hits = text.count(old) if old else len(text) + 1
    hits = hits if count < 0 else min(hits, count)
    _check_size(len(text) + hits * (len(new) - len(old)))
    return text.replace(old, new, count)


def _padding(name: str) -> Callable[..., str]:
    def pad(text: str, width: int, *args: Any) -> str:
        _check_size(width)
        return getattr(text, name)(width, *args)
    return pad


def _expandtabs(text: str, tabsize: int = 8) -> str:
    _check_size(len(text) + text.count("\t") * max(tabsize, 0))
    return text.expandtabs(tabsize)


def _extend(items: list[Any], iterable: Any) -> None:
    extra = list(iterable)
    _check_size(len(items) + len(extra))
    items.extend(extra)


_SIZE_GUARDED: dict[tuple[type, str], Callable[..., Any]] = {
    (str, "join"): _join, (str, "replace"): _replace, (str, "expandtabs"): _expandtabs,
    (str, "ljust"): _padding("ljust"), (str, "rjust"): _padding("rjust"),
    (str, "center"): _padding("center"), (str, "zfill"): _padding("zfill"), (list, "extend"): _extend,
}
_NUMBER_ATTRS = frozenset({"real", "imag", "conjugate", "is_integer", "numerator", "denominator", "bit_length"})
_SCRIPT_ATTRS: dict[type, frozenset[str]] = {
    str: STR_METHODS | {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join",
                         "partition", "rpartition", "splitlines", "index", "rindex", "swapcase",
                         "isidentifier", "istitle", "isprintable", "isascii", "encode"},
    list: frozenset({"append", "clear", "copy", "count", "extend", "insert", "pop", "remove", "reverse",
                     "sort"}),  # no index(): its error message is repr(value), which can be huge
    dict: frozenset({"clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
                     "values"}),
    set: frozenset({"add", "clear", "copy", "difference", "difference_update", "discard", "intersection",
                    "intersection_update", "isdisjoint", "issubset", "issuperset", "pop", "remove",
                    "symmetric_difference", "symmetric_difference_update", "union", "update"}),
    frozenset: frozenset({"copy", "difference", "intersection", "isdisjoint", "issubset", "issuperset",
                          "symmetric_difference", "union"}),
    tuple: frozenset({"count", "index"}),
    int: _NUMBER_ATTRS, float: _NUMBER_ATTRS, bool: _NUMBER_ATTRS,
}


def guarded_getattr(obj: Any, name: str) -> Any:
    """Attribute access for scripts: only listed methods of plain data types, size-guarded."""
    if not isinstance(name, str) or name.startswith("_"):
        raise AttributeError(f"attribute {name!r} is not allowed")
    if isinstance(obj, type):
        raise AttributeError(f"attribute '{name}' of a type is not allowed in scripts")
    if isinstance(obj, BaseException) and name == "args":
        return obj.args
    kind = next((base for base in type(obj).__mro__ if base in _SCRIPT_ATTRS), None)
    if kind is None or name not in _SCRIPT_ATTRS[kind]:
        raise AttributeError(f"attribute '{name}' of {type(obj).__name__} is not allowed in scripts")
    guarded = _SIZE_GUARDED.get((kind, name))
    return functools.partial(guarded, obj) if guarded else getattr(obj, name)


def _range(*args: int) -> range:
    values = range(*args)
    _check_size(len(values))
    return values


class PrintCollector:
    """print() inside a script: keeps the first MAX_PRINT_CHARS characters for the debug log."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def _call_print(self, *objects: Any, sep: Any = " ", end: Any = "\n", **_ignored: Any) -> None:
        if self.size < MAX_PRINT_CHARS:
            line = safe_str(sep).join(safe_str(item, MAX_SEQUENCE_LENGTH) for item in objects) + safe_str(end)
            self.parts.append(line[: MAX_PRINT_CHARS - self.size])
            self.size += len(self.parts[-1])

    def text(self) -> str:
        return "".join(self.parts)

    __call__ = text


SCRIPT_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False, "abs": abs, "all": all, "any": any, "bool": bool,
    "chr": chr, "dict": dict, "divmod": divmod, "enumerate": enumerate, "filter": filter,
    "float": float, "int": int, "isinstance": _isinstance, "len": len, "list": list, "map": map,
    "max": max, "min": min, "ord": ord, "range": _range, "repr": _repr, "reversed": reversed,
    "round": safe_round, "set": set, "sorted": sorted, "str": _script_str, "sum": safe_sum, "tuple": tuple,
    "zip": zip, "frozenset": frozenset,
    **{error.__name__: error for error in (
        ArithmeticError, AssertionError, AttributeError, Exception, IndexError, KeyError, LookupError,
        NameError, NotImplementedError, OverflowError, RuntimeError, StopIteration, TypeError,
        ValueError, ZeroDivisionError)},
}

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


def peak_rss() -> int:
    """Peak resident set size of this process in bytes (0 where the platform cannot tell)."""
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# -- compilation -------------------------------------------------------------------------------

def _tick_call(reference: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[])
    copy_locations(call, reference)
    copy_locations(call.func, reference)
    return call


def _tick_statement(reference: ast.AST) -> ast.Expr:
    statement = ast.Expr(_tick_call(reference))
    copy_locations(statement, reference)
    return statement


class _ScriptPolicy(RestrictingNodeTransformer):
    """RestrictedPython policy plus our bans, size guards and deadline ticks."""

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "import statements are not allowed")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "import statements are not allowed")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        copy_locations(call.func, node)
        return call

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        node = self.node_contents_visit(node)
        call = ast.Call(func=ast.Name("_checklen_", ast.Load()), args=[node], keywords=[])
        copy_locations(call, node)
        copy_locations(call.func, node)
        return call

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            if not all(isinstance(part, ast.Constant) and isinstance(part.value, str) for part in parts):
                self.error(node, "f-string format specs must be constant")
            elif any(int(number) > 1000 for part in parts
                     for number in _SPEC_NUMBER.findall(part.value)):  # type: ignore[attr-defined]
                self.error(node, "f-string format spec width/precision above 1000 is not allowed")
        value = ast.Call(func=ast.Name("_expanded_", ast.Load()), args=[self.visit(node.value)], keywords=[])
        copy_locations(value, node)
        copy_locations(value.func, node)
        node.value = value
        return node

    def _reject_starred(self, node: ast.List | ast.Tuple | ast.Set) -> None:
        loading = isinstance(node, ast.Set) or isinstance(node.ctx, ast.Load)
        if loading and any(isinstance(element, ast.Starred) for element in node.elts):
            self.error(node, "'*' unpacking inside list, tuple or set literals is not allowed")

    def visit_List(self, node: ast.List) -> ast.AST:
        self._reject_starred(node)
        return super().visit_List(node)

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        self._reject_starred(node)
        return super().visit_Tuple(node)

    def visit_Set(self, node: ast.Set) -> ast.AST:
        self._reject_starred(node)
        return super().visit_Set(node)

    def visit_While(self, node: ast.While) -> ast.AST:
        node = super().visit_While(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        node = super().visit_For(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = super().visit_Lambda(node)
        body = ast.BoolOp(op=ast.And(), values=[_tick_call(node), node.body])
        copy_locations(body, node)
        node.body = body
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, _tick_call(node.iter))
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node = super().visit_Module(node)
        ast.fix_missing_locations(node)
        return node


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
        result = compile_restricted_exec(source, filename=SCRIPT_FILENAME, policy=_ScriptPolicy)
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


class _Clock:
    """Deadline and memory budget shared by every tick of one script run."""

    def __init__(self, time_limit: float) -> None:
        self.time_limit = time_limit
        self.deadline = time.monotonic() + time_limit
        self.base_rss = peak_rss()
        self.next_memory_check = 0.0
        self.reason: str | None = None

    def tick(self) -> bool:
        if self.reason is not None:
            raise _ScriptAbort(self.reason)
        now = time.monotonic()
        if now > self.deadline:
            self.reason = f"script exceeded its time limit of {self.time_limit:g} s"
        elif now >= self.next_memory_check:
            self.next_memory_check = now + _MEMORY_CHECK_INTERVAL
            if peak_rss() - self.base_rss > MAX_MEMORY_GROWTH:
                self.reason = f"script used more than {MAX_MEMORY_GROWTH // (1024 * 1024)} MB of memory"
        if self.reason is not None:
            raise _ScriptAbort(self.reason)
        return True


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
        text = safe_str(exc, MAX_SEQUENCE_LENGTH)
    except ExpressionError:
        text = "<message too large>"
    return f"{type(exc).__name__}: {text[:1000]}"


def _injected(data: dict[str, Any]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and not key.startswith("_"):
            try:
                names[key] = copy.deepcopy(value)
            except Exception as exc:  # any failure to copy untrusted data is reported the same way
                raise ScriptError(f"task data value '{key}' cannot be copied: {exc}") from None
    return names


def _environment(clock: _Clock, printed: list[PrintCollector]) -> dict[str, Any]:
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
        check_expanded_size(list(results.values()), MAX_SEQUENCE_LENGTH)
    except ExpressionError as exc:
        raise ScriptError(f"script variables are too large: {exc.message}") from None
    for key in before:
        if key not in namespace:
            del data[key]
    for key, value in results.items():
        converted = to_json_like(value)
        if converted is not DROP:
            data[key] = converted


def run_script(source: str, data: dict[str, Any], *, time_limit: float = 1.0) -> None:
    """Run a script task against ``data`` (mutated in place only if the script succeeds)."""
    code = _compile(_normalize(source))
    names = _injected(data)
    clock = _Clock(time_limit)
    printed: list[PrintCollector] = []
    namespace = {**names, **_environment(clock, printed)}
    try:
        exec(code, namespace)  # noqa: S102 - restricted bytecode with guarded globals
    except _ScriptAbort as exc:
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
