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
bitwise operators, ``%`` string formatting, and constant sub-expressions that exceed the size caps
(``9**9**9``). Run-time caps: built strings/lists ``MAX_SEQUENCE_LENGTH`` items, integers
``MAX_INT_BITS`` bits, everything built by one evaluation ``MAX_BUDGET`` items counted expanded
(so shared-reference bombs like ``[[1]*10**5]*10**5`` fail before str/hash/compare touch them).
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
_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset)


def is_empty(value: Any) -> bool:
    """JUEL ``empty``: null, an empty string and an empty collection are empty."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


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
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        check_length(len(a) + len(b), max_items)
    return a + b


def guarded_mul(a: Any, b: Any, max_items: int = MAX_SEQUENCE_LENGTH, max_bits: int = MAX_INT_BITS) -> Any:
    """``a * b`` with repeated sequences and big integers checked before they are built."""
    sequence, count = (a, b) if isinstance(a, _SEQUENCES) else (b, a)
    if isinstance(sequence, _SEQUENCES) and isinstance(count, int):
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
        raise ExpressionError(f"{_short(a)} ** {_short(b)} has no real result")
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


ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "str": safe_str, "int": int, "float": float, "bool": bool, "abs": abs,
    "min": min, "max": max, "round": safe_round, "sum": safe_sum, "any": any, "all": all,
    "sorted": sorted, "empty": is_empty,
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
_METHOD_NAMES = frozenset().union(*ALLOWED_METHODS.values())
_BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**"}
_REJECTED_OPS = {ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&",
                 ast.BitXor: "^", ast.MatMult: "@", ast.Invert: "~"}
_LEAF_TYPES = (str, int, float, bool, type(None))
_COMPREHENSIONS = "comprehensions are only allowed as the single argument of any(), all(), sum(), min() or max()"
_NOT_CONSTANT = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.ListComp, ast.GeneratorExp)


def _short(value: Any) -> str:
    """repr() for error messages that never expands a big value."""
    if (isinstance(value, (bool, float, type(None))) or (isinstance(value, int) and value.bit_length() < 100)
            or (isinstance(value, str) and len(value) <= 60)):
        return repr(value)
    return f"<{type(value).__name__}>"


def _describe(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


_PASSTHROUGH = (ast.Expression, ast.Subscript, ast.Slice, ast.BoolOp, ast.Compare, ast.IfExp, ast.List,
                ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.Load, ast.boolop, ast.cmpop, ast.unaryop,
                ast.operator)
_REJECTIONS = {
    ast.Lambda: "lambda expressions are not allowed", ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.DictComp: "dict comprehensions are not allowed", ast.SetComp: "set comprehensions are not allowed",
    ast.Starred: "'*' unpacking is not allowed", ast.ListComp: _COMPREHENSIONS, ast.GeneratorExp: _COMPREHENSIONS,
}


def _check_name(name: str, kind: str = "name") -> None:
    if name.startswith("_"):
        raise ExpressionError(f"{kind} '{name}' is not allowed")


def _check(node: ast.AST, depth: int = 0, folded: bool = False) -> None:
    """Raise ExpressionError on the first construct outside the allow-list (innermost first)."""
    if depth > MAX_DEPTH:
        raise ExpressionError("expression is nested too deeply")
    constant = False
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, _LEAF_TYPES):
            raise ExpressionError(f"literal of type {type(node.value).__name__} is not allowed")
        if isinstance(node.value, str) and len(node.value) > MAX_SEQUENCE_LENGTH:
            raise ExpressionError("string literal is too long")
        return
    if isinstance(node, ast.Name):
        return _check_name(node.id)
    if isinstance(node, ast.Attribute):
        _check(node.value, depth + 1, folded)
        return _check_name(node.attr, "attribute")
    if isinstance(node, ast.Call):
        return _check_call(node, depth + 1, folded)
    if isinstance(node, ast.JoinedStr):
        for value in node.values:
            if isinstance(value, ast.FormattedValue) and value.format_spec is not None:
                raise ExpressionError("format specs in f-strings are not allowed")
            _check(value.value if isinstance(value, ast.FormattedValue) else value, depth + 1, folded)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BIN_OPS:
            raise ExpressionError(f"operator '{_REJECTED_OPS.get(type(node.op), '?')}' is not allowed")
        constant = not folded and _is_constant(node)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        raise ExpressionError("operator '~' is not allowed")
    elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        raise ExpressionError("'**' unpacking is not allowed")
    elif not isinstance(node, _PASSTHROUGH):
        raise ExpressionError(_REJECTIONS.get(type(node), f"{type(node).__name__} is not allowed"))
    for child in ast.iter_child_nodes(node):
        _check(child, depth + 1, folded or constant)
    if constant:
        _fold(node)  # type: ignore[arg-type]


def _check_call(node: ast.Call, depth: int, folded: bool) -> None:
    func = node.func
    if isinstance(func, ast.Name):
        _check_name(func.id)
        if func.id not in ALLOWED_FUNCTIONS:
            raise ExpressionError(f"function '{func.id}' is not allowed")
    elif isinstance(func, ast.Attribute):
        _check(func.value, depth, folded)
        _check_name(func.attr, "attribute")
        if func.attr not in _METHOD_NAMES:
            raise ExpressionError(f"method '{func.attr}' is not allowed")
    else:
        raise ExpressionError("only named functions and methods may be called")
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ExpressionError("'**' unpacking is not allowed")
        _check_name(keyword.arg, "keyword argument")
        _check(keyword.value, depth, folded)
    if not _streams(node):
        for arg in node.args:
            _check(arg, depth, folded)
        return
    comprehension = node.args[0]
    assert isinstance(comprehension, (ast.ListComp, ast.GeneratorExp))
    for generator in comprehension.generators:
        targets = generator.target.elts if isinstance(generator.target, ast.Tuple) else [generator.target]
        if generator.is_async or not all(isinstance(target, ast.Name) for target in targets):
            raise ExpressionError("comprehension targets must be plain names")
        for target in targets:
            _check_name(target.id)  # type: ignore[attr-defined]
        for part in (generator.iter, *generator.ifs):
            _check(part, depth)
    _check(comprehension.elt, depth)


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
        _check(tree)
    except RecursionError:
        raise ExpressionError("expression is nested too deeply") from None
    return tree.body


class _Interpreter(EvalWithCompoundTypes):
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
        if isinstance(value, _SEQUENCES):
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
                raise ExpressionError(f"no key '{node.attr}' in '{_describe(node.value)}'") from None
        raise ExpressionError(
            f"cannot read '.{node.attr}' of {type(value).__name__} value '{_describe(node.value)}'")

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        try:
            return container[key]
        except KeyError:
            raise ExpressionError(f"no key {_short(key)} in '{_describe(node.value)}'") from None
        except IndexError:
            raise ExpressionError(f"index {_short(key)} is out of range for '{_describe(node.value)}'") from None

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
