"""Size guards a compiled script calls in place of ``* ** + << %``, in-place ops and f-strings.

``script_policy`` rewrites those operations into calls of these functions so a script cannot build
a huge string, list or integer: the size is checked before the value exists.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Any

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.limits import (
    SCRIPT_MAX_INT_BITS,
    SCRIPT_MAX_SEQUENCE_LENGTH,
    check_bits,
    check_expanded_size,
    check_length,
    guarded_add,
    guarded_mul,
    guarded_pow,
)

SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*)?((?:\d+)?(?:\.(?:\*|\d+))?)")

mul = functools.partial(guarded_mul, max_items=SCRIPT_MAX_SEQUENCE_LENGTH, max_bits=SCRIPT_MAX_INT_BITS)
power = functools.partial(guarded_pow, max_bits=SCRIPT_MAX_INT_BITS)
add = functools.partial(guarded_add, max_items=SCRIPT_MAX_SEQUENCE_LENGTH)


def check_size(size: int) -> None:
    """Refuse a script string/list longer than the script cap."""
    check_length(size, SCRIPT_MAX_SEQUENCE_LENGTH)


def lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        check_bits(a.bit_length() + max(b, 0), SCRIPT_MAX_INT_BITS)
    return a << b


def expanded(value: Any) -> Any:
    """Values formatted into text (f-strings, %, print) must not expand to a huge string."""
    check_expanded_size(value, SCRIPT_MAX_SEQUENCE_LENGTH)
    return value


def mod(a: Any, b: Any) -> Any:
    if isinstance(a, str):
        expanded(b)
        for star, number in _PERCENT_SPEC.findall(a):
            if star or any(int(n) > 1000 for n in SPEC_NUMBER.findall(number)):
                raise ExpressionError("'%' format width/precision above 1000 or '*' is not allowed")
    return a % b


def checklen(value: Any) -> Any:
    check_size(len(value))
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
