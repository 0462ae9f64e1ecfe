"""Quartz cron expressions, as Camunda 7 reads them in a ``timeCycle``.

Six or seven fields separated by spaces: seconds, minutes, hours, day-of-month, month, day-of-week and an
optional year. Values, ``*``, ranges ``a-b`` (wrapping past the end, like ``FRI-MON``), steps ``a/n``,
``a-b/n``, ``*/n``, lists ``a,b``, month names ``JAN``-``DEC`` and day names ``SUN``-``SAT`` (``1`` is
Sunday). Exactly one of day-of-month and day-of-week is ``?``. Day-of-month also takes ``L`` (last day),
``L-n`` (n days before it), ``LW`` (last weekday) and ``nW`` (the weekday nearest the n-th, within the
month); day-of-week takes ``L`` alone (Saturday), ``nL`` (the last such day of the month) and ``n#k``
(the k-th such day).

`CronExpression.next_after` finds the first fire time after a moment by moving field by field (year,
month, day, hour, minute, second): each step jumps to the next allowed value, so the work depends on the
number of months searched, never on how many seconds or minutes lie between two fire times.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELD_NAMES = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week", "year")
MIN_YEAR, MAX_YEAR = 1970, 2199
_TOKEN = re.compile(r"[0-9A-Za-z*?/,#\-]+")
_SECONDS_TOKEN = re.compile(r"[0-9*/,\-]+")


class CronError(ValueError):
    """A cron expression that Quartz would not accept; the message says what is wrong in plain words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def looks_like_cron(text: str) -> bool:
    """True for text shaped like a cron expression (numbers and cron symbols in 4 to 8 fields), so that
    a mistyped one is explained as a cron error rather than as a failed expression."""
    if not isinstance(text, str):
        return False
    fields = text.split()
    return (4 <= len(fields) <= 8 and bool(_SECONDS_TOKEN.fullmatch(fields[0]))
            and all(_TOKEN.fullmatch(field) for field in fields))


@dataclass(frozen=True)
class _DayOfMonth:
    days: tuple[int, ...] = ()     # plain values
    last_offset: int | None = None  # L (0) or L-n
    last_weekday: bool = False      # LW
    nearest_weekday: int | None = None  # nW

    def days_in(self, year: int, month: int) -> list[int]:
        length = monthrange(year, month)[1]
        if self.last_offset is not None:
            day = length - self.last_offset
            return [day] if day >= 1 else []
        if self.last_weekday:
            return [_nearest_weekday(year, month, length, length)]
        if self.nearest_weekday is not None:
            if self.nearest_weekday > length:
                return []
            return [_nearest_weekday(year, month, self.nearest_weekday, length)]
        return [day for day in self.days if day <= length]


@dataclass(frozen=True)
class _DayOfWeek:
    weekdays: frozenset[int] = frozenset()  # Quartz numbers: 1 = Sunday .. 7 = Saturday
    last: int | None = None                  # nL: the last such weekday of the month
    nth: tuple[int, int] | None = None       # n#k: the k-th such weekday of the month

    def days_in(self, year: int, month: int) -> list[int]:
        length = monthrange(year, month)[1]
        first = _quartz_weekday(date(year, month, 1))
        if self.last is not None:
            last_weekday = _quartz_weekday(date(year, month, length))
            return [length - (last_weekday - self.last) % 7]
        if self.nth is not None:
            weekday, week = self.nth
            day = 1 + (weekday - first) % 7 + 7 * (week - 1)
            return [day] if day <= length else []
        return [day for day in range(1, length + 1) if (first - 1 + day - 1) % 7 + 1 in self.weekdays]


