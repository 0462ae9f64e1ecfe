"""The functions and read-only methods an expression may call.

Kept apart from the checker and the interpreter so both enforce the very same list: the checker
rejects anything else at deploy time, the interpreter exposes nothing else at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from orchestrator.expressions.limits import safe_round, safe_str, safe_sum
from orchestrator.expressions.model_functions import MODEL_FUNCTIONS


def is_empty(value: Any) -> bool:
    """JUEL ``empty``: null, an empty string and an empty collection are empty."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "str": safe_str, "int": int, "float": float, "bool": bool, "abs": abs,
    "min": min, "max": max, "round": safe_round, "sum": safe_sum, "any": any, "all": all,
    "sorted": sorted, "empty": is_empty, **MODEL_FUNCTIONS,
}
AGGREGATORS = frozenset({"any", "all", "sum", "min", "max"})
STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "casefold", "title",
    "capitalize", "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace", "islower",
    "isupper", "find", "rfind", "count", "split", "rsplit", "removeprefix", "removesuffix",
})
ALLOWED_METHODS: dict[type, frozenset[str]] = {
    str: STR_METHODS,
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count"}),  # list.index would put repr(value) into its error message
    tuple: frozenset({"count", "index"}),
}
METHOD_NAMES = frozenset().union(*ALLOWED_METHODS.values())


def streams(node: ast.Call) -> bool:
    """True for any(x for x in y)-style calls whose comprehension is consumed as a stream."""
    return (isinstance(node.func, ast.Name) and node.func.id in AGGREGATORS and len(node.args) == 1
            and not node.keywords and isinstance(node.args[0], (ast.ListComp, ast.GeneratorExp)))
