"""Safe evaluation of the Python expression subset used by conditions, timers and DMN cells.

Uploaded models are untrusted, so an expression is checked against an allow-list at deploy time
(``SafeEvaluator.check``) and evaluated at run time by a simpleeval interpreter that only sees the
task data and a few pure functions (``SafeEvaluator.evaluate``).

Allowed: literals (str, int, float, bool, None, list, tuple, set, dict), names, ``a.b`` (key lookup
on mappings only), ``a[b]`` and slices, arithmetic ``+ - * / // % **``, comparisons including
``in``/``is``, ``and``/``or``/``not``, ``x if c else y``, f-strings without format specs, calls of
the functions in ``ALLOWED_FUNCTIONS`` and of the read-only methods in ``ALLOWED_METHODS``.
Comprehensions are allowed only as the single argument of ``any``/``all``/``sum``/``min``/``max``:
they are streamed (never materialised), capped at ``MAX_ITERATIONS`` items and ``MAX_SECONDS``.
Rejected: names/attributes starting with ``_``, lambdas, ``:=``, other calls, ``*``/``**`` unpacking,
bitwise operators, and constant sub-expressions that exceed the size caps (``9**9**9``).
"""

from __future__ import annotations

import ast
import operator
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from orchestrator.expressions.errors import ExpressionError

MAX_EXPRESSION_LENGTH = 10_000
MAX_DEPTH = 100
MAX_SEQUENCE_LENGTH = 100_000
MAX_BUDGET = 1_000_000
MAX_INT_BITS = 10_000
MAX_ITERATIONS = 10_000
MAX_SECONDS = 1.0


