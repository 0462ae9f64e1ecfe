"""The Java methods (JUEL) and built-in functions (FEEL) a Camunda 7 model may call, as pure functions.

The JUEL and FEEL translators never emit a method call on a value: ``${s.startsWith("A")}`` becomes
``juel_starts_with(s, 'A')`` and ``date and time("2024-01-01T00:00:00")`` becomes
``feel_date_and_time('2024-01-01T00:00:00')``. Each function checks the types it accepts and raises an
ExpressionError naming the method otherwise, so a model never reaches anything but this list.

JUEL methods follow Java: calling a method on null is an error (Java's NullPointerException), ``equals``
is value equality (``1`` equals ``1.0``, unlike Java's ``Integer.equals(Long)``), ``toString()`` of a
boolean is ``true``/``false``. FEEL functions follow FEEL: a null argument yields null.

FEEL temporal values: ``date("2024-01-31")`` is a date, ``time("10:00:00")`` a time,
``date and time("2024-01-31T10:00:00")`` a date-time (a value without offset is read as UTC, so local
and zoned values compare), ``duration("P1DT2H")`` a days-time duration and ``duration("P1Y6M")`` a
year-month duration (``YearMonthDuration``: it moves a date or date-time by calendar months).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.limits import check_length, safe_str, short

_COLLECTIONS = (list, tuple, set, frozenset)
_DURATION = re.compile(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
_YEAR_MONTH = re.compile(r"-?P(\d+Y)?(\d+M)?")
MAX_DURATION_DAYS = 999_999


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, _COLLECTIONS):
        return "a list"
    return f"a {type(value).__name__}"


def _method_on(value: Any, method: str, kinds: tuple[type, ...], wanted: str) -> None:
    if value is None:
        raise ExpressionError(f"{method}() was called on null")
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise ExpressionError(f"{method}() needs {wanted}, but the value is {_kind(value)} ({short(value)})")


def _string_argument(value: Any, method: str) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"{method}() needs a string argument, got {_kind(value)}")
    return value


# -- JUEL: Java methods on values --------------------------------------------------------------------

def juel_is_empty(value: Any) -> bool:
    """String/Collection/Map ``isEmpty()``."""
    _method_on(value, "isEmpty", (str, Mapping, *_COLLECTIONS), "a string, list or map")
    return len(value) == 0


def juel_length(value: Any) -> int:
    """String ``length()``."""
    _method_on(value, "length", (str,), "a string")
    return len(value)


def juel_size(value: Any) -> int:
    """Collection/Map ``size()``."""
    _method_on(value, "size", (Mapping, *_COLLECTIONS), "a list or map")
    return len(value)


def juel_contains(value: Any, item: Any) -> bool:
    """String ``contains(text)`` (substring) or Collection ``contains(item)`` (membership)."""
    _method_on(value, "contains", (str, *_COLLECTIONS), "a string or list")
    if isinstance(value, str):
        return _string_argument(item, "contains") in value
    return item in value


def juel_starts_with(value: Any, prefix: Any) -> bool:
    """String ``startsWith(prefix)``."""
    _method_on(value, "startsWith", (str,), "a string")
    return value.startswith(_string_argument(prefix, "startsWith"))


def juel_ends_with(value: Any, suffix: Any) -> bool:
    """String ``endsWith(suffix)``."""
    _method_on(value, "endsWith", (str,), "a string")
    return value.endswith(_string_argument(suffix, "endsWith"))


def juel_upper(value: Any) -> str:
    """String ``toUpperCase()``."""
    _method_on(value, "toUpperCase", (str,), "a string")
    return value.upper()


def juel_lower(value: Any) -> str:
    """String ``toLowerCase()``."""
    _method_on(value, "toLowerCase", (str,), "a string")
    return value.lower()


def juel_trim(value: Any) -> str:
    """String ``trim()``."""
    _method_on(value, "trim", (str,), "a string")
    return value.strip()


def juel_get(value: Any, key: Any) -> Any:
    """Map ``get(key)`` (null when absent, as in Java) or List ``get(index)``."""
    _method_on(value, "get", (Mapping, list, tuple), "a map or list")
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(key, bool) or not isinstance(key, int):
        raise ExpressionError(f"get() on a list needs a whole number index, got {_kind(key)}")
    if not 0 <= key < len(value):
        raise ExpressionError(f"get({key}) is out of range for a list of {len(value)} items")
    return value[key]


def juel_contains_key(value: Any, key: Any) -> bool:
    """Map ``containsKey(key)``."""
    _method_on(value, "containsKey", (Mapping,), "a map")
    return key in value


def juel_to_string(value: Any) -> str:
    """``toString()`` as Java prints the value (booleans as true/false)."""
    if value is None:
        raise ExpressionError("toString() was called on null")
    return java_text(value)


def java_text(value: Any) -> str:
    """A value as Java/FEEL print it: ``true``/``false``, ``null``, other values as Python does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return safe_str(value)


# -- FEEL built-in functions -----------------------------------------------------------------------

