"""What a script can reach: its builtins, attribute access on plain data, and ``print``.

Everything else (types, dunders, modules) stays out of reach, and the methods that can grow a value
(``join``, ``replace``, padding, ``extend``) are wrapped so their result size is checked first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from orchestrator.expressions.allowlist import STR_METHODS
from orchestrator.expressions.limits import SCRIPT_MAX_SEQUENCE_LENGTH, safe_round, safe_str, safe_sum
from orchestrator.expressions.script_guards import check_size, expanded

MAX_PRINT_CHARS = 10_000


def _repr(value: Any) -> str:
    return repr(expanded(value))


_script_str = functools.partial(safe_str, limit=SCRIPT_MAX_SEQUENCE_LENGTH)


def _isinstance(value: Any, kinds: Any) -> bool:
    """isinstance() that understands the size-checked ``str`` scripts get instead of the real type."""
    if isinstance(kinds, tuple):
        kinds = tuple(str if kind is _script_str else kind for kind in kinds)
    return isinstance(value, str if kinds is _script_str else kinds)


def _join(text: str, iterable: Any) -> str:
    parts = list(iterable)
    check_size(sum(len(part) for part in parts if isinstance(part, str)) + len(text) * max(len(parts) - 1, 0))
    return text.join(parts)


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    hits = text.count(old) if old else len(text) + 1
    hits = hits if count < 0 else min(hits, count)
    check_size(len(text) + hits * (len(new) - len(old)))
    return text.replace(old, new, count)


def _padding(name: str) -> Callable[..., str]:
    def pad(text: str, width: int, *args: Any) -> str:
        check_size(width)
        return getattr(text, name)(width, *args)
    return pad


def _expandtabs(text: str, tabsize: int = 8) -> str:
    check_size(len(text) + text.count("\t") * max(tabsize, 0))
    return text.expandtabs(tabsize)


def _extend(items: list[Any], iterable: Any) -> None:
    extra = list(iterable)
    check_size(len(items) + len(extra))
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
    check_size(len(values))
    return values


class PrintCollector:
    """print() inside a script: keeps the first MAX_PRINT_CHARS characters for the debug log."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def _call_print(self, *objects: Any, sep: Any = " ", end: Any = "\n", **_ignored: Any) -> None:
        if self.size < MAX_PRINT_CHARS:
            line = safe_str(sep).join(safe_str(item, SCRIPT_MAX_SEQUENCE_LENGTH) for item in objects) + safe_str(end)
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
