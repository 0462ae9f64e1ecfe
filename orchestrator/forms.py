"""Check and coerce submitted user-task values against the task's camunda:formData fields."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _clocked

import orchestrator.clock  # noqa: F401 - installs the command clock that engine_now reads

# A date is "not in the future" while it is today somewhere on earth (UTC+14), and "not in the past" while it is
# still that day somewhere (UTC-12): a customer's "today" is never refused because the server runs on UTC.
EARLIEST_ZONE, LATEST_ZONE = timedelta(hours=-12), timedelta(hours=14)
# E.164: a plus, a country code not starting with 0, at most 15 digits in all (7 at least for a real number)
E164 = re.compile(r"\+[1-9]\d{6,14}")
PHONE_SEPARATORS = re.compile(r"[\s\-./()]")
EMAIL = re.compile(r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@"
                   r"(?P<domain>([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})")


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


def coerce_form(fields: list[dict[str, Any]], values: dict[str, Any], *, now: datetime | None = None,
                current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the values typed by field type; raise FormValidationError naming every bad field.

    `now` is the engine's clock for the date rules (default: the clock of the running command); `current`
    holds the case's variables, which a requiredIf rule reads when its other field is not submitted."""
    if not isinstance(values, dict):
        raise FormValidationError({"_form": "values must be an object of field id → value"})
    if not fields:
        return dict(values)
    moment = now or engine_now()
    known = {f["id"] for f in fields}
    errors = {name: "is not a field of this form" for name in values if name not in known}
    clean: dict[str, Any] = {}
    left_blank: list[tuple[str, str]] = []
    for field in fields:
        rules = field.get("validation") or {}
        name = field["id"]
        raw = values.get(name)
        if _blank(raw):
            if "required" in rules and "readonly" not in rules:
                errors[name] = "is required"
                continue
            if name in values:
                clean[name] = None
            if "requiredIf" in rules and "readonly" not in rules:
                left_blank.append((name, rules["requiredIf"]))
            continue
        if "readonly" in rules:
            errors[name] = "is read-only"
            continue
        try:
            value = _coerce(field, raw)
            value = _check_rules(value, rules, moment)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        clean[name] = value
    for name, config in left_blank:
        try:
            other, wanted = parse_required_if(config)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        seen = clean.get(other) if other in values and other in known else (current or {}).get(other)
        if seen is not None and _as_text(seen) in wanted:
            errors[name] = f"is required when {other} is {_as_text(seen)}"
    if errors:
        raise FormValidationError(errors)
    return clean


def check_start_variables(fields: list[dict[str, Any]], variables: dict[str, Any], *,
                          now: datetime | None = None) -> dict[str, Any]:
    """Variables of a start with the start form's fields typed and checked as the form page checks them;
    variables the form does not declare (an integration's own data) pass unchanged."""
    declared = {field["id"] for field in fields}
    clean = coerce_form(fields, {name: value for name, value in variables.items() if name in declared},
                        now=now, current=variables)
    return {**{name: value for name, value in variables.items() if name not in declared}, **clean}


def engine_now() -> datetime:
    """The running command's clock (orchestrator.clock installs it while a command runs), else UTC now."""
    moment = _clocked.datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def date_limits(now: datetime) -> dict[str, str]:
    """The dates `notPast` and `notFuture` accept at the edges, for the page's min/max attributes."""
    return {"notPast": (now + EARLIEST_ZONE).date().isoformat(), "notFuture": (now + LATEST_ZONE).date().isoformat()}


def parse_required_if(config: Any) -> tuple[str, set[str]]:
    """`otherField=a|b` → ("otherField", {"a", "b"}); ValueError when the model wrote it otherwise."""
    other, sep, wanted = str(config or "").partition("=")
    values = {value.strip() for value in wanted.split("|")}
    if not sep or not re.fullmatch(r"[A-Za-z_][\w.-]*", other.strip()) or "" in values:
        raise ValueError(f"has a requiredIf rule the engine cannot read ({config!r}; write otherField=value|value)")
    return other.strip(), values


def normalise_phone(raw: str) -> str:
    """A phone number as E.164 (+447700900123): spaces, dashes, dots and brackets people type are dropped,
    a leading 00 becomes +."""
    text = PHONE_SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not E164.fullmatch(text):
        raise ValueError("must be a phone number in international format (E.164), e.g. +447700900123")
    return text


def normalise_email(raw: str) -> str:
    """An e-mail address as one mailbox at a real-looking domain, the domain in lower case."""
    match = EMAIL.fullmatch(raw.strip())
    if not match or len(raw.strip()) > 254 or len(match["local"]) > 64:
        raise ValueError("must be an e-mail address such as name@example.com")
    return f"{match['local']}@{match['domain'].lower()}"


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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


def _check_rules(value: Any, rules: dict[str, Any], now: datetime) -> Any:
    """Check the field's constraints; return the value normalised by them (phone numbers, e-mail)."""
    if "phone" in rules:
        value = normalise_phone(str(value))
    if "email" in rules:
        value = normalise_email(str(value))
    if "notFuture" in rules or "notPast" in rules:
        value = _check_date_bounds(value, rules, now)
    for rule, config in rules.items():
        if rule in ("required", "readonly", "requiredIf", "phone", "email", "notFuture", "notPast"):
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
    return value


def _check_date_bounds(value: Any, rules: dict[str, Any], now: datetime) -> Any:
    day = date.fromisoformat(str(value)[:10])
    limits = date_limits(now)
    if "notFuture" in rules and day > date.fromisoformat(limits["notFuture"]):
        raise ValueError("must not be in the future")
    if "notPast" in rules and day < date.fromisoformat(limits["notPast"]):
        raise ValueError("must not be in the past")
    return value
