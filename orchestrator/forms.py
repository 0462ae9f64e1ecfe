"""Check and coerce submitted user-task values against the task's camunda:formData fields."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any


class FormValidationError(ValueError):
    """Submitted values do not fit the form; `errors` maps each field id to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


def describe_form(form) -> list[dict[str, Any]]:
    """JSON description of a SpiffWorkflow Camunda form, for the inbox row and the API."""
    fields = []
    for field in getattr(form, "fields", None) or []:
        fields.append(
            {
                "id": field.id,
                "label": field.label,
                "type": field.type,
                "default": field.default_value,
                "options": [{"id": o.id, "name": o.name} for o in getattr(field, "options", [])],
                "validation": {v.name: v.config for v in field.validation},
                "properties": {p.id: p.value for p in field.properties},
            }
        )
    return fields


def coerce_form(fields: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """Return the values typed by field type; raise FormValidationError naming every bad field."""
    if not isinstance(values, dict):
        raise FormValidationError({"_form": "values must be an object of field id → value"})
    if not fields:
        return dict(values)
    known = {f["id"] for f in fields}
    errors = {name: "is not a field of this form" for name in values if name not in known}
    clean: dict[str, Any] = {}
    for field in fields:
        rules = field.get("validation") or {}
        name = field["id"]
        raw = values.get(name)
        if _blank(raw):
            if "required" in rules and "readonly" not in rules:
                errors[name] = "is required"
            elif name in values:
                clean[name] = None
            continue
        if "readonly" in rules:
            errors[name] = "is read-only"
            continue
        try:
            value = _coerce(field, raw)
            _check_rules(value, rules)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        clean[name] = value
    if errors:
        raise FormValidationError(errors)
    return clean


def check_start_variables(fields: list[dict[str, Any]], variables: dict[str, Any]) -> dict[str, Any]:
    """Variables of a start with the start form's fields typed and checked as the form page checks them;
    variables the form does not declare (an integration's own data) pass unchanged."""
    declared = {field["id"] for field in fields}
    clean = coerce_form(fields, {name: value for name, value in variables.items() if name in declared})
    return {**{name: value for name, value in variables.items() if name not in declared}, **clean}


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _coerce(field: dict[str, Any], raw: Any) -> Any:
    kind = field["type"]
    if kind in ("string", "textarea"):
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError("must be text")
        return str(raw)
    if kind == "long":
        if isinstance(raw, bool):
            raise ValueError("must be a whole number")
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d{1,18}\s*", raw):
            return int(raw)
        raise ValueError(f"must be a whole number, not {raw!r}")
    if kind == "double":
        try:
            number = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"must be a number, not {raw!r}")
        return number
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "on", "yes", "1"):
            return True
        if text in ("false", "off", "no", "0"):
            return False
        raise ValueError(f"must be true or false, not {raw!r}")
    if kind == "date":
        return _coerce_date(raw)
    if kind == "enum":
        allowed = [option["id"] for option in field.get("options", [])]
        if str(raw) not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return str(raw)
    if kind == "file":
        if isinstance(raw, list) and raw and all(isinstance(item, dict) for item in raw):
            return raw
        if not isinstance(raw, dict | str):
            raise ValueError("must be an uploaded file reference")
        return raw
    raise ValueError(f"has unsupported type {kind!r}")


def _coerce_date(raw: Any) -> str:
    """Dates are kept as ISO text so task data stays plain JSON."""
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw).strip()
    for parser in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parser(text).isoformat()
        except ValueError:
            continue
    for pattern in ("%d/%m/%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise ValueError(f"must be a date (YYYY-MM-DD), not {raw!r}")


def _check_rules(value: Any, rules: dict[str, Any]) -> None:
    for rule, config in rules.items():
        if rule in ("required", "readonly"):
            continue
        if rule in ("minlength", "maxlength"):
            limit = int(config)
            size = len(str(value))
            if rule == "minlength" and size < limit:
                raise ValueError(f"must be at least {limit} characters")
            if rule == "maxlength" and size > limit:
                raise ValueError(f"must be at most {limit} characters")
        elif rule in ("min", "max"):
            limit = float(config)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if rule == "min" and value < limit:
                raise ValueError(f"must be at least {config}")
            if rule == "max" and value > limit:
                raise ValueError(f"must be at most {config}")
        elif rule == "pattern":
            if not re.fullmatch(str(config), str(value)):
                raise ValueError(f"must match the pattern {config}")
