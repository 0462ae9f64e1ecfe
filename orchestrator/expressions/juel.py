"""Translate the JUEL subset Camunda Modeler users write (``${amount > 5000}``) into checked Python.

The JUEL text is tokenized and parsed with JUEL's own precedence, then emitted fully parenthesized,
so Python's different rules (chained comparisons, ``not`` binding looser than ``==``) never apply.
Deliberate differences from Camunda's JUEL: no type coercion (``'1' + 2`` fails instead of
giving 3, and ``+`` concatenates strings), and a missing key in ``a.b`` raises instead of
yielding null. Plain text that is not wrapped in ``${...}``/``#{...}`` is taken as Python.

Method calls: only the Java methods in ``VALUE_METHODS`` (``equals``, ``isEmpty``, ``contains``,
``startsWith``, ...) and Camunda's ``execution.getVariable(..)``-style getters in ``EXECUTION_METHODS``
are translated, each to a checked function or key read (``orchestrator.expressions.model_functions``);
any other method is refused at deploy. ``x.equals(y)`` is value equality; a method called on null is an
error, as in Java (use the JUEL operator ``empty x`` to test for null or empty).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.sandbox import SafeEvaluator

_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<",
                   "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%", "empty": "empty"}
_LITERAL_WORDS = {"true": "True", "false": "False", "null": "None"}
_SYMBOLS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%",
            "?", ":", "(", ")", "[", "]", ".", ",")
_REJECTED_SYMBOLS = {
    "->": "lambda expressions are not supported",
    "+=": "unsupported JUEL operator '+=' (string concatenation)",
    "=": "assignment '=' is not supported (use '==' to compare)",
    ";": "unsupported JUEL operator ';'",
    "{": "set and map literals are not supported",
    "}": "only one ${...} expression spanning the whole text is supported",
    "$": "only one ${...} expression spanning the whole text is supported",
    "#": "only one ${...} expression spanning the whole text is supported",
    "&": "unsupported JUEL operator '&' (use '&&' or 'and')",
    "|": "unsupported JUEL operator '|' (use '||' or 'or')",
}
_NUMBER = re.compile(r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EQUALITY = {"==": "==", "!=": "!="}
_RELATIONAL = {"<": "<", ">": ">", "<=": "<=", ">=": ">="}
MAX_NESTING = 40  # parenthesis/ternary levels; each level costs ~16 Python frames while parsing
# Java methods a model may call on a value: name -> (argument count, Python template over {0}=the value).
VALUE_METHODS: dict[str, tuple[int, str]] = {
    "equals": (1, "({0} == {1})"),
    "isEmpty": (0, "juel_is_empty({0})"),
    "contains": (1, "juel_contains({0}, {1})"),
    "startsWith": (1, "juel_starts_with({0}, {1})"),
    "endsWith": (1, "juel_ends_with({0}, {1})"),
    "length": (0, "juel_length({0})"),
    "size": (0, "juel_size({0})"),
    "toUpperCase": (0, "juel_upper({0})"),
    "toLowerCase": (0, "juel_lower({0})"),
    "trim": (0, "juel_trim({0})"),
    "get": (1, "juel_get({0}, {1})"),
    "containsKey": (1, "juel_contains_key({0}, {1})"),
    "toString": (0, "juel_to_string({0})"),
}
# Camunda's `execution` object: the engine supplies a read-only map named `execution` when it evaluates
# (see orchestrator.script_engine.execution_view), so these read its keys and never call into the engine.
EXECUTION_METHODS: dict[str, tuple[int, str]] = {
    "getVariable": (1, "{0}.variables.get({1})"),
    "hasVariable": (1, "({1} in {0}.variables)"),
    "getVariables": (0, "{0}.variables"),
    "getBusinessKey": (0, "{0}.businessKey"),
    "getProcessBusinessKey": (0, "{0}.processBusinessKey"),
    "getProcessInstanceId": (0, "{0}.processInstanceId"),
    "getActivityId": (0, "{0}.activityId"),
}
_checker = SafeEvaluator()


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "str", "word", "op", "lit", "end"
    value: str
    pos: int
    text: str = ""


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char.isspace():
            pos += 1
            continue
        if char in "'\"":
            value, pos = _read_string(source, pos)
            tokens.append(_Token("str", value, pos))
            continue
        number = _NUMBER.match(source, pos)
        if number and (char.isdigit() or (char == "." and number.end() > pos + 1)):
            tokens.append(_Token("num", number.group(0), pos))
            pos = number.end()
            continue
        word = _WORD.match(source, pos)
        if word:
            tokens.append(_word_token(word.group(0), pos))
            pos = word.end()
            continue
        for rejected, message in _REJECTED_SYMBOLS.items():
            if source.startswith(rejected, pos) and not any(
                    source.startswith(symbol, pos) and len(symbol) >= len(rejected) for symbol in _SYMBOLS):
                raise ExpressionError(message)
        symbol = next((s for s in _SYMBOLS if source.startswith(s, pos)), None)
        if symbol is None:
            raise ExpressionError(f"unexpected character {char!r} at position {pos + 1}")
        tokens.append(_Token("op", symbol, pos, symbol))
        pos += len(symbol)
    tokens.append(_Token("end", "", pos))
    return tokens


def _word_token(word: str, pos: int) -> _Token:
    if word == "instanceof":
        raise ExpressionError("unsupported JUEL operator 'instanceof'")
    if word in _WORD_OPERATORS:
        return _Token("op", _WORD_OPERATORS[word], pos, word)
    if word in _LITERAL_WORDS:
        return _Token("lit", _LITERAL_WORDS[word], pos, word)
    return _Token("word", word, pos, word)


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(source):
        char = source[pos]
        if char == "\\" and pos + 1 < len(source) and source[pos + 1] in (quote, "\\"):
            chars.append(source[pos + 1])
            pos += 2
            continue
        if char == quote:
            return "".join(chars), pos + 1
        chars.append(char)
        pos += 1
    raise ExpressionError(f"unterminated string starting at position {start + 1}")


def python_name(name: str) -> str:
    """Validate a variable name for use in the generated Python."""
    if name.startswith("_"):
        raise ExpressionError(f"name '{name}' is not allowed")
    if keyword.iskeyword(name):
        raise ExpressionError(f"variable name '{name}' is a reserved word in Python")
    return name


def python_member(base: str, name: str) -> str:
    """``base.name`` as Python; a keyword member becomes a key lookup."""
    if name.startswith("_"):
        raise ExpressionError(f"attribute '{name}' is not allowed")
    return f"{base}[{name!r}]" if keyword.iskeyword(name) else f"{base}.{name}"


def python_number(text: str) -> str:
    """A numeric literal as Python source, refusing absurd sizes."""
    if len(text) > 64:
        raise ExpressionError(f"number literal {text[:20]}... is too long")
    if re.fullmatch(r"\d+", text):
        return repr(int(text))
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ExpressionError(f"number literal {text} is out of range")
    return repr(value)


class _Parser:
    """Recursive-descent parser for JUEL that emits Python source as it goes."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.unary_run = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def _advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def _accept(self, *symbols: str) -> _Token | None:
        if self.current.kind == "op" and self.current.value in symbols:
            return self._advance()
        return None

    def _expect(self, symbol: str) -> None:
        if not self._accept(symbol):
            raise ExpressionError(f"expected '{symbol}' but found {self._describe(self.current)}")

    @staticmethod
    def _describe(token: _Token) -> str:
        if token.kind == "end":
            return "end of expression"
        return f"'{token.text or token.value}' at position {token.pos + 1}"

    def parse(self) -> str:
        result = self._ternary()
        if self.current.kind != "end":
            raise ExpressionError(f"unexpected {self._describe(self.current)}")
        return result

    def _ternary(self) -> str:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError("expression is nested too deeply")
        condition = self._chain("||", "or", self._and)
        if self._accept("?"):
            when_true = self._ternary()
            self._expect(":")
            when_false = self._ternary()
            condition = f"({when_true} if {condition} else {when_false})"
        self.depth -= 1
        return condition

    def _and(self) -> str:
        return self._chain("&&", "and", self._equality)

    def _chain(self, symbol: str, python: str, operand: Callable[[], str]) -> str:
        terms = [operand()]
        while self._accept(symbol):
            terms.append(operand())
        return terms[0] if len(terms) == 1 else "(" + f" {python} ".join(terms) + ")"

    def _binary(self, operators: dict[str, str], operand: Callable[[], str]) -> str:
        left = operand()
        while self.current.kind == "op" and self.current.value in operators:
            symbol = operators[self._advance().value]
            left = f"({left} {symbol} {operand()})"
        return left

    def _equality(self) -> str:
        return self._binary(_EQUALITY, self._relational)

    def _relational(self) -> str:
        return self._binary(_RELATIONAL, self._additive)

    def _additive(self) -> str:
        return self._binary({"+": "+", "-": "-"}, self._multiplicative)

    def _multiplicative(self) -> str:
        return self._binary({"*": "*", "/": "/", "%": "%"}, self._unary)

    def _unary(self) -> str:
        if self.current.kind == "op" and self.current.value in ("-", "!", "empty"):
            self.unary_run += 1
            if self.unary_run > MAX_NESTING:
                raise ExpressionError("expression is nested too deeply")
        else:
            self.unary_run = 0
        if self._accept("-"):
            return f"(-{self._unary()})"
        if self._accept("!"):
            return f"(not {self._unary()})"
        if self._accept("empty"):
            return f"empty({self._unary()})"
        return self._value()

    def _value(self) -> str:
        result = self._primary()
        while True:
            if self._accept("."):
                member = self._advance()
                if member.kind not in ("word", "op", "lit") or not _WORD.fullmatch(member.text or ""):
                    raise ExpressionError(f"expected a property name after '.' but found {self._describe(member)}")
                if self.current.kind == "op" and self.current.value == "(":
                    result = self._method_call(result, member.text, is_execution=result == "execution")
                else:
                    result = python_member(result, member.text)
            elif self._accept("["):
                index = self._ternary()
                self._expect("]")
                result = f"{result}[{index}]"
            else:
                return result

    def _method_call(self, target: str, method: str, *, is_execution: bool) -> str:
        self._expect("(")
        args: list[str] = []
        if not self._accept(")"):
            args.append(self._ternary())
            while self._accept(","):
                args.append(self._ternary())
            self._expect(")")
        table = EXECUTION_METHODS if is_execution else VALUE_METHODS
        if method not in table:
            owner = "execution" if is_execution else "a value"
            supported = ", ".join(f"{name}()" for name in table)
            raise ExpressionError(f"method '{method}()' on {owner} is not supported (supported: {supported})")
        arity, template = table[method]
        if len(args) != arity:
            raise ExpressionError(f"method '{method}()' takes {arity} argument{'s' if arity != 1 else ''}, "
                                  f"got {len(args)}")
        return template.format(target, *args)

    def _primary(self) -> str:
        token = self._advance()
        if token.kind == "num":
            return python_number(token.value)
        if token.kind == "str":
            return repr(token.value)
        if token.kind == "lit":
            return token.value
        if token.kind == "word":
            following = self.current
            if following.kind == "op" and following.value == "(":
                raise ExpressionError(f"function calls are not supported: '{token.value}(...)'")
            if (following.kind == "op" and following.value == ":" and self._peek().kind == "word"
                    and self._peek(2).value == "("):
                raise ExpressionError(f"function calls are not supported: '{token.value}:{self._peek().value}(...)'")
            return python_name(token.value)
        if token.kind == "op" and token.value == "(":
            inner = self._ternary()
            self._expect(")")
            return f"({inner})"
        raise ExpressionError(f"unexpected {self._describe(token)}")