def _feel_text(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"FEEL {function}() needs a string, got {_kind(value)}")
    return value


def feel_date(text: Any) -> date | None:
    """FEEL ``date("2024-01-31")`` (or the date part of a date-time value)."""
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    value = _feel_text(text, "date")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ExpressionError(f"FEEL date({short(value)}) is not a date like \"2024-01-31\"") from None


def feel_time(text: Any) -> time | None:
    """FEEL ``time("10:30:00")``; an offset, if given, is kept."""
    if text is None:
        return None
    if isinstance(text, time):
        return text
    value = _feel_text(text, "time")
    try:
        return time.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ExpressionError(f"FEEL time({short(value)}) is not a time like \"10:30:00\"") from None


def feel_date_and_time(text: Any) -> datetime | None:
    """FEEL ``date and time("2024-01-31T10:30:00")``; without an offset the value is read as UTC."""
    if text is None:
        return None
    if isinstance(text, datetime):
        return _utc(text)
    if isinstance(text, date):
        return datetime(text.year, text.month, text.day, tzinfo=UTC)
    value = _feel_text(text, "date and time").strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ExpressionError(
            f"FEEL date and time({short(value)}) is not a date-time like \"2024-01-31T10:30:00\"") from None
    return _utc(parsed)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True, order=True)
class YearMonthDuration:
    """A FEEL year-month duration (``duration("P6M")``), in whole months. Added to a date or date-time it
    moves the calendar, keeping the day (or taking the month's last day: Jan 31 + P1M is Feb 28/29)."""

    months: int

    def __add__(self, other: Any) -> Any:
        if isinstance(other, YearMonthDuration):
            return YearMonthDuration(self.months + other.months)
        if isinstance(other, date):
            return _shift_months(other, self.months)
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, YearMonthDuration):
            return YearMonthDuration(self.months - other.months)
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, date):
            return _shift_months(other, -self.months)
        return NotImplemented

    def __neg__(self) -> YearMonthDuration:
        return YearMonthDuration(-self.months)

    def __str__(self) -> str:
        years, months = divmod(abs(self.months), 12)
        return ("-" if self.months < 0 else "") + f"P{years}Y{months}M"


def _shift_months(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise ExpressionError(f"moving {value.isoformat()} by {months} months leaves the calendar")
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def feel_duration(text: Any) -> timedelta | YearMonthDuration | None:
    """FEEL ``duration("P1DT2H")``: a days-time duration, or ``duration("P1Y6M")``: a year-month one."""
    if text is None:
        return None
    if isinstance(text, timedelta | YearMonthDuration):
        return text
    value = _feel_text(text, "duration").strip()
    match = _DURATION.fullmatch(value)
    if match is None or value in ("P", "-P") or value.endswith("T"):
        year_month = _YEAR_MONTH.fullmatch(value)
        if year_month and value not in ("P", "-P"):
            years, months = (int((part or "0")[:-1] or 0) for part in year_month.groups())
            if years > 9999:
                raise ExpressionError(f"FEEL duration({short(value)}) is too long")
            return YearMonthDuration((-1 if value.startswith("-") else 1) * (12 * years + months))
        if re.fullmatch(r"-?P(\d+Y)?(\d+M)?(\d+D)?(T.*)?", value) and ("Y" in value or "M" in value.split("T")[0]):
            raise ExpressionError(f"FEEL duration({short(value)}) mixes years or months with days or time; a FEEL "
                                  "duration is either year-month (\"P1Y6M\") or days-time (\"P1DT2H\")")
        raise ExpressionError(f"FEEL duration({short(value)}) is not an ISO 8601 duration like \"P1D\" or \"PT12H\"")
    negative, days, hours, minutes, seconds = match.groups()
    total_days = int(days or 0) + int(hours or 0) / 24 + int(minutes or 0) / 1440 + float(seconds or 0) / 86400
    if total_days > MAX_DURATION_DAYS:
        raise ExpressionError(f"FEEL duration({short(value)}) is too long")
    result = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                       seconds=float(seconds or 0))
    return -result if negative else result


def feel_number(text: Any) -> int | float | None:
    """FEEL ``number("1.5")``; null when the text is not a number."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    value = _feel_text(text, "number").strip()
    if len(value) > 64:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return int(number) if number == number.to_integral_value() and "." not in value and "e" not in value.lower() \
        else float(number)


def feel_string(value: Any) -> str | None:
    """FEEL ``string(x)``: null stays null, booleans print as true/false."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    return java_text(value)


def _feel_list(args: tuple[Any, ...], function: str) -> list[Any] | None:
    items = args[0] if len(args) == 1 and isinstance(args[0], _COLLECTIONS) else args
    if len(args) == 1 and args[0] is None:
        return None
    if len(args) == 1 and not isinstance(args[0], _COLLECTIONS):
        raise ExpressionError(f"FEEL {function}() needs a list, got {_kind(args[0])}")
    return list(items)