def is_empty(value: Any) -> bool:
    """JUEL ``empty``: null, an empty string and an empty collection are empty."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


def _safe_round(number: Any, ndigits: int | None = None) -> Any:
    """round() whose ndigits is bounded: round(5, -10**7) would run for seconds."""
    if ndigits is not None and abs(ndigits) > 100:
        raise ExpressionError("round() ndigits must be between -100 and 100")
    return round(number, ndigits) if ndigits is not None else round(number)


def _safe_sum(iterable: Any, start: int | float = 0) -> Any:
    """sum() over numbers only: summing lists or strings could build huge values."""
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise ExpressionError("sum() start must be a number")
    total = start
    for item in iterable:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ExpressionError(f"sum() only adds numbers, got {type(item).__name__}")
        total += item
    return total


ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "str": str, "int": int, "float": float, "bool": bool, "abs": abs,
    "min": min, "max": max, "round": _safe_round, "sum": _safe_sum, "any": any, "all": all,
    "sorted": sorted, "empty": is_empty,
}
AGGREGATORS = frozenset({"any", "all", "sum", "min", "max"})
_STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "casefold", "title",
    "capitalize", "isdigit", "isalpha", "isalnum", "isnumeric", "isdecimal", "isspace", "islower",
    "isupper", "find", "rfind", "count", "split", "rsplit", "removeprefix", "removesuffix",
})
ALLOWED_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}
_METHOD_NAMES = frozenset().union(*ALLOWED_METHODS.values())
_BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**"}
_REJECTED_OPS = {ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&",
                 ast.BitXor: "^", ast.MatMult: "@", ast.Invert: "~"}
_LEAF_TYPES = (str, int, float, bool, type(None))
_SEQUENCES = (str, list, tuple)
_NOT_CONSTANT = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.ListComp, ast.GeneratorExp)


def _describe(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Walks a parsed expression and raises ExpressionError on the first disallowed construct."""

    def visit(self, node: ast.AST, depth: int = 0, folded: bool = False) -> None:
        if depth > MAX_DEPTH:
            raise ExpressionError("expression is nested too deeply")
        method = getattr(self, "_visit_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(self._rejection(node))
        method(node, depth + 1, folded)

    def _rejection(self, node: ast.AST) -> str:
        names = {ast.Lambda: "lambda expressions", ast.NamedExpr: "assignment expressions (:=)",
                 ast.DictComp: "dict comprehensions", ast.SetComp: "set comprehensions",
                 ast.Starred: "'*' unpacking", ast.Await: "await", ast.Yield: "yield"}
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return ("comprehensions are only allowed as the single argument of "
                    "any(), all(), sum(), min() or max()")
        return f"{names.get(type(node), type(node).__name__)} is not allowed"

    def _visit_Expression(self, node: ast.Expression, depth: int, folded: bool) -> None:
        self.visit(node.body, depth, folded)

    def _visit_Constant(self, node: ast.Constant, depth: int, folded: bool) -> None:
        if not isinstance(node.value, _LEAF_TYPES):
            raise ExpressionError(f"literal of type {type(node.value).__name__} is not allowed")
        if isinstance(node.value, str) and len(node.value) > MAX_SEQUENCE_LENGTH:
            raise ExpressionError("string literal is too long")

    def _visit_Name(self, node: ast.Name, depth: int, folded: bool) -> None:
        if node.id.startswith("_"):
            raise ExpressionError(f"name '{node.id}' is not allowed")

    def _visit_Attribute(self, node: ast.Attribute, depth: int, folded: bool) -> None:
        if node.attr.startswith("_"):
            raise ExpressionError(f"attribute '{node.attr}' is not allowed")
        self.visit(node.value, depth, folded)

    def _visit_Subscript(self, node: ast.Subscript, depth: int, folded: bool) -> None:
        self.visit(node.value, depth, folded)
        self.visit(node.slice, depth, folded)

    def _visit_Slice(self, node: ast.Slice, depth: int, folded: bool) -> None:
        for part in (node.lower, node.upper, node.step):
            if part is not None:
                self.visit(part, depth, folded)

    def _visit_BinOp(self, node: ast.BinOp, depth: int, folded: bool) -> None:
        if type(node.op) not in _BIN_OPS:
            raise ExpressionError(f"operator '{_REJECTED_OPS.get(type(node.op), '?')}' is not allowed")
        constant = not folded and _is_constant(node)
        self.visit(node.left, depth, folded or constant)
        self.visit(node.right, depth, folded or constant)
        if constant:
            _fold(node)

    def _visit_UnaryOp(self, node: ast.UnaryOp, depth: int, folded: bool) -> None:
        if isinstance(node.op, ast.Invert):
            raise ExpressionError("operator '~' is not allowed")
        self.visit(node.operand, depth, folded)

    def _visit_BoolOp(self, node: ast.BoolOp, depth: int, folded: bool) -> None:
        for value in node.values:
            self.visit(value, depth, folded)

    def _visit_Compare(self, node: ast.Compare, depth: int, folded: bool) -> None:
        self.visit(node.left, depth, folded)
        for comparator in node.comparators:
            self.visit(comparator, depth, folded)

    def _visit_IfExp(self, node: ast.IfExp, depth: int, folded: bool) -> None:
        for part in (node.test, node.body, node.orelse):
            self.visit(part, depth, folded)

    def _visit_List(self, node: ast.List | ast.Tuple | ast.Set, depth: int, folded: bool) -> None:
        for element in node.elts:
            self.visit(element, depth, folded)

    _visit_Tuple = _visit_List
    _visit_Set = _visit_List

    def _visit_Dict(self, node: ast.Dict, depth: int, folded: bool) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise ExpressionError("'**' unpacking is not allowed")
            self.visit(key, depth, folded)
            self.visit(value, depth, folded)

    def _visit_JoinedStr(self, node: ast.JoinedStr, depth: int, folded: bool) -> None:
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None:
                    raise ExpressionError("format specs in f-strings are not allowed")
                self.visit(value.value, depth, folded)
            else:
                self.visit(value, depth, folded)

    def _visit_Call(self, node: ast.Call, depth: int, folded: bool) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id.startswith("_"):
                raise ExpressionError(f"name '{func.id}' is not allowed")
            if func.id not in ALLOWED_FUNCTIONS:
                raise ExpressionError(f"function '{func.id}' is not allowed")
        elif isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                raise ExpressionError(f"attribute '{func.attr}' is not allowed")
            if func.attr not in _METHOD_NAMES:
                raise ExpressionError(f"method '{func.attr}' is not allowed")
            self.visit(func.value, depth, folded)
        else:
            raise ExpressionError("only named functions and methods may be called")
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ExpressionError("'**' unpacking is not allowed")
            if keyword.arg.startswith("_"):
                raise ExpressionError(f"keyword argument '{keyword.arg}' is not allowed")
            self.visit(keyword.value, depth, folded)
        if _streams(node):
            self._visit_comprehension(node.args[0], depth)
            return
        for arg in node.args:
            self.visit(arg, depth, folded)

    def _visit_comprehension(self, node: ast.ListComp | ast.GeneratorExp, depth: int) -> None:
        for generator in node.generators:
            if generator.is_async:
                raise ExpressionError("async comprehensions are not allowed")
            targets = generator.target.elts if isinstance(generator.target, ast.Tuple) else [generator.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    raise ExpressionError("comprehension targets must be plain names")
                self._visit_Name(target, depth, False)
            self.visit(generator.iter, depth)
            for condition in generator.ifs:
                self.visit(condition, depth)
        self.visit(node.elt, depth)


def _streams(node: ast.Call) -> bool:
    """True for any(x for x in y)-style calls whose comprehension is consumed as a stream."""
    return (isinstance(node.func, ast.Name) and node.func.id in AGGREGATORS and len(node.args) == 1
            and not node.keywords and isinstance(node.args[0], (ast.ListComp, ast.GeneratorExp)))


def _is_constant(node: ast.AST) -> bool:
    return not any(isinstance(child, _NOT_CONSTANT) for child in ast.walk(node))


def _fold(node: ast.BinOp) -> None:
    """Evaluate a constant sub-expression at deploy time so 9**9**9 fails there, not at run time."""
    try:
        _Interpreter().run(node, {})
    except ExpressionError as exc:
        raise ExpressionError(f"'{_describe(node)}' is rejected: {exc.message}") from None


@lru_cache(maxsize=4096)
def _parse_checked(py: str) -> ast.expr:
    """Parse and check once per distinct expression text; the tree is then reused read-only."""
    if not isinstance(py, str):
        raise ExpressionError("expression must be a string")
    text = py.strip()
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression syntax: {exc.msg} in {text[:80]!r}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError(f"expression cannot be parsed: {text[:80]!r}") from None
    try:
        _Checker().visit(tree)
    except RecursionError:
        raise ExpressionError("expression is nested too deeply") from None
    return tree.body


class _Interpreter(EvalWithCompoundTypes):
    """simpleeval interpreter with data-only name lookup, mapping attributes and size caps."""

    def __init__(self) -> None:
        operators = {
            ast.Add: self._add, ast.Sub: operator.sub, ast.Mult: self._mul,
            ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
            ast.Mod: _mod, ast.Pow: _pow, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
            ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
            ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
            ast.Not: lambda a: not a, ast.USub: lambda a: -a, ast.UAdd: lambda a: +a,
        }
        super().__init__(operators=operators, functions=dict(ALLOWED_FUNCTIONS), names={})
        self.functions = dict(ALLOWED_FUNCTIONS)
        self.nodes.update({
            ast.Name: self._eval_name, ast.Attribute: self._eval_attribute, ast.Call: self._eval_call,
            ast.JoinedStr: self._eval_joinedstr,
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

    def _charge(self, size: int) -> None:
        if size > MAX_SEQUENCE_LENGTH:
            raise ExpressionError(f"result would be too long ({size} > {MAX_SEQUENCE_LENGTH} items)")
        self._budget += size
        if self._budget > MAX_BUDGET:
            raise ExpressionError("expression builds too much data")

    def _add(self, a: Any, b: Any) -> Any:
        if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
            self._charge(len(a) + len(b))
        return a + b

    def _mul(self, a: Any, b: Any) -> Any:
        if isinstance(a, _SEQUENCES) and isinstance(b, int):
            self._charge(len(a) * max(b, 0))
        elif isinstance(b, _SEQUENCES) and isinstance(a, int):
            self._charge(len(b) * max(a, 0))
        elif isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"number would be too large (more than {MAX_INT_BITS} bits)")
        return a * b

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
                raise ExpressionError(f"no key '{node.attr}' in '{_describe(node.value)}'") from None
        raise ExpressionError(
            f"cannot read '.{node.attr}' of {type(value).__name__} value '{_describe(node.value)}'")

    def _eval_call(self, node: ast.Call) -> Any:
        kwargs = {keyword.arg: self._eval(keyword.value) for keyword in node.keywords}
        func = node.func
        if isinstance(func, ast.Name):
            function = self.functions[func.id]
            if _streams(node):
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
        parts = [str(self._eval(value)) for value in node.values]
        text = "".join(parts)
        self._charge(len(text))
        return text

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
    if isinstance(a, str):
        raise ExpressionError("'%' string formatting is not allowed; use f-strings or +")
    return a % b


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b > MAX_INT_BITS or abs(a).bit_length() * b > MAX_INT_BITS:
            raise ExpressionError(f"{a} ** {b} is too large (more than {MAX_INT_BITS} bits)")
    return a ** b


_local = threading.local()


def _interpreter() -> _Interpreter:
    interpreter: _Interpreter | None = getattr(_local, "interpreter", None)
    if interpreter is None or interpreter.busy:
        interpreter = _Interpreter()
        if getattr(_local, "interpreter", None) is None:
            _local.interpreter = interpreter
    return interpreter


class SafeEvaluator:
    """The only way the engine evaluates a model's expressions (checked once, cached, sandboxed)."""

    functions = frozenset(ALLOWED_FUNCTIONS)

    def check(self, py: str) -> None:
        """Raise ExpressionError if the expression uses anything outside the allow-list."""
        _parse_checked(py)

    def evaluate(self, py: str, names: Mapping[str, Any]) -> Any:
        """Evaluate a checked expression with only ``names`` (task data) and allowed functions visible."""
        tree = _parse_checked(py)
        try:
            return _interpreter().run(tree, names)
        except ExpressionError as exc:
            exc.expression = py
            raise
