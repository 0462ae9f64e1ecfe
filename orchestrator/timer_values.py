"""ISO 8601 and Quartz cron timer values bounded and turned into due times in constant time.

SpiffWorkflow adds a duration one month at a time (``P1000000Y`` takes seconds, ``P9999999999Y`` hours)
and replays every missed occurrence of a cycle inside one engine step (``R/PT0S`` never ends). Loopline
checks each value against a horizon and a minimum cycle interval, and does the calendar arithmetic
itself, so SpiffWorkflow only ever compares ready-made due times. A cron `timeCycle` (Camunda's Quartz
syntax, see orchestrator.expressions.cron) is read in UTC; its next fire time is found field by field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

# the furthest ahead a timer may be due: ten calendar years, leap days included
MAX_TIMER_HORIZON = timedelta(days=3653)
MAX_TIMER_YEARS = 10
# the shortest interval a repeating timer may have
MIN_CYCLE_INTERVAL = timedelta(seconds=1)

_DAY = 86400.0
# nominal lengths used to bound a duration before any calendar arithmetic (a Julian year, its twelfth)
_NOMINAL_SECONDS = {
    "years": 365.25 * _DAY, "months": 365.25 / 12 * _DAY, "weeks": 7 * _DAY, "days": _DAY,
    "hours": 3600.0, "minutes": 60.0, "seconds": 1.0,
}
_CYCLE = re.compile(r"R(\d*)/([^/]+)(?:/([^/]+))?")


class TimerValueError(ValueError):
    """A timer value is malformed, too far ahead, or repeats too often."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Cycle:
    """A repeating timer: how many more times it fires (-1: forever), when next, and how often."""

    repetitions: int
    start: datetime
    interval: timedelta


def parse_duration(text) -> dict[str, float]:
    """The designators of an ISO 8601 duration (`P1Y2M`, `PT24H`, `P2W`), read as SpiffWorkflow reads them."""
    if not isinstance(text, str) or not text.strip().upper().startswith("P"):
        raise TimerValueError(f"{text!r} is not an ISO 8601 duration")
    try:
        return TimerEventDefinition.parse_iso_duration(text.strip())
    except Exception:  # SpiffWorkflow raises a bare Exception; int() may raise ValueError on huge numbers
        raise TimerValueError(f"{text!r} is not an ISO 8601 duration") from None


def nominal_seconds(parsed: dict[str, float]) -> float:
    """A duration's length with a year of 365.25 days, computed without calendars (never overflows)."""
    try:
        return sum(float(parsed.get(unit, 0)) * seconds for unit, seconds in _NOMINAL_SECONDS.items())
    except OverflowError:
        return math.inf


def check_duration(text: str, parsed: dict[str, float]) -> None:
    """Refuse a duration longer than the horizon, before anything adds it to a date."""
    if nominal_seconds(parsed) > MAX_TIMER_YEARS * _NOMINAL_SECONDS["years"]:
        raise TimerValueError(f"{text} is more than {MAX_TIMER_YEARS} years ahead (the longest timer allowed)")


def add_duration(start: datetime, parsed: dict[str, float]) -> datetime:
    """`start` plus a checked duration: months by calendar (as SpiffWorkflow counts them), in constant time."""
    months = parsed.get("years", 0) * 12 + parsed.get("months", 0)
    whole = int(months)
    target = _first_of_month(start, whole)
    days = (target - _first_of_month(start, 0)).days + (months - whole) * _days_in_month(target)
    return start + _clock_part(parsed, days)


def subtract_duration(end: datetime, parsed: dict[str, float]) -> datetime:
    """`end` minus a checked duration, counting the months before `end`'s month, in constant time."""
    months = parsed.get("years", 0) * 12 + parsed.get("months", 0)
    whole = int(months)
    earliest = _first_of_month(end, -whole)
    fraction = (months - whole) * _days_in_month(_first_of_month(end, -whole - 1))
    days = (_first_of_month(end, 0) - earliest).days + fraction
    return end - _clock_part(parsed, days)


def _first_of_month(moment: datetime, months_later: int) -> date:
    year, month = divmod(moment.year * 12 + moment.month - 1 + months_later, 12)
    return date(year, month + 1, 1)


def _days_in_month(first: date) -> int:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (following - first).days


def _clock_part(parsed: dict[str, float], days: float) -> timedelta:
    return timedelta(weeks=parsed.get("weeks", 0), days=days + parsed.get("days", 0), hours=parsed.get("hours", 0),
                     minutes=parsed.get("minutes", 0), seconds=parsed.get("seconds", 0))


def parse_moment(text) -> datetime:
    """An ISO 8601 date or date-time in UTC (a naive value is server-local time, as in SpiffWorkflow)."""
    if isinstance(text, datetime):
        return text if text.tzinfo else text.astimezone()
    if isinstance(text, date):
        text = text.isoformat()
    if not isinstance(text, str) or not text.strip():
        raise TimerValueError(f"{text!r} is not an ISO 8601 date or date-time")
    try:
        return TimerEventDefinition.get_datetime(text.strip())
    except (ValueError, OverflowError):
        raise TimerValueError(f"{text!r} is not an ISO 8601 date or date-time") from None