def _quartz_weekday(day: date) -> int:
    """1 = Sunday .. 7 = Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """The weekday (Monday-Friday) nearest `day`, without leaving the month (Quartz's W)."""
    weekday = date(year, month, day).weekday()  # Monday = 0
    if weekday == 5:  # Saturday: the Friday before, or the Monday after the 1st
        return day + 2 if day == 1 else day - 1
    if weekday == 6:  # Sunday: the Monday after, or the Friday before the month's last day
        return day - 2 if day == length else day + 1
    return day


@dataclass(frozen=True)
class CronExpression:
    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...] | None
    day_of_month: _DayOfMonth | None
    day_of_week: _DayOfWeek | None

    def _days(self, year: int, month: int) -> list[int]:
        rule = self.day_of_month if self.day_of_month is not None else self.day_of_week
        return rule.days_in(year, month)

    def next_after(self, moment: datetime, until: datetime, zone: tzinfo = UTC) -> datetime | None:
        """The first fire time strictly after `moment` and not after `until` (UTC), read in `zone`."""
        local = moment.astimezone(zone).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        last_year = min(until.year + 1, MAX_YEAR)  # a zone ahead of UTC may be in the next year
        while True:
            found = self._next_local(local, last_year)
            if found is None:
                return None
            result = found.replace(tzinfo=zone).astimezone(UTC)
            if result > until:
                return None
            if result > moment:  # a wall time repeated when clocks go back may map before `moment`
                return result
            local = found + timedelta(seconds=1)

    def _next_local(self, t: datetime, last_year: int) -> datetime | None:
        """The first wall-clock time at or after `t` that matches every field (None after `last_year`)."""
        while t.year <= last_year:
            if self.years is not None and t.year not in self.years:
                year = _first_at_least(self.years, t.year)
                if year is None or year > last_year:
                    return None
                t = datetime(year, 1, 1)
            month = _first_at_least(self.months, t.month)
            if month is None:
                t = datetime(t.year + 1, 1, 1)
                continue
            if month != t.month:
                t = datetime(t.year, month, 1)
            day = _first_at_least(self._days(t.year, t.month), t.day)
            if day is None:
                t = _next_month(t)
                continue
            if day != t.day:
                t = datetime(t.year, t.month, day)
            hour = _first_at_least(self.hours, t.hour)
            if hour is None:
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if hour != t.hour:
                t = t.replace(hour=hour, minute=0, second=0)
            minute = _first_at_least(self.minutes, t.minute)
            if minute is None:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != t.minute:
                t = t.replace(minute=minute, second=0)
            second = _first_at_least(self.seconds, t.second)
            if second is None:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            return t.replace(second=second)
        return None


def _first_at_least(values, floor: int) -> int | None:
    index = bisect_left(values, floor)
    return values[index] if index < len(values) else None


def _next_month(t: datetime) -> datetime:
    return datetime(t.year + 1, 1, 1) if t.month == 12 else datetime(t.year, t.month + 1, 1)