def feel_count(value: Any) -> int | None:
    """FEEL ``count(list)``."""
    if value is None:
        return None
    if not isinstance(value, _COLLECTIONS):
        raise ExpressionError(f"FEEL count() needs a list, got {_kind(value)}")
    return len(value)


def feel_sum(*args: Any) -> int | float | None:
    """FEEL ``sum(list)`` or ``sum(a, b, ...)``: null if any item is not a number."""
    items = _feel_list(args, "sum")
    if items is None or not all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in items):
        return None
    return sum(items)


def _extreme(args: tuple[Any, ...], function: str, pick: Callable[[Iterable[Any]], Any]) -> Any:
    items = _feel_list(args, function)
    if not items or any(item is None for item in items):
        return None
    try:
        return pick(items)
    except TypeError:
        raise ExpressionError(f"FEEL {function}() cannot compare the items of its list") from None


def feel_min(*args: Any) -> Any:
    """FEEL ``min(list)`` or ``min(a, b, ...)``."""
    return _extreme(args, "min", min)


def feel_max(*args: Any) -> Any:
    """FEEL ``max(list)`` or ``max(a, b, ...)``."""
    return _extreme(args, "max", max)


def _feel_strings(function: str, *values: Any) -> tuple[str, ...] | None:
    if any(value is None for value in values):
        return None
    return tuple(_feel_text(value, function) for value in values)


def feel_contains(text: Any, match: Any) -> bool | None:
    """FEEL ``contains(string, match)``."""
    strings = _feel_strings("contains", text, match)
    return None if strings is None else strings[1] in strings[0]


def feel_starts_with(text: Any, match: Any) -> bool | None:
    """FEEL ``starts with(string, match)``."""
    strings = _feel_strings("starts with", text, match)
    return None if strings is None else strings[0].startswith(strings[1])


def feel_ends_with(text: Any, match: Any) -> bool | None:
    """FEEL ``ends with(string, match)``."""
    strings = _feel_strings("ends with", text, match)
    return None if strings is None else strings[0].endswith(strings[1])


def feel_upper_case(text: Any) -> str | None:
    """FEEL ``upper case(string)``."""
    strings = _feel_strings("upper case", text)
    return None if strings is None else strings[0].upper()


def feel_lower_case(text: Any) -> str | None:
    """FEEL ``lower case(string)``."""
    strings = _feel_strings("lower case", text)
    return None if strings is None else strings[0].lower()


def feel_string_length(text: Any) -> int | None:
    """FEEL ``string length(string)``."""
    strings = _feel_strings("string length", text)
    return None if strings is None else len(strings[0])


def feel_list_contains(items: Any, element: Any) -> bool | None:
    """FEEL ``list contains(list, element)``."""
    if items is None:
        return None
    if not isinstance(items, _COLLECTIONS):
        raise ExpressionError(f"FEEL list contains() needs a list, got {_kind(items)}")
    return element in items


def feel_unary_match(value: Any, result: Any) -> bool:
    """A FEEL unary test written as an expression (or a variable): it holds when the expression is true,
    equals the input value, or is a list holding the input value (as Camunda's FEEL engine decides)."""
    if result is True or value == result:
        return True
    return isinstance(result, _COLLECTIONS) and value in result


def iso_duration(value: timedelta) -> str:
    """A days-time duration as ISO 8601 text (``P1DT2H``)."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    seconds_text = f"{seconds + value.microseconds / 1e6:g}" if value.microseconds else str(seconds)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or value.microseconds:
        clock += f"{seconds_text}S"
    text = f"{sign}P{f'{value.days}D' if value.days else ''}{'T' + clock if clock else ''}"
    return text if text not in ("P", "-P") else "PT0S"


def plain_value(value: Any) -> Any:
    """A decision result as a process variable holds it: temporal values as ISO 8601 text."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, list):
        check_length(len(value))
        return [plain_value(item) for item in value]
    return value


MODEL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "juel_is_empty": juel_is_empty, "juel_length": juel_length, "juel_size": juel_size,
    "juel_contains": juel_contains, "juel_starts_with": juel_starts_with, "juel_ends_with": juel_ends_with,
    "juel_upper": juel_upper, "juel_lower": juel_lower, "juel_trim": juel_trim, "juel_get": juel_get,
    "juel_contains_key": juel_contains_key, "juel_to_string": juel_to_string,
    "feel_date": feel_date, "feel_time": feel_time, "feel_date_and_time": feel_date_and_time,
    "feel_duration": feel_duration, "feel_number": feel_number, "feel_string": feel_string,
    "feel_count": feel_count, "feel_sum": feel_sum, "feel_min": feel_min, "feel_max": feel_max,
    "feel_contains": feel_contains, "feel_starts_with": feel_starts_with, "feel_ends_with": feel_ends_with,
    "feel_upper_case": feel_upper_case, "feel_lower_case": feel_lower_case,
    "feel_string_length": feel_string_length, "feel_list_contains": feel_list_contains,
    "feel_unary_match": feel_unary_match,
}