def check_moment(text, moment: datetime, now: datetime) -> None:
    """Refuse a due time further ahead than the horizon."""
    if moment - now > MAX_TIMER_HORIZON:
        raise TimerValueError(f"{text} is more than {MAX_TIMER_YEARS} years ahead (the latest a timer may be due)")


def duration_due(text, now: datetime) -> datetime:
    """When a duration timer started `now` is due."""
    parsed = parse_duration(text)
    check_duration(text, parsed)
    return add_duration(now, parsed)


def date_due(text, now: datetime) -> datetime:
    """When a date timer is due (a past date is due at once)."""
    moment = parse_moment(text)
    check_moment(text, moment, now)
    return moment


def due_from(value, now: datetime) -> datetime:
    """A due date given as a duration from now or as a date/date-time (camunda:dueDate, followUpDate)."""
    if isinstance(value, str) and value.strip().upper().startswith("P"):
        return duration_due(value, now)
    return date_due(value, now)


def parse_cycle(text, now: datetime) -> Cycle:
    """`R[n]/duration`, `R[n]/start/duration` or `R[n]/duration/end`, checked for interval and horizon."""
    match = _CYCLE.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise TimerValueError(f"{text!r} is not an ISO 8601 repeating interval (R[n]/duration)")
    count, first, second = match.groups()
    repetitions = int(count) if count else -1
    if second is None:
        interval = _interval(text, first, lambda parsed: add_duration(now, parsed) - now)
        start = now + interval
    elif first.startswith("P"):
        end = parse_moment(second)
        interval = _interval(text, first, lambda parsed: end - subtract_duration(end, parsed))
        start = end - interval
    else:
        start = parse_moment(first)
        check_moment(text, start, now)  # before adding to it: a far start would overflow the calendar
        return Cycle(repetitions, start, _interval(text, second, lambda parsed: add_duration(start, parsed) - start))
    check_moment(text, start, now)
    return Cycle(repetitions, start, interval)


def _interval(text: str, duration: str, length) -> timedelta:
    parsed = parse_duration(duration)
    check_duration(text, parsed)
    try:
        interval = length(parsed)
    except (ValueError, OverflowError):
        raise TimerValueError(f"{text} falls outside the calendar (years 1 to 9999)") from None
    if interval < MIN_CYCLE_INTERVAL:
        raise TimerValueError(f"{text} repeats every {interval.total_seconds():g} s; a cycle may repeat at most "
                              f"once every {MIN_CYCLE_INTERVAL.total_seconds():g} s")
    return interval


def skip_missed(next_at: datetime, interval_seconds: float, repetitions: int, now: datetime) -> tuple[datetime, int]:
    """Move a cycle that fell behind to its latest due occurrence, so it fires once, not once per miss."""
    if repetitions == 0 or next_at >= now:
        return next_at, repetitions
    if interval_seconds <= 0:
        raise TimerValueError(f"a cycle repeating every {interval_seconds:g} s cannot be scheduled")
    missed = math.ceil((now - next_at).total_seconds() / interval_seconds) - 1
    if repetitions > 0:
        missed = min(missed, repetitions - 1)
        repetitions -= missed
    return next_at + timedelta(seconds=missed * interval_seconds), repetitions


def is_cron(value) -> bool:
    """True for a value shaped like a cron expression (an ISO cycle starts with R, a duration with P)."""
    # imported here: orchestrator.expressions imports this module
    from orchestrator.expressions.cron import looks_like_cron

    return isinstance(value, str) and looks_like_cron(value.strip())


def parse_cron_cycle(text):
    """A Quartz cron expression, or TimerValueError saying in plain words what is wrong with it."""
    from orchestrator.expressions.cron import CronError, parse_cron

    try:
        return parse_cron(text.strip() if isinstance(text, str) else text)
    except CronError as exc:
        raise TimerValueError(f"{text!r} is not a valid cron expression: {exc.message}") from None


def cron_next(text, now: datetime, zone: tzinfo = UTC) -> datetime | None:
    """The cron's first fire time after `now` within the horizon, None when there is none."""
    return parse_cron_cycle(text).next_after(now, now + MAX_TIMER_HORIZON, zone)


def cron_first(text, now: datetime, zone: tzinfo = UTC) -> datetime:
    """When a cron cycle entered `now` first fires; a cron that never fires, or first fires beyond the
    horizon, is refused."""
    cron = parse_cron_cycle(text)
    first = cron.next_after(now, now + MAX_TIMER_HORIZON, zone)
    if first is not None:
        return first
    later = cron.next_after(now, datetime(9999, 12, 31, tzinfo=UTC), zone)
    if later is None:
        raise TimerValueError(f"cron expression {text.strip()!r} never fires: no date from now on matches its "
                              "day-of-month, day-of-week, month and year fields")
    raise TimerValueError(f"cron expression {text.strip()!r} first fires on {later:%Y-%m-%d}, more than "
                          f"{MAX_TIMER_YEARS} years ahead (the latest a timer may be due)")


def check_literal(text: str, now: datetime | None = None) -> None:
    """Deploy-time check of a literal: durations and cycles bounded, dates within the horizon, a cron
    expression valid and firing within the horizon."""
    now = now or datetime.now(UTC)
    if is_cron(text):
        cron_first(text, now)
        return
    value = text.strip().upper()
    if value.startswith("R"):
        parse_cycle(value, now)
    elif value.startswith("P"):
        duration_due(value, now)
    else:
        date_due(value, now)
