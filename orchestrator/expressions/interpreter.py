"""Run-time evaluation of checked expressions: a simpleeval interpreter that sees only task data.

Checking cannot bound what data makes an expression build, so the interpreter also caps run time
(``MAX_SECONDS``), comprehension items (``MAX_ITERATIONS``) and everything one evaluation builds
(``MAX_BUDGET`` items counted expanded).
"""

from __future__ import annotations

import ast
import operator
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from orchestrator.expressions.allowlist import ALLOWED_FUNCTIONS, ALLOWED_METHODS, streams
from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.limits import (
    SEQUENCES,
    check_length,
    describe,
    expanded_size,
    guarded_add,
    guarded_mul,
    guarded_pow,
    safe_str,
    short,
)

MAX_BUDGET = 1_000_000
MAX_ITERATIONS = 10_000
MAX_SECONDS = 1.0


class Interpreter(EvalWithCompoundTypes):
    """simpleeval interpreter with data-only name lookup, mapping attributes and size caps."""

    def __init__(self) -> None:
        operators = {
            ast.Add: self._add, ast.Sub: operator.sub, ast.Mult: self._mul,
            ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
            ast.Mod: _mod, ast.Pow: guarded_pow, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
            ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
            ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
            ast.Not: lambda a: not a, ast.USub: lambda a: -a, ast.UAdd: lambda a: +a,
        }
        super().__init__(operators=operators, functions=dict(ALLOWED_FUNCTIONS), names={})
        self.functions = dict(ALLOWED_FUNCTIONS)
        self.nodes.update({
            ast.Name: self._eval_name, ast.Attribute: self._eval_attribute, ast.Call: self._eval_call,
            ast.JoinedStr: self._eval_joinedstr, ast.Subscript: self._eval_subscript,
        })
        for removed in (ast.ListComp, ast.GeneratorExp, ast.DictComp):
            self.nodes.pop(removed, None)
        self.busy = False
        self._scopes: list[dict[str, Any]] = []
        self._count = 0
        self._budget = 0
        self._deadline = 0.0

    def run(self, tree: ast.AST, names: Mapping[str, Any]) -> Any:
        self.names = names
        self._scopes, self._count, self._budget = [], 0, 0
        self._deadline = time.monotonic() + MAX_SECONDS
        self.busy = True
        try:
            return self._eval(tree)
        except ExpressionError:
            raise
        except InvalidExpression as exc:
            raise ExpressionError(str(exc)) from None
        except RecursionError:
            raise ExpressionError("expression recursed too deeply") from None
        except Exception as exc:  # every run-time failure of untrusted input becomes an ExpressionError
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
        finally:
            self.busy = False
            self.names = {}
            self._scopes = []

    def _eval(self, node: ast.AST) -> Any:
        try:
            handler = self.nodes[type(node)]
        except KeyError:
            raise ExpressionError(f"{type(node).__name__} is not allowed") from None
        return handler(node)

    def _charged(self, value: Any) -> Any:
        if isinstance(value, SEQUENCES):
            try:
                self._budget += expanded_size(value, MAX_BUDGET - self._budget)
            except ExpressionError:
                raise ExpressionError("expression builds too much data") from None
        return value

    def _add(self, a: Any, b: Any) -> Any:
        return self._charged(guarded_add(a, b))

    def _mul(self, a: Any, b: Any) -> Any:
        return self._charged(guarded_mul(a, b))

    def _eval_name(self, node: ast.Name) -> Any:
        for scope in reversed(self._scopes):
            if node.id in scope:
                return scope[node.id]
        try:
            return self.names[node.id]
        except KeyError:
            raise ExpressionError(f"unknown variable '{node.id}'") from None

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        value = self._eval(node.value)
        if isinstance(value, Mapping):
            try:
                return value[node.attr]
            except KeyError:
                raise ExpressionError(f"no key '{node.attr}' in '{describe(node.value)}'") from None
        raise ExpressionError(
            f"cannot read '.{node.attr}' of {type(value).__name__} value '{describe(node.value)}'")

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        try:
            return container[key]
        except KeyError:
            raise ExpressionError(f"no key {short(key)} in '{describe(node.value)}'") from None
        except IndexError:
            raise ExpressionError(f"index {short(key)} is out of range for '{describe(node.value)}'") from None

    def _eval_call(self, node: ast.Call) -> Any:
        kwargs = {keyword.arg: self._eval(keyword.value) for keyword in node.keywords}
        func = node.func
        if isinstance(func, ast.Name):
            function = self.functions[func.id]
            if streams(node):
                stream = self._stream(node.args[0])
                try:
                    return function(stream)
                finally:
                    stream.close()
        else:
            function = self._method(self._eval(func.value), func.attr)
        return function(*[self._eval(arg) for arg in node.args], **kwargs)

    def _method(self, obj: Any, name: str) -> Callable[..., Any]:
        kind = dict if isinstance(obj, Mapping) else type(obj)
        allowed = ALLOWED_METHODS.get(kind) or next(
            (methods for base, methods in ALLOWED_METHODS.items() if isinstance(obj, base)), frozenset())
        if name not in allowed:
            raise ExpressionError(f"method '{name}' is not available on {type(obj).__name__}")
        return getattr(obj, name)

    def _eval_joinedstr(self, node: ast.JoinedStr) -> str:
        parts = [safe_str(self._eval(value)) for value in node.values]
        text = "".join(parts)
        check_length(len(text))
        return self._charged(text)

    def _stream(self, node: ast.ListComp | ast.GeneratorExp) -> Iterator[Any]:
        scope: dict[str, Any] = {}
        self._scopes.append(scope)
        try:
            yield from self._produce(node, 0, scope)
        finally:
            self._scopes.pop()

    def _produce(self, node: ast.ListComp | ast.GeneratorExp, index: int, scope: dict[str, Any]) -> Iterator[Any]:
        generator = node.generators[index]
        for item in self._eval(generator.iter):
            self._count += 1
            if self._count > MAX_ITERATIONS:
                raise ExpressionError(f"comprehension runs more than {MAX_ITERATIONS} iterations")
            if time.monotonic() > self._deadline:
                raise ExpressionError(f"expression ran longer than {MAX_SECONDS} s")
            _bind(generator.target, item, scope)
            if all(self._eval(condition) for condition in generator.ifs):
                if index + 1 < len(node.generators):
                    yield from self._produce(node, index + 1, scope)
                else:
                    yield self._eval(node.elt)


def _bind(target: ast.expr, item: Any, scope: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        scope[target.id] = item
        return
    assert isinstance(target, ast.Tuple)
    values = tuple(item)
    if len(values) != len(target.elts):
        raise ExpressionError(f"cannot unpack {len(values)} values into {len(target.elts)} names")
    for element, value in zip(target.elts, values, strict=True):
        scope[element.id] = value  # type: ignore[attr-defined]


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        raise ExpressionError("'%' string formatting is not allowed; use f-strings or +")
    return a % b


_local = threading.local()


def thread_interpreter() -> Interpreter:
    """This thread's reusable interpreter, or a fresh one if it is busy (re-entrant evaluation)."""
    interpreter: Interpreter | None = getattr(_local, "interpreter", None)
    if interpreter is None or interpreter.busy:
        interpreter = Interpreter()
        if getattr(_local, "interpreter", None) is None:
            _local.interpreter = interpreter
    return interpreter
