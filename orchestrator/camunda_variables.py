"""Camunda 7 typed variables (`{"name": {"value": …, "type": "Integer"}}`) to Loopline's JSON values and back."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from orchestrator.errors import InvalidInput

INT32 = (-(2**31), 2**31 - 1)
SAFE_INTEGER = 2**53 - 1  # beyond this a JSON number loses digits in JavaScript clients (RFC 7493)
MAX_NAME = 200


def to_camunda(values: dict[str, Any], names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Loopline values as Camunda typed values; `names` (when given) picks which ones, missing ones are left out."""
    picked = values if names is None else {name: values[name] for name in names if name in values}
    return {name: typed_value(value) for name, value in picked.items()}


def typed_value(value: Any) -> dict[str, Any]:
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        kind = "Integer" if INT32[0] <= value <= INT32[1] else "Long"
        return {"type": kind, "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    return {"type": "Json", "value": json.dumps(value, ensure_ascii=False, separators=(",", ":")), "valueInfo": {}}


def from_camunda(variables: Any, field: str) -> dict[str, Any]:
    """Typed values sent by a client as plain JSON values; InvalidInput names every bad `field.name`."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidInput(f"{field} must be an object of typed values", {field: "must be an object"})
    values, errors = {}, {}
    for name, typed in variables.items():
        where = f"{field}.{name}"
        if not name or len(name) > MAX_NAME:
            errors[where] = f"a variable name must have 1 to {MAX_NAME} characters"
            continue
        try:
            values[name] = _plain_value(typed)
        except ValueError as exc:
            errors[where] = str(exc)
    if errors:
        raise InvalidInput("invalid variables: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    return values


def _plain_value(typed: Any) -> Any:
    if not isinstance(typed, dict) or "value" not in typed:
        raise ValueError('must be an object like {"value": …, "type": "String"}')
    value, kind = typed["value"], typed.get("type")
    if kind is None:  # untyped (some clients send only the value): take the JSON value as it is
        return _checked_json(value)
    if not isinstance(kind, str):
        raise ValueError("type must be a string")
    kind = kind.lower()
    if value is None or kind == "null":
        return None
    if kind == "string":
        return _expect(value, str, "String")
    if kind in ("integer", "short", "long"):
        number = _expect(value, int, kind.capitalize())
        low, high = INT32 if kind == "integer" else (-SAFE_INTEGER, SAFE_INTEGER)
        if kind == "short":
            low, high = -(2**15), 2**15 - 1
        if not low <= number <= high:
            raise ValueError(f"{kind.capitalize()} {number} is out of range [{low}, {high}]")
        return number
    if kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("a Double value must be a finite number")
        return float(value)
    if kind == "boolean":
        return _expect(value, bool, "Boolean")
    if kind == "date":
        text = _expect(value, str, "Date")
        try:
            return _parse_date(text).isoformat()
        except ValueError:
            raise ValueError(f"Date {text!r} is not yyyy-MM-dd'T'HH:mm:ss[.SSS][Z]") from None
    if kind in ("json", "object"):
        info = typed.get("valueInfo") or {}
        data_format = info.get("serializationDataFormat", "application/json") if isinstance(info, dict) else None
        if kind == "object" and data_format != "application/json":
            raise ValueError("only Object values serialized as application/json are supported")
        if isinstance(value, str):
            try:
                return _checked_json(json.loads(value))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{typed['type']} value is not valid JSON: {exc.msg}") from None
        return _checked_json(value)
    raise ValueError(f"type {typed['type']!r} is not supported; use String, Integer, Short, Long, Double, "
                     "Boolean, Date, Json, Object (application/json) or Null")


def _expect(value: Any, kind: type, name: str) -> Any:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ValueError(f"a {name} value must be a JSON {kind.__name__.replace('str', 'string')}")
    return value


def _parse_date(text: str) -> datetime:
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():  # Camunda's +0000 offset
        text = f"{text[:-2]}:{text[-2:]}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _checked_json(value: Any) -> Any:
    """Refuse values Loopline cannot store faithfully: non-finite numbers, integers JavaScript rounds."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER:
        raise ValueError(f"integer {value} is beyond ±{SAFE_INTEGER}; send it as a String")
    if isinstance(value, dict):
        return {key: _checked_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_checked_json(item) for item in value]
    return value
