"""Translate the FEEL that Camunda Modeler puts in DMN tables into checked Python.

Unary tests (input entry cells) become a boolean expression over the input value, e.g.
``[1000..5000]`` -> ``(cellInput is not None and (1000 <= cellInput) and (cellInput <= 5000))``.
Comparisons and ranges never match a null input (as in FEEL); a type mismatch (comparing a string
with a number) raises instead of silently not matching. FEEL strings use double quotes; single
quotes are accepted too. Cells wrapped in ``${...}`` are JUEL boolean expressions.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.juel import (
    juel_to_python,
    python_member,
    python_name,
    python_number,
    unwrap_el,
)
from orchestrator.expressions.model_functions import feel_date, feel_date_and_time, feel_duration, feel_time
from orchestrator.expressions.sandbox import SafeEvaluator

_SYMBOLS = ("..", "<=", ">=", "!=", "**", "=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]",
            ".", ",", "?", "{", "}", ":")
_UNSUPPORTED_WORDS = frozenset({"in", "between", "some", "every", "for", "return", "satisfies",
                                "instance", "of", "function"})
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_NUMBER = re.compile(r"\d+(\.\d+)?|\.\d+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
_COMPARISONS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
MAX_NESTING = 40  # parenthesis levels; each level costs ~12 Python frames while parsing
_checker = SafeEvaluator()
# FEEL built-in functions: words of the name -> (Python function, fewest, most arguments; None: any).
FUNCTIONS: dict[tuple[str, ...], tuple[str, int, int | None]] = {
    ("date", "and", "time"): ("feel_date_and_time", 1, 1),
    ("date",): ("feel_date", 1, 1),
    ("time",): ("feel_time", 1, 1),
    ("duration",): ("feel_duration", 1, 1),
    ("number",): ("feel_number", 1, 1),
    ("string",): ("feel_string", 1, 1),
    ("count",): ("feel_count", 1, 1),
    ("sum",): ("feel_sum", 1, None),
    ("min",): ("feel_min", 1, None),
    ("max",): ("feel_max", 1, None),
    ("contains",): ("feel_contains", 2, 2),
    ("starts", "with"): ("feel_starts_with", 2, 2),
    ("ends", "with"): ("feel_ends_with", 2, 2),
    ("upper", "case"): ("feel_upper_case", 1, 1),
    ("lower", "case"): ("feel_lower_case", 1, 1),
    ("string", "length"): ("feel_string_length", 1, 1),
    ("list", "contains"): ("feel_list_contains", 2, 2),
}
# Functions whose literal argument is checked at deploy, so a mistyped date fails there.
_LITERAL_CHECKED = {"feel_date_and_time": feel_date_and_time, "feel_date": feel_date, "feel_time": feel_time,
                    "feel_duration": feel_duration}


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "str", "name", "op", "end"
    value: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char.isspace():
            pos += 1
        elif char in "\"'":
            value, end = _read_string(source, pos)
            tokens.append(_Token("str", value, pos))
            pos = end
        elif (number := _NUMBER.match(source, pos)) and not source.startswith("..", pos):
            tokens.append(_Token("num", number.group(0), pos))
            pos = number.end()
        elif name := _NAME.match(source, pos):
            tokens.append(_Token("name", name.group(0), pos))
            pos = name.end()
        else:
            symbol = next((s for s in _SYMBOLS if source.startswith(s, pos)), None)
            if symbol is None:
                raise ExpressionError(f"unexpected character {char!r} at position {pos + 1}")
            tokens.append(_Token("op", symbol, pos))
            pos += len(symbol)
    tokens.append(_Token("end", "", pos))
    return tokens


def _read_string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(source):
        char = source[pos]
        if char == "\\" and pos + 1 < len(source):
            following = source[pos + 1]
            chars.append(_ESCAPES.get(following, "\\" + following))
            pos += 2
        elif char == quote:
            return "".join(chars), pos + 1
        else:
            chars.append(char)
            pos += 1
    raise ExpressionError(f"unterminated string starting at position {start + 1}")


class _Parser:
    """Recursive-descent parser for FEEL expressions and unary tests, emitting Python source."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0
        self.subject: str | None = None  # the input value `?` stands for inside unary tests

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def _at(self, kind: str, *values: str) -> bool:
        return self.current.kind == kind and (not values or self.current.value in values)

    def _accept(self, kind: str, *values: str) -> _Token | None:
        return self._advance() if self._at(kind, *values) else None

    def _expect(self, kind: str, value: str) -> None:
        if not self._accept(kind, value):
            raise ExpressionError(f"expected '{value}' but found {self._describe(self.current)}")

    @staticmethod
    def _describe(token: _Token) -> str:
        return "end of text" if token.kind == "end" else f"'{token.value}' at position {token.pos + 1}"

    def finish(self, result: str) -> str:
        if self.current.kind != "end":
            raise ExpressionError(f"unexpected {self._describe(self.current)}")
        return result

    # -- expressions ---------------------------------------------------------------------------

    def expression(self) -> str:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError("expression is nested too deeply")
        if self._accept("name", "if"):
            condition = self.expression()
            self._expect("name", "then")
            when_true = self.expression()
            self._expect("name", "else")
            result = f"({when_true} if {condition} else {self.expression()})"
        else:
            result = self._chain("or", self._conjunction)
        self.depth -= 1
        return result

    def _conjunction(self) -> str:
        return self._chain("and", self._comparison)

    def _chain(self, word: str, operand: Callable[[], str]) -> str:
        terms = [operand()]
        while self._accept("name", word):
            terms.append(operand())
        return terms[0] if len(terms) == 1 else "(" + f" {word} ".join(terms) + ")"

    def _comparison(self) -> str:
        left = self._additive()
        if self._at("op", *_COMPARISONS):
            symbol = _COMPARISONS[self._advance().value]
            return f"({left} {symbol} {self._additive()})"
        if self._at("name", "in", "between"):
            raise ExpressionError(f"FEEL operator '{self.current.value}' is not supported")
        return left

    def _additive(self) -> str:
        return self._binary(("+", "-"), self._multiplicative)

    def _multiplicative(self) -> str:
        return self._binary(("*", "/"), self._power)

    def _power(self) -> str:
        return self._binary(("**",), self._unary)

    def _binary(self, symbols: tuple[str, ...], operand: Callable[[], str]) -> str:
        left = operand()
        while self._at("op", *symbols):
            symbol = self._advance().value
            left = f"({left} {symbol} {operand()})"
        return left

    def _unary(self) -> str:
        minus = 0
        while self._accept("op", "-"):
            minus += 1
        if minus > MAX_NESTING:
            raise ExpressionError("expression is nested too deeply")
        result = self._path(self._primary())
        for _ in range(minus):
            result = f"(-{result})"
        return result

    def _path(self, base: str) -> str:
        while self._accept("op", "."):
            member = self._accept("name")
            if member is None:
                raise ExpressionError(f"expected a name after '.' but found {self._describe(self.current)}")
            if self._at("op", "("):
                raise ExpressionError(f"FEEL method-style call '.{member.value}(...)' is not supported")
            base = python_member(base, member.value)
        return base

    def _primary(self) -> str:
        token = self._advance()
        if token.kind == "num":
            return python_number(token.value)
        if token.kind == "str":
            return repr(token.value)
        if token.kind == "name":
            return self._name(token)
        if token.kind == "op" and token.value == "(":
            inner = self.expression()
            self._expect("op", ")")
            return f"({inner})"
        if token.kind == "op" and token.value == "?" and self.subject is not None:
            return self.subject
        if token.kind == "op" and token.value in ("[", "{", "?"):
            kinds = {"[": "lists and ranges", "{": "contexts", "?": "'?'"}
            raise ExpressionError(f"FEEL {kinds[token.value]} are not supported here")
        raise ExpressionError(f"unexpected {self._describe(token)}")

    def _name(self, token: _Token) -> str:
        if token.value in _LITERALS:
            return _LITERALS[token.value]
        if token.value == "not" and self._accept("op", "("):
            inner = self.expression()
            self._expect("op", ")")
            return f"(not {inner})"
        if token.value.startswith("_"):
            return python_name(token.value)
        function = self._function(token)
        if function is not None:
            return function
        if token.value in _UNSUPPORTED_WORDS:
            raise ExpressionError(f"FEEL '{token.value}' expressions are not supported")
        if self._at("op", "("):
            known = ", ".join(" ".join(words) + "()" for words in FUNCTIONS)
            raise ExpressionError(f"FEEL function '{token.value}(...)' is not supported (supported: not(), {known})")
        return python_name(token.value)

    def _function(self, first: _Token) -> str | None:
        """A call of a FEEL built-in (names may be several words: `date and time(...)`), else None."""
        for words, (python, fewest, most) in FUNCTIONS.items():
            if words[0] != first.value or not all(
                    self.tokens[self.index + offset].kind == "name" and self.tokens[self.index + offset].value == word
                    for offset, word in enumerate(words[1:])):
                continue
            if self.tokens[self.index + len(words) - 1].kind != "op" or \
                    self.tokens[self.index + len(words) - 1].value != "(":
                continue
            self.index += len(words)  # the remaining words and "("
            args: list[str] = []
            if not self._accept("op", ")"):
                args.append(self.expression())
                while self._accept("op", ","):
                    args.append(self.expression())
                self._expect("op", ")")
            name = " ".join(words)
            if len(args) < fewest or (most is not None and len(args) > most):
                expected = str(fewest) if fewest == most else f"at least {fewest}"
                raise ExpressionError(f"FEEL {name}() takes {expected} argument(s), got {len(args)}")
            if python in _LITERAL_CHECKED and args[0].startswith(("'", '"')):
                _LITERAL_CHECKED[python](ast.literal_eval(args[0]))
            return f"{python}({', '.join(args)})"
        return None

    # -- unary tests ---------------------------------------------------------------------------

    def unary_tests(self, subject: str) -> str:
        if self._at("name", "not") and self.tokens[self.index + 1].value == "(":
            self.index += 2
            positive = self._positive_tests(subject)
            self._expect("op", ")")
            return f"(not {positive})"
        return self._positive_tests(subject)

    def _positive_tests(self, subject: str) -> str:
        tests = [self._positive_test(subject)]
        while self._accept("op", ","):
            tests.append(self._positive_test(subject))
        return tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")"

    def _positive_test(self, subject: str) -> str:
        if self._at("op", "<", "<=", ">", ">="):
            symbol = self._advance().value  # the endpoint may be an expression: `< date2 + duration("P6M")`
            return f"({subject} is not None and {subject} {symbol} {self._additive()})"
        if self._at("op", "[", "(", "]"):
            return self._interval(subject)
        if self._at("name", *_LITERALS):
            literal = _LITERALS[self._advance().value]
            return f"({subject} is {literal})"
        if self._at("op", "=", "!="):
            raise ExpressionError(f"'{self.current.value}' is not a FEEL unary test (write the value alone)")
        start = self.index
        try:
            value = self._endpoint()
            if self._at("op", ",", ")") or self._at("end"):
                if self.tokens[start].kind != "name":
                    return f"({subject} == {value})"
                return f"feel_unary_match({subject}, {value})"  # a variable may hold true or a list
        except ExpressionError:
            pass
        self.index = start  # an expression: true, a list holding the input, or a value equal to it
        self.subject = subject
        return f"feel_unary_match({subject}, {self.expression()})"

    def _interval(self, subject: str) -> str:
        opening = self._advance().value
        low = self._additive()
        self._expect("op", "..")
        high = self._additive()
        closing = self._advance()
        if closing.kind != "op" or closing.value not in ("]", ")", "["):
            raise ExpressionError(f"expected ']', ')' or '[' to close the range but found {self._describe(closing)}")
        low_op = "<=" if opening == "[" else "<"
        high_op = "<=" if closing.value == "]" else "<"
        return f"({subject} is not None and ({low} {low_op} {subject}) and ({subject} {high_op} {high}))"

    def _endpoint(self) -> str:
        if self._accept("op", "-"):
            number = self._accept("num")
            if number is None:
                raise ExpressionError(f"expected a number after '-' but found {self._describe(self.current)}")
            return f"(-{python_number(number.value)})"
        token = self._advance()
        if token.kind == "num":
            return python_number(token.value)
        if token.kind == "str":
            return repr(token.value)
        if token.kind == "name" and token.value not in _LITERALS and token.value != "not":
            return self._path(self._name(token))
        if token.kind == "op" and token.value == "?":
            raise ExpressionError("FEEL '?' tests are not supported")
        raise ExpressionError(f"expected a value but found {self._describe(token)}")

    def literals(self) -> tuple[Any, ...]:
        values = [self._literal()]
        while self._accept("op", ","):
            values.append(self._literal())
        self.finish("")
        return tuple(values)

    def _literal(self) -> Any:
        negative = bool(self._accept("op", "-"))
        token = self._advance()
        if token.kind == "num":
            number = float(token.value) if "." in token.value else int(token.value)
            return -number if negative else number
        if not negative and token.kind == "str":
            return token.value
        if not negative and token.kind == "name" and token.value in _LITERALS:
            return {"true": True, "false": False, "null": None}[token.value]
        raise ExpressionError(f"expected a literal value but found {self._describe(token)}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def translate_unary_tests(text: str, input_name: str = "cellInput") -> str:
    """A DMN input entry cell (FEEL unary tests) -> Python boolean expression over ``input_name``."""
    subject = python_name(input_name)
    source = (text or "").strip()
    if source in ("", "-"):
        return "True"
    try:
        inner = unwrap_el(source)
        if inner is not None:
            python = juel_to_python(inner)
        else:
            parser = _Parser(source)
            python = parser.finish(parser.unary_tests(subject))
        _checker.check(python)
    except RecursionError:
        raise ExpressionError(f"unsupported FEEL unary test {_shown(source)}: nested too deeply") from None
    except ExpressionError as exc:
        raise ExpressionError(f"unsupported FEEL unary test {_shown(source)}: {exc.message}",
                              expression=source) from None
    return python


def translate_feel_expression(text: str) -> str:
    """A DMN input expression or output entry (simple FEEL) -> Python expression; empty -> None."""
    source = (text or "").strip()
    if not source:
        return "None"
    try:
        inner = unwrap_el(source)
        if inner is not None:
            python = juel_to_python(inner)
        else:
            parser = _Parser(source)
            python = parser.finish(parser.expression())
        _checker.check(python)
    except RecursionError:
        raise ExpressionError(f"unsupported FEEL expression {_shown(source)}: nested too deeply") from None
    except ExpressionError as exc:
        raise ExpressionError(f"unsupported FEEL expression {_shown(source)}: {exc.message}",
                              expression=source) from None
    return python


def feel_literals(text: str) -> tuple[Any, ...]:
    """A comma list of FEEL literals (DMN ``outputValues``) -> Python values, in order."""
    source = (text or "").strip()
    if not source:
        return ()
    try:
        return _Parser(source).literals()
    except ExpressionError as exc:
        raise ExpressionError(f"invalid FEEL value list {_shown(source)}: {exc.message}",
                              expression=source) from None
