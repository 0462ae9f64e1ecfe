"""What every dashboard query shares: the filter (period and business dimensions), the conditions it puts on
`case_metric`, month and duration expressions for SQLite and PostgreSQL, and exact quantiles.

Quantiles are exact over the filtered set: PostgreSQL computes `percentile_cont` in the query; SQLite (a laptop's
few cases) hands the values back and they are interpolated the same way here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, func, literal, literal_column, select, text, tuple_
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can
from orchestrator.errors import Forbidden, InvalidInput
from orchestrator.metric_models import CaseMetric

DEFAULT_MONTHS = 12
FILTER_DIMENSIONS = ("sku", "reason", "region", "channel", "supplier", "fault_code")
MAX_PERIOD_DAYS = 20 * 366
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)  # days a period may start and end on
NONE_VALUE = ""  # a drill-down's value for "not recorded"
WORK_MEM = "64MB"


@dataclass(frozen=True)
class DashboardFilter:
    """Cases started from `start` to `end` (both days included, UTC); None: the last DEFAULT_MONTHS months.
    Each dimension given must match exactly."""

    start: date | None = None
    end: date | None = None
    sku: str | None = None
    reason: str | None = None
    region: str | None = None
    channel: str | None = None
    supplier: str | None = None
    fault_code: str | None = None

    def resolved(self, today: date) -> DashboardFilter:
        """The filter with its period filled in: up to today, from the first day of the month a year back."""
        for name, day in (("from", self.start), ("to", self.end)):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise InvalidInput("the period is out of range",
                                   {name: f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}"})
        end = self.end or today
        start = self.start
        if start is None:
            month_index = end.year * 12 + end.month - 1 - (DEFAULT_MONTHS - 1)
            start = date(month_index // 12, month_index % 12 + 1, 1)
        if start > end:
            raise InvalidInput("the period ends before it starts", {"to": "must not be before 'from'"})
        if (end - start).days > MAX_PERIOD_DAYS:
            raise InvalidInput("the period is too long", {"from": "the period may span at most 20 years"})
        return replace(self, start=start, end=end)

    @property
    def started_from(self) -> datetime:
        return datetime.combine(self.start, time.min, UTC)

    @property
    def started_before(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)

    def dimensions(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FILTER_DIMENSIONS if getattr(self, name)}


def require_reports(actor: Actor) -> None:
    """Only people who read reports (management, process owners, auditors, admins) see the figures."""
    if not can(actor, Permission.READ_REPORTS):
        raise Forbidden(f"{actor.name} may not read dashboards", permission=Permission.READ_REPORTS.name)


def case_conditions(process_key: str, criteria: DashboardFilter) -> list[ColumnElement[bool]]:
    """The filter on `case_metric` (a range on the (process_key, started_at) index, then the dimensions)."""
    conditions = [CaseMetric.process_key == process_key, CaseMetric.started_at >= criteria.started_from,
                  CaseMetric.started_at < criteria.started_before, CaseMetric.status != "cancelled"]
    conditions.extend(getattr(CaseMetric, name) == value for name, value in criteria.dimensions().items())
    return conditions


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def sorting_room(session: Session) -> Iterator[None]:
    """On PostgreSQL, room to hash and sort a year of cases in memory for this session's queries, and no JIT
    (compiling the plan costs more than it saves on queries that run well under a second)."""
    if not is_postgres(session):
        yield
        return
    session.execute(text(f"SET work_mem = '{WORK_MEM}'"))
    session.execute(text("SET jit = off"))
    try:
        yield
    finally:
        session.execute(text("RESET work_mem"))
        session.execute(text("RESET jit"))


def month_of(session: Session, column) -> ColumnElement[str]:
    """'YYYY-MM' of a UTC timestamp column (to compare with a month a person picked)."""
    if is_postgres(session):
        return func.to_char(column, "YYYY-MM")
    return func.substr(column, 1, 7)


def month_start(session: Session, column):
    """The month of a UTC timestamp column, cheap to group by; `month_key` turns it into 'YYYY-MM'."""
    if is_postgres(session):
        return func.date_trunc("month", column)
    return func.substr(column, 1, 7)


def month_key(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value:%Y-%m}"


def duration(session: Session, start, end):
    """end - start: an interval on PostgreSQL (cheap to sort), days as a float on SQLite; see `in_days`."""
    if is_postgres(session):
        return end - start
    return func.julianday(end) - func.julianday(start)


def in_days(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds() / 86400.0
    return float(value)


def interpolated(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile with linear interpolation between ranks, like SQL percentile_cont."""
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class Spread:
    """How many values, their median and 90th percentile (None when there are none)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


def spreads(session: Session, source: Select, group: str | None, values: Iterable[str]) -> dict[tuple, Spread]:
    """Median and p90 in days of each named `duration` column of the `source` select, overall (keyed by ((),
    name)) and, given a `group` column, per group value too (keyed by (value, name)). One query on PostgreSQL."""
    names = list(values)
    rows = source.subquery()
    found: dict[tuple, Spread] = {}
    if is_postgres(session):
        aggregates = []
        for name in names:
            aggregates += [func.count(rows.c[name]),
                           func.percentile_cont(literal_column("ARRAY[0.5, 0.9]")).within_group(rows.c[name])]
        if group:
            query = select(func.grouping(rows.c[group]), rows.c[group], *aggregates).group_by(
                func.grouping_sets(literal_column("()"), tuple_(rows.c[group])))
        else:
            query = select(literal(1), literal(None), *aggregates)
        for row in session.execute(query):
            key = () if row[0] == 1 else row[1]
            for index, name in enumerate(names):
                count, quantiles = row[2 + 2 * index], row[3 + 2 * index]
                if count:
                    found[(key, name)] = Spread(count, in_days(quantiles[0]), in_days(quantiles[1]))
        return found
    group_column = rows.c[group] if group else literal("")
    collected: dict[tuple, list[float]] = {}
    for row in session.execute(select(group_column, *[rows.c[name] for name in names])):
        for index, name in enumerate(names):
            if row[1 + index] is not None:
                value = in_days(row[1 + index])
                collected.setdefault(((), name), []).append(value)
                if group:
                    collected.setdefault((row[0], name), []).append(value)
    for key, numbers in collected.items():
        numbers.sort()
        found[key] = Spread(len(numbers), interpolated(numbers, 0.5), interpolated(numbers, 0.9))
    return found


def share(part: float, whole: float) -> float | None:
    """part / whole as a fraction, None when the whole is nothing."""
    return part / whole if whole else None
