"""Translate BPMN timer definitions into expressions that evaluate to an ISO 8601 string or a cron expression.

SpiffWorkflow evaluates every timer definition as an expression, so the Camunda Modeler's unquoted
``PT24H`` would be read as an unknown variable. Literal ISO 8601 values become Python string
literals (validated at deploy time against the forms SpiffWorkflow can schedule, the timer horizon and
the minimum cycle interval), a Quartz cron expression (``0 0 9 * * ?``, Camunda's other ``timeCycle``
form) becomes a string literal once it is valid and fires within the horizon, ``${...}`` goes through the
JUEL translation, and other text must be a safe Python expression (its value is bounded when it is computed, see orchestrator.timer_events).
"""

from __future__ import annotations

import ast
import re
from datetime import datetime

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.juel import translate_expression, unwrap_el
from orchestrator.timer_values import TimerValueError, check_literal, is_cron

_DURATION = re.compile(
    r"P(?=\d)(?:\d+W|(?:\d+Y)?(?:\d+M)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:[.,]\d+)?S)?)?)"
    r"|PT(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:[.,]\d+)?S)?"
)
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)
_CYCLE = re.compile(r"R(\d*)/([^/]+)(?:/([^/]+))?")
_ISO_LOOKING = re.compile(r"(?:P|R\d*(?:/|$)|\d{4}-)[0-9A-Z:.,+\-/]*")


def _is_duration(text: str) -> bool:
    return bool(_DURATION.fullmatch(text)) and text not in ("P", "PT")


def _is_date_time(text: str) -> bool:
    if not _DATE_TIME.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_cycle(text: str) -> bool:
    match = _CYCLE.fullmatch(text)
    if not match:
        return False
    first, second = match.group(2), match.group(3)
    if second is None:
        return _is_duration(first)
    return ((_is_date_time(first) and _is_duration(second))
            or (_is_duration(first) and _is_date_time(second)))


def is_iso_timer_value(text: str) -> bool:
    """True for an ISO 8601 duration, repeating interval or date/date-time SpiffWorkflow accepts."""
    return _is_duration(text) or _is_cycle(text) or _is_date_time(text)


def _not_iso(text: str) -> ExpressionError:
    return ExpressionError(f"{text!r} is not an ISO 8601 duration, cycle or date", expression=text)


def _quoted_value(text: str) -> str | None:
    if text[:1] not in ("'", '"'):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _bounded_literal(value: str) -> str:
    """The literal as a Python string, once it is known to be due within the horizon and not too frequent."""
    try:
        check_literal(value)
    except TimerValueError as exc:
        raise ExpressionError(exc.message, expression=value) from None
    return repr(value)


def _cron_literal(value: str, cron: bool) -> str:
    if not cron:
        raise ExpressionError(f"{value!r} is a cron expression; cron is only valid in a timeCycle",
                              expression=value)
    return _bounded_literal(value)


def translate_timer(text: str, *, cron: bool = True) -> str:
    """A timeDate/timeDuration/timeCycle definition -> Python expression yielding the ISO string (or, for a
    timeCycle, the cron expression). `cron=False` refuses cron text (timeDate, timeDuration, due dates)."""
    source = (text or "").strip() if isinstance(text, str) else ""
    if not source:
        raise ExpressionError("empty timer definition")
    if unwrap_el(source) is not None:
        return translate_expression(source)
    quoted = _quoted_value(source)
    if quoted is not None:
        if is_cron(quoted):
            return _cron_literal(quoted.strip(), cron)
        if not is_iso_timer_value(quoted.strip()):
            raise _not_iso(quoted)
        return _bounded_literal(quoted.strip())
    if is_cron(source):
        return _cron_literal(source, cron)
    if is_iso_timer_value(source):
        return _bounded_literal(source)
    if is_iso_timer_value(source.upper()):
        return _bounded_literal(source.upper())
    if _ISO_LOOKING.fullmatch(source):
        raise _not_iso(source)
    try:
        return translate_expression(source)
    except ExpressionError as exc:
        raise ExpressionError(
            f"{source!r} is not an ISO 8601 duration, cycle or date, nor a valid expression: {exc.message}",
            expression=source) from None
