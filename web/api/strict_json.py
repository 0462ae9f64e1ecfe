"""One strict reading of JSON bodies: what cannot be stored and read back faithfully is refused with 400.

Python's json module accepts `NaN` / `Infinity` / `1e999` (which the database then holds as invalid
JSON), recurses once per nesting level (a body nested 100,000 deep raises RecursionError) and turns a
5,000-digit integer into a ValueError (int max str digits). Every API request with a JSON body passes
through `strict_loads` before any view runs, so such a body never reaches the engine. Numbers are kept
to I-JSON's interoperable range (RFC 7493: ±(2^53 − 1), what a browser or a double holds exactly);
`JSON_VALUE_SCHEMA` says the same in the OpenAPI document.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from web.api.problems import problem

MAX_DEPTH = 64
LARGEST_NUMBER = 2**53 - 1
JSON_VALUE_REF = {"$ref": "#/components/schemas/JsonValue"}
JSON_VALUE_SCHEMA = {
    "description": f"Any JSON value, nested at most {MAX_DEPTH} deep; numbers finite and within "
                   f"±{LARGEST_NUMBER} (send larger ones as text).",
    "anyOf": [{"type": "string"}, {"type": "boolean"}, {"type": "null"},
              {"type": "number", "minimum": -LARGEST_NUMBER, "maximum": LARGEST_NUMBER},
              {"type": "array", "items": JSON_VALUE_REF},
              {"type": "object", "additionalProperties": JSON_VALUE_REF}],
}

# a string, or an unterminated one to the end: one pass, never a second try from a quote inside it
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonRefused(ValueError):
    """The body is not JSON the service can keep as sent; the message names what is wrong."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects outside strings, counted without recursion."""
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def strict_loads(raw: str | bytes) -> Any:
    """Parse a JSON document, refusing deep nesting, NaN / Infinity, numbers beyond ±(2^53 − 1) and lone
    surrogates."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"not UTF-8 text (byte {exc.start})") from None
    if nesting_depth(raw) > MAX_DEPTH:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if "\\u" in raw:  # an escape may stand for half a surrogate pair, which no UTF-8 text (or database) holds
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRefused("a \\u escape stands for half a surrogate pair (\\ud800-\\udfff alone)") from None
    return value


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    # the length test comes first: int() of more than 4,300 digits raises ValueError itself
    if len(digits.lstrip("-")) > len(str(LARGEST_NUMBER)) or abs(int(digits)) > LARGEST_NUMBER:
        raise _out_of_range(digits)
    return int(digits)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number) or abs(number) > LARGEST_NUMBER:
        raise _out_of_range(text)
    return number


def _out_of_range(text: str) -> JsonRefused:
    shown = text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"
    return JsonRefused(f"the number {shown} is outside ±{LARGEST_NUMBER} (send it as text)")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON with strict reading, so `request.get_json()` anywhere refuses the same bodies."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)


def init_strict_json(app: Flask) -> None:
    """Refuse an API request whose JSON body fails `strict_loads` before any view (or anything it stores)."""
    app.json = StrictJSONProvider(app)

    @app.before_request
    def _refuse_unfaithful_json():
        if not (request.path.startswith("/api/") and request.is_json):
            return None
        raw = request.get_data(cache=True)
        if not raw.strip():
            return None  # no body: the view's own arguments say whether one is needed
        try:
            strict_loads(raw)
        except JsonRefused as exc:
            return problem(400, "Bad Request", f"the JSON body was refused: {exc}", {"_body": str(exc)})
        return None
