"""Size and repetition caps shared by the expression evaluator and script tasks.

Big-int arithmetic, string repetition and ``str()`` of a nested value cannot be interrupted once
started, so every value that could grow is measured here *before* it is built. Expressions use the
defaults; scripts pass their larger ``SCRIPT_*`` caps.
"""

from __future__ import annotations

import ast
from typing import Any

from orchestrator.expressions.errors import ExpressionError

MAX_SEQUENCE_LENGTH = 100_000
MAX_INT_BITS = 10_000
SCRIPT_MAX_SEQUENCE_LENGTH = 1_000_000
SCRIPT_MAX_INT_BITS = 100_000
SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset)


def check_length(size: int, limit: int = MAX_SEQUENCE_LENGTH) -> None:
    """Refuse to build a string/list longer than ``limit`` items."""
    if size > limit:
        raise ExpressionError(f"result would be too long ({size} > {limit} items)")


def check_bits(bits: int, limit: int = MAX_INT_BITS) -> None:
    """Refuse to build an integer wider than ``limit`` bits (big-int arithmetic cannot be interrupted)."""
    if bits > limit:
        raise ExpressionError(f"number would be too large (more than {limit} bits)")


def guarded_add(a: Any, b: Any, max_items: int = MAX_SEQUENCE_LENGTH) -> Any:
    """``a + b`` with the size of a concatenation checked before it is built."""
    if isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES):
        check_length(len(a) + len(b), max_items)
    return a + b


def guarded_mul(a: Any, b: Any, max_items: int = MAX_SEQUENCE_LENGTH, max_bits: int = MAX_INT_BITS) -> Any:
    """``a * b`` with repeated sequences and big integers checked before they are built."""
    sequence, count = (a, b) if isinstance(a, SEQUENCES) else (b, a)
    if isinstance(sequence, SEQUENCES) and isinstance(count, int):
        check_length(len(sequence) * max(count, 0), max_items)
        if count > 0 and isinstance(sequence, (list, tuple)):  # repeating nested containers multiplies them
            try:
                expanded_size(sequence, max_items // count + 1)
            except ExpressionError:
                raise ExpressionError(f"repeating nested values {count} times would expand to more than "
                                      f"{max_items} items") from None
    elif isinstance(a, int) and isinstance(b, int):
        check_bits(a.bit_length() + b.bit_length(), max_bits)
    return a * b


def guarded_pow(a: Any, b: Any, max_bits: int = MAX_INT_BITS) -> Any:
    """``a ** b`` refusing huge integer results (9**9**9) and complex results."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        check_bits(b if b > max_bits else abs(a).bit_length() * b, max_bits)
    result = a ** b
    if isinstance(result, complex):
        raise ExpressionError(f"{short(a)} ** {short(b)} has no real result")
    return result


def expanded_size(value: Any, limit: int = MAX_SEQUENCE_LENGTH) -> int:
    """Items (and characters) ``value`` expands to, refusing more than ``limit``: ``[[1]*10**5]*10**5``
    is small in memory (shared references) but is 10**10 items to str(), hash, compare or serialize."""
    if isinstance(value, BaseException):
        value = value.args
    if isinstance(value, (str, bytes)):
        total = len(value)
    elif not isinstance(value, _CONTAINERS):
        return 1
    else:
        total, stack = 0, [value]
        while stack and total <= limit:
            item = stack.pop()
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            total += 1 + len(children)
            for child in children if total <= limit else ():
                if isinstance(child, (str, bytes)):
                    total += len(child)
                elif isinstance(child, _CONTAINERS):
                    stack.append(child)
    if total > limit:
        raise ExpressionError(f"value is too large (more than {limit} items when expanded)")
    return total


def check_expanded_size(value: Any, limit: int = MAX_SEQUENCE_LENGTH) -> None:
    """Raise ExpressionError if ``value`` expands to more than ``limit`` items (see expanded_size)."""
    expanded_size(value, limit)


def safe_str(value: Any = "", limit: int = MAX_SEQUENCE_LENGTH) -> str:
    """str() that refuses to expand huge nested containers."""
    check_expanded_size(value, limit)
    return str(value)


def safe_round(number: Any, ndigits: int | None = None) -> Any:
    """round() whose ndigits is bounded: round(5, -10**7) would run for seconds."""
    if ndigits is not None and abs(ndigits) > 100:
        raise ExpressionError("round() ndigits must be between -100 and 100")
    return round(number, ndigits) if ndigits is not None else round(number)


def safe_sum(iterable: Any, start: int | float = 0) -> Any:
    """sum() over numbers only: summing lists or strings could build huge values."""
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise ExpressionError("sum() start must be a number")
    total = start
    for item in iterable:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ExpressionError(f"sum() only adds numbers, got {type(item).__name__}")
        total += item
    return total


def short(value: Any) -> str:
    """repr() for error messages that never expands a big value."""
    if (isinstance(value, (bool, float, type(None))) or (isinstance(value, int) and value.bit_length() < 100)
            or (isinstance(value, str) and len(value) <= 60)):
        return repr(value)
    return f"<{type(value).__name__}>"


def describe(node: ast.AST) -> str:
    """Source text of ``node`` for error messages, cut to 60 characters."""
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."
