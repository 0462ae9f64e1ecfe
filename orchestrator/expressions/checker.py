"""Deploy-time allow-list check of an expression's syntax tree, cached per expression text.

Rejecting a model at deploy time beats failing a running instance, so every construct outside the
allow-list, and every constant sub-expression that breaks the size caps (``9**9**9``), fails here.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from orchestrator.expressions.allowlist import ALLOWED_FUNCTIONS, METHOD_NAMES, streams
from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.interpreter import Interpreter
from orchestrator.expressions.limits import MAX_SEQUENCE_LENGTH, describe

MAX_EXPRESSION_LENGTH = 10_000
MAX_DEPTH = 100
_BIN_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**"}
_REJECTED_OPS = {ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&",
                 ast.BitXor: "^", ast.MatMult: "@", ast.Invert: "~"}
_LEAF_TYPES = (str, int, float, bool, type(None))
_COMPREHENSIONS = "comprehensions are only allowed as the single argument of any(), all(), sum(), min() or max()"
_NOT_CONSTANT = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.ListComp, ast.GeneratorExp)
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
        if func.attr not in METHOD_NAMES:
            raise ExpressionError(f"method '{func.attr}' is not allowed")
    else:
        raise ExpressionError("only named functions and methods may be called")
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ExpressionError("'**' unpacking is not allowed")
        _check_name(keyword.arg, "keyword argument")
        _check(keyword.value, depth, folded)
    if not streams(node):
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


def _is_constant(node: ast.AST) -> bool:
    return not any(isinstance(child, _NOT_CONSTANT) for child in ast.walk(node))


def _fold(node: ast.BinOp) -> None:
    """Evaluate a constant sub-expression at deploy time so 9**9**9 fails there, not at run time."""
    try:
        Interpreter().run(node, {})
    except ExpressionError as exc:
        raise ExpressionError(f"'{describe(node)}' is rejected: {exc.message}") from None


@lru_cache(maxsize=4096)
def parse_checked(py: str) -> ast.expr:
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