def unwrap_el(text: str) -> str | None:
    """The inside of ``${...}``/``#{...}`` when it spans the whole text, else None."""
    stripped = text.strip()
    if stripped[:2] in ("${", "#{") and stripped.endswith("}"):
        return stripped[2:-1]
    if "${" in stripped or "#{" in stripped:
        raise ExpressionError("mixing text and ${...} is not supported; wrap the whole expression in one ${...}")
    return None


def juel_to_python(source: str) -> str:
    """Translate the inside of a ``${...}`` (without the wrapper) to Python source."""
    if not source.strip():
        raise ExpressionError("empty ${} expression")
    return _Parser(_tokenize(source)).parse()


def translate_expression(text: str) -> str:
    """JUEL ``${...}`` or plain Python expression text -> checked Python expression source."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    stripped = text.strip()
    try:
        inner = unwrap_el(stripped)
        python = stripped if inner is None else juel_to_python(inner)
        _checker.check(python)
    except RecursionError:
        raise ExpressionError(f"expression is nested too deeply in {stripped[:80]!r}", expression=stripped) from None
    except ExpressionError as exc:
        shown = stripped if len(stripped) <= 80 else stripped[:77] + "..."
        hint = " (JUEL must be wrapped in ${...})" if _looks_like_juel(stripped, exc) else ""
        raise ExpressionError(f"{exc.message} in {shown!r}{hint}", expression=stripped) from None
    return python


def _looks_like_juel(text: str, error: ExpressionError) -> bool:
    if not error.message.startswith("invalid expression syntax") or text.startswith(("${", "#{")):
        return False
    try:
        juel_to_python(text)
    except (ExpressionError, RecursionError):
        return False
    return True
