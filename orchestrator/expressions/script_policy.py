"""RestrictedPython policy for script tasks: our bans, size-guard rewrites and deadline ticks.

RestrictedPython alone allows imports, classes, unbounded ``*``/``**`` and endless loops, so this
transformer rejects the first two, routes growth operators through ``script_guards`` and injects a
``_tick_()`` call into every loop, comprehension and function/lambda body (see ``script_clock``).
"""

from __future__ import annotations

import ast

from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from orchestrator.expressions.script_guards import SPEC_NUMBER

_BINOP_GUARDS = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.Add: "_add_", ast.LShift: "_lshift_",
                 ast.Mod: "_mod_"}


def _tick_call(reference: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[])
    copy_locations(call, reference)
    copy_locations(call.func, reference)
    return call


def _tick_statement(reference: ast.AST) -> ast.Expr:
    statement = ast.Expr(_tick_call(reference))
    copy_locations(statement, reference)
    return statement


class ScriptPolicy(RestrictingNodeTransformer):
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
                     for number in SPEC_NUMBER.findall(part.value)):  # type: ignore[attr-defined]
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