@lru_cache(maxsize=512)
def parse_cron(text: str) -> CronExpression:
    """Read a Quartz cron expression; CronError says in plain words what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise CronError("the cron expression is empty")
    fields = text.strip().upper().split()
    if len(fields) not in (6, 7):
        raise CronError(f"has {len(fields)} fields; a Quartz cron expression has 6 or 7: seconds, minutes, hours, "
                        "day-of-month, month, day-of-week and an optional year (e.g. '0 0 9 * * ?')")
    seconds = _values(fields[0], 0, 0, 59)
    minutes = _values(fields[1], 1, 0, 59)
    hours = _values(fields[2], 2, 0, 23)
    months = _values(fields[4], 4, 1, 12, MONTHS)
    years = _values(fields[6], 6, MIN_YEAR, MAX_YEAR) if len(fields) == 7 else None
    dom, dow = fields[3], fields[5]
    if (dom == "?") == (dow == "?"):
        raise CronError("exactly one of day-of-month and day-of-week must be '?' (e.g. '0 0 9 * * ?' or "
                        "'0 0 9 ? * MON-FRI'); Quartz does not combine both")
    day_of_month = None if dom == "?" else _day_of_month(dom)
    day_of_week = None if dow == "?" else _day_of_week(dow)
    return CronExpression(text.strip(), seconds, minutes, hours, months,
                          None if years is None or len(years) == MAX_YEAR - MIN_YEAR + 1 else years,
                          day_of_month, day_of_week)


def _field_error(index: int, field: str, problem: str) -> CronError:
    return CronError(f"{FIELD_NAMES[index]} field '{field}': {problem}")


def _number(token: str, index: int, field: str, low: int, high: int, names: tuple[str, ...] = ()) -> int:
    if token in names:
        return names.index(token) + low
    if not token.isdigit():
        expected = f"a number from {low} to {high}"
        if names:
            expected += f" or a name {names[0]}-{names[-1]}"
        raise _field_error(index, field, f"'{token}' is not {expected}")
    value = int(token)
    if not low <= value <= high:
        raise _field_error(index, field, f"{value} is outside {low}-{high}")
    return value


def _values(field: str, index: int, low: int, high: int, names: tuple[str, ...] = ()) -> tuple[int, ...]:
    """The sorted values a field of numbers, names, '*', ranges, steps and lists allows."""
    if field == "?":
        raise _field_error(index, field, "'?' is only allowed in day-of-month or day-of-week")
    span = high - low + 1
    values: set[int] = set()
    for part in field.split(","):
        if not part:
            raise _field_error(index, field, "a list has an empty entry")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not 1 <= int(step_text) <= span:
                raise _field_error(index, field, f"the step after '/' must be a number from 1 to {span}")
            step = int(step_text)
        if base in ("*", ""):
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(first, index, field, low, high, names)
            stop = _number(last, index, field, low, high, names)
            if stop < start:  # a range that wraps past the end, like FRI-MON or 22-2
                stop += span
        else:
            start = _number(base, index, field, low, high, names)
            stop = high if slash else start
        values.update(low + (value - low) % span for value in range(start, stop + 1, step))
    return tuple(sorted(values))


def _day_of_month(field: str) -> _DayOfMonth:
    index = 3
    if "L" in field or "W" in field:
        if "," in field or "/" in field:
            raise _field_error(index, field, "'L' and 'W' cannot be combined with other days, lists or steps")
        if field == "L":
            return _DayOfMonth(last_offset=0)
        if field == "LW":
            return _DayOfMonth(last_weekday=True)
        if field.startswith("L-"):
            offset = field[2:]
            if not offset.isdigit() or not 1 <= int(offset) <= 30:
                raise _field_error(index, field, "'L-n' needs a number of days from 1 to 30 before the last day")
            return _DayOfMonth(last_offset=int(offset))
        if field.endswith("W") and field[:-1].isdigit():
            return _DayOfMonth(nearest_weekday=_number(field[:-1], index, field, 1, 31))
        raise _field_error(index, field, "use 'L', 'L-n', 'LW' or 'nW' (the weekday nearest day n)")
    if "#" in field:
        raise _field_error(index, field, "'#' is only allowed in day-of-week")
    return _DayOfMonth(days=_values(field, index, 1, 31))


def _day_of_week(field: str) -> _DayOfWeek:
    index = 5
    if "#" in field:
        weekday, _, week = field.partition("#")
        if "," in field or "-" in field or "/" in field or "L" in weekday:
            raise _field_error(index, field, "'#' takes one day and one week number, like '6#3' (third Friday)")
        if not week.isdigit() or not 1 <= int(week) <= 5:
            raise _field_error(index, field, "the week after '#' must be a number from 1 to 5")
        return _DayOfWeek(nth=(_number(weekday, index, field, 1, 7, DAYS), int(week)))
    if field == "L":
        return _DayOfWeek(weekdays=frozenset({7}))
    if field.endswith("L"):
        if "," in field or "-" in field or "/" in field:
            raise _field_error(index, field, "'L' takes one day, like '6L' (last Friday)")
        return _DayOfWeek(last=_number(field[:-1], index, field, 1, 7, DAYS))
    return _DayOfWeek(weekdays=frozenset(_values(field, index, 1, 7, DAYS)))
