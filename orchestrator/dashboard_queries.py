"""What every dashboard query shares: the filter (period and business dimensions), the conditions it puts on
`case_metric`, month and duration expressions for SQLite and PostgreSQL, and exact quantiles.

Quantiles are exact over the filtered set: PostgreSQL computes `percentile_cont` in the query; SQLite (a laptop's
few cases) hands the values back and they are interpolated the same way here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, extract, func, literal, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can
from orchestrator.errors import Forbidden, InvalidInput
from orchestrator.metric_models import CaseMetric

DEFAULT_MONTHS = 12
FILTER_DIMENSIONS = ("sku", "reason", "region", "channel", "supplier", "fault_code")
MAX_PERIOD_DAYS = 20 * 366
NONE_VALUE = ""  # a drill-down's value for "not recorded"


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


def month_of(session: Session, column) -> ColumnElement[str]:
    """'YYYY-MM' of a UTC timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.substr(column, 1, 7)


def days_between(session: Session, start, end) -> ColumnElement[float]:
    """(end - start) in days, as a float; NULL when either is NULL."""
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


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
    """Median and p90 of each named value column of the `source` select, per `group` column (None: overall,
    keyed by ()). Keys are (group value, value name)."""
    names = list(values)
    rows = source.subquery()
    group_column = rows.c[group] if group else literal("")
    found: dict[tuple, Spread] = {}
    if session.get_bind().dialect.name == "postgresql":
        columns = [group_column.label("g")]
        for name in names:
            value = rows.c[name]
            columns += [func.count(value), func.percentile_cont(0.5).within_group(value),
                        func.percentile_cont(0.9).within_group(value)]
        query = select(*columns)
        if group:
            query = query.group_by(group_column)
        for row in session.execute(query):
            for index, name in enumerate(names):
                count, median, p90 = row[1 + 3 * index: 4 + 3 * index]
                if count:
                    found[(row[0] if group else (), name)] = Spread(count, float(median), float(p90))
        return found
    collected: dict[tuple, list[float]] = {}
    for row in session.execute(select(group_column, *[rows.c[name] for name in names])):
        for index, name in enumerate(names):
            if row[1 + index] is not None:
                collected.setdefault((row[0] if group else (), name), []).append(float(row[1 + index]))
    for key, numbers in collected.items():
        numbers.sort()
        found[key] = Spread(len(numbers), interpolated(numbers, 0.5), interpolated(numbers, 0.9))
    return found


def share(part: float, whole: float) -> float | None:
    """part / whole as a fraction, None when the whole is nothing."""
    return part / whole if whole else None
