"""Safe evaluation of the Python expression subset used by conditions, timers and DMN cells.

Uploaded models are untrusted, so an expression is checked against an allow-list at deploy time
(``SafeEvaluator.check``, see ``checker``) and evaluated at run time by a simpleeval interpreter that
only sees the task data and a few pure functions (``SafeEvaluator.evaluate``, see ``interpreter``).

Allowed: literals (str, int, float, bool, None, list, tuple, set, dict), names, ``a.b`` (key lookup
on mappings only), ``a[b]`` and slices, arithmetic ``+ - * / // % **``, comparisons including
``in``/``is``, ``and``/``or``/``not``, ``x if c else y``, f-strings without format specs, calls of
the functions in ``ALLOWED_FUNCTIONS`` and of the read-only methods in ``ALLOWED_METHODS``.
Comprehensions are allowed only as the single argument of ``any``/``all``/``sum``/``min``/``max``:
they are streamed (never materialised), capped at ``MAX_ITERATIONS`` items and ``MAX_SECONDS``.
Rejected: names/attributes starting with ``_``, lambdas, ``:=``, other calls, ``*``/``**`` unpacking,
bitwise operators, ``%`` string formatting, and constant sub-expressions that exceed the size caps
(``9**9**9``). Run-time caps: built strings/lists ``MAX_SEQUENCE_LENGTH`` items, integers
``MAX_INT_BITS`` bits, everything built by one evaluation ``MAX_BUDGET`` items counted expanded
(so shared-reference bombs like ``[[1]*10**5]*10**5`` fail before str/hash/compare touch them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.expressions.allowlist import ALLOWED_FUNCTIONS
from orchestrator.expressions.checker import parse_checked
from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.interpreter import thread_interpreter


class SafeEvaluator:
    """The only way the engine evaluates a model's expressions (checked once, cached, sandboxed)."""

    functions = frozenset(ALLOWED_FUNCTIONS)

    def check(self, py: str) -> None:
        """Raise ExpressionError if the expression uses anything outside the allow-list."""
        parse_checked(py)

    def evaluate(self, py: str, names: Mapping[str, Any]) -> Any:
        """Evaluate a checked expression with only ``names`` (task data) and allowed functions visible."""
        tree = parse_checked(py)
        try:
            return thread_interpreter().run(tree, names)
        except ExpressionError as exc:
            exc.expression = py
            raise
