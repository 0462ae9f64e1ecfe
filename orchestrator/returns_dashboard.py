"""The returns dashboard's figures: return rate by SKU, reason, month and region against the units sold,
turnaround, grade / disposition / outcome mixes, value recovered, cost per return, reuse and recycle, and
the fault-code Pareto, all from `case_metric` and `sales_volume` in three grouped queries.

Counted: returns started in the period that were not cancelled. Returned units are a case's quantity (1 when
not recorded). Units sold per SKU and month are the all-regions row ("") where there is one, else the sum of
the regional rows; per region, that region's rows. Sales carry no channel: with a channel filter the rate is
unknown (None)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, literal, literal_column, select, tuple_, union_all
from sqlalchemy.orm import Session

from orchestrator.dashboard_queries import (
    DashboardFilter,
    Spread,
    case_conditions,
    duration,
    is_postgres,
    month_key,
    month_start,
    share,
    spreads,
)
from orchestrator.metric_models import CaseMetric, SalesVolume

RETURNS_KEY = "returns"
REUSE = ("restock", "refurbish")
RECYCLE = ("scrap",)
TO_SUPPLIER = ("return_to_supplier",)
BREAKDOWNS = ("sku", "reason", "region", "month", "grade", "disposition", "outcome", "fault_code")
TURNAROUND_STEPS = ("to_received", "to_resolved", "total")  # request→received, received→resolved, request→resolved


@dataclass(frozen=True)
class RateRow:
    key: str | None  # the SKU, reason, region or month ('YYYY-MM'); None: not recorded
    cases: int
    units: float  # returned units
    sold: float | None  # units sold; None: not known
    rate: float | None  # units / sold


@dataclass(frozen=True)
class MixRow:
    key: str | None
    cases: int
    share: float | None  # of the cases with a value


@dataclass(frozen=True)
class ParetoRow:
    fault_code: str
    cases: int
    share: float
    cumulative_share: float


@dataclass(frozen=True)
class StepSpread:
    step: str  # TURNAROUND_STEPS, or a month 'YYYY-MM' (request → resolved)
    count: int
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class CostPerReturn:
    costed_cases: int  # returns with at least one cost recorded: the averages are over these
    logistics: float | None
    parts: float | None
    labour: float | None
    total: float | None  # per return, the three together
    total_cost: float  # the sum over all returns


@dataclass(frozen=True)
class ReuseRates:
    cases: int  # with a disposition
    reuse: int
    recycle: int
    to_supplier: int
    reuse_rate: float | None
    recycle_rate: float | None
    to_supplier_rate: float | None


@dataclass(frozen=True)
class ReturnsDashboard:
    criteria: DashboardFilter
    total: RateRow
    value_recovered: float
    cost: CostPerReturn
    by_sku: tuple[RateRow, ...]
    by_reason: tuple[RateRow, ...]
    by_region: tuple[RateRow, ...]
    by_month: tuple[RateRow, ...]
    turnaround: tuple[StepSpread, ...]
    turnaround_by_month: tuple[StepSpread, ...]
    grades: tuple[MixRow, ...]
    dispositions: tuple[MixRow, ...]
    outcomes: tuple[MixRow, ...]
    reuse: ReuseRates
    pareto: tuple[ParetoRow, ...]
    step_times: tuple = ()  # heatmap.ElementTime of each step, when the heatmap module is there
    step_definition_id: int | None = None  # the version whose step names name them


Turnaround = tuple[tuple[StepSpread, ...], tuple[StepSpread, ...]]  # per step, and request → resolved per month


def months_of(start: date, end: date) -> list[str]:
    """Every 'YYYY-MM' from start's month to end's month."""
    found, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


class UnitsSold:
    """The denominators of the return rate, from the sales rows of the period (few: SKUs × months × regions)."""

    def __init__(self, session: Session, criteria: DashboardFilter):
        self.known = criteria.channel is None
        query = select(SalesVolume.sku, SalesVolume.month, SalesVolume.region, SalesVolume.units).where(
            SalesVolume.month >= criteria.start.replace(day=1), SalesVolume.month <= criteria.end)
        if criteria.sku:
            query = query.where(SalesVolume.sku == criteria.sku)
        self.all_regions: dict[tuple[str, str], float] = {}
        self.regional: dict[tuple[str, str], float] = defaultdict(float)
        self.region_pairs: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
        self.region = criteria.region
        for sku, month, region, units in session.execute(query):
            key = (sku, f"{month:%Y-%m}")
            if region == "":
                self.all_regions[key] = float(units)
            else:
                self.regional[key] += float(units)
                self.region_pairs[region][key] += float(units)
        # with a region filter only that region's sales count
        self.pairs = dict(self.region_pairs.get(self.region, {})) if self.region else {**self.regional,
                                                                                       **self.all_regions}

    def sold(self, sku: str | None = None, month: str | None = None) -> float | None:
        if not self.known:
            return None
        units = [u for (s, m), u in self.pairs.items() if (sku is None or s == sku) and (month is None or m == month)]
        return sum(units) if units else None

    def sold_in_region(self, region: str | None) -> float | None:
        if not self.known or region is None or region not in self.region_pairs:
            return None
        return sum(self.region_pairs[region].values())


def _breakdown_query(session: Session, criteria: DashboardFilter):
    """One statement: per breakdown dimension and value (and overall), cases, returned units, recovered value
    and the costs. PostgreSQL groups by GROUPING SETS in one scan; SQLite unions one GROUP BY per dimension."""
    month = month_start(session, CaseMetric.started_at)
    columns = {name: month if name == "month" else getattr(CaseMetric, name) for name in BREAKDOWNS}
    costed = case((CaseMetric.cost_logistics.is_not(None) | CaseMetric.cost_parts.is_not(None)
                   | CaseMetric.cost_labour.is_not(None), 1))
    measures = (func.count().label("cases"), func.coalesce(func.sum(func.coalesce(CaseMetric.quantity, 1.0)), 0.0),
                func.coalesce(func.sum(CaseMetric.recovered_value), 0.0), func.count(costed),
                func.coalesce(func.sum(CaseMetric.cost_logistics), 0.0),
                func.coalesce(func.sum(CaseMetric.cost_parts), 0.0),
                func.coalesce(func.sum(CaseMetric.cost_labour), 0.0))
    conditions = case_conditions(RETURNS_KEY, criteria)
    if is_postgres(session):
        # GROUPING(a, b, …) sets one bit per column left out of the row's grouping set (the first column highest)
        grouping = func.grouping(*columns.values())
        query = select(grouping, *columns.values(), *measures).where(*conditions).group_by(
            func.grouping_sets(literal_column("()"), *[tuple_(column) for column in columns.values()]))
        width = len(BREAKDOWNS)
        for bits, *row in session.execute(query):
            measured = row[width:]
            if bits == 2 ** width - 1:
                yield "total", None, measured
                continue
            index = next(i for i in range(width) if not bits & (1 << (width - 1 - i)))
            yield BREAKDOWNS[index], row[index], measured
        return
    filtered = select(*[column.label(name) for name, column in columns.items()], CaseMetric.quantity,
                      CaseMetric.recovered_value, CaseMetric.cost_logistics, CaseMetric.cost_parts,
                      CaseMetric.cost_labour).where(*conditions).cte("filtered")
    costed = case((filtered.c.cost_logistics.is_not(None) | filtered.c.cost_parts.is_not(None)
                   | filtered.c.cost_labour.is_not(None), 1))
    measures = (func.count().label("cases"), func.coalesce(func.sum(func.coalesce(filtered.c.quantity, 1.0)), 0.0),
                func.coalesce(func.sum(filtered.c.recovered_value), 0.0), func.count(costed),
                func.coalesce(func.sum(filtered.c.cost_logistics), 0.0),
                func.coalesce(func.sum(filtered.c.cost_parts), 0.0),
                func.coalesce(func.sum(filtered.c.cost_labour), 0.0))
    parts = [select(literal("total").label("dimension"), literal(None).label("key"), *measures).select_from(filtered)]
    parts += [select(literal(name), filtered.c[name], *measures).group_by(filtered.c[name]) for name in BREAKDOWNS]
    for dimension, key, *measured in session.execute(union_all(*parts)):
        yield dimension, key, measured


def _mix(counts: dict[str | None, int]) -> tuple[MixRow, ...]:
    whole = sum(count for key, count in counts.items() if key is not None)
    return tuple(MixRow(key, count, share(count, whole) if key is not None else None)
                 for key, count in sorted(counts.items(), key=lambda item: (item[0] is None, -item[1], item[0] or "")))


def _pareto(counts: dict[str | None, int]) -> tuple[ParetoRow, ...]:
    ranked = sorted(((key, count) for key, count in counts.items() if key), key=lambda item: (-item[1], item[0]))
    whole, running, rows = sum(count for _key, count in ranked), 0, []
    for key, count in ranked:
        running += count
        rows.append(ParetoRow(key, count, count / whole, running / whole))
    return tuple(rows)


def _reuse(counts: dict[str | None, int]) -> ReuseRates:
    cases = sum(count for key, count in counts.items() if key is not None)
    reuse = sum(counts.get(key, 0) for key in REUSE)
    recycle = sum(counts.get(key, 0) for key in RECYCLE)
    to_supplier = sum(counts.get(key, 0) for key in TO_SUPPLIER)
    return ReuseRates(cases, reuse, recycle, to_supplier, share(reuse, cases), share(recycle, cases),
                      share(to_supplier, cases))


def _turnaround(session: Session, criteria: DashboardFilter) -> Turnaround:
    source = select(month_start(session, CaseMetric.started_at).label("month"),
                    duration(session, CaseMetric.started_at, CaseMetric.received_at).label("to_received"),
                    duration(session, CaseMetric.received_at, CaseMetric.resolved_at).label("to_resolved"),
                    duration(session, CaseMetric.started_at, CaseMetric.resolved_at).label("total")).where(
        *case_conditions(RETURNS_KEY, criteria))
    found = spreads(session, source, "month", TURNAROUND_STEPS)
    steps = tuple(StepSpread(step, spread.count, spread.median, spread.p90) for step in TURNAROUND_STEPS
                  for spread in [found.get(((), step), Spread())])
    by_month = tuple(StepSpread(month_key(month), spread.count, spread.median, spread.p90)
                     for (month, name), spread in sorted(found.items(), key=lambda item: str(item[0][0]))
                     if month != () and name == "total")
    return steps, by_month


def turnaround_figures(session: Session, criteria: DashboardFilter) -> Turnaround:
    """The turnaround part of the dashboard: median and p90 of each step, and of the whole per month."""
    return _turnaround(session, criteria)


def returns_figures(session: Session, criteria: DashboardFilter,
                    turnaround: Callable[[], Turnaround] | None = None) -> ReturnsDashboard:
    """Every figure of the returns dashboard for cases matching `criteria` (its period resolved). `turnaround`,
    if given, hands back the turnaround figures computed elsewhere (on another connection, at the same time)."""
    grouped: dict[str, dict] = defaultdict(dict)
    for dimension, key, measures in _breakdown_query(session, criteria):
        grouped[dimension][month_key(key) if dimension == "month" else key] = list(measures)
    total = grouped["total"].get(None) or [0, 0.0, 0.0, 0, 0.0, 0.0, 0.0]
    sold = UnitsSold(session, criteria)

    def rates(dimension: str, denominator) -> tuple[RateRow, ...]:
        rows = []
        for key, (cases, units, *_rest) in grouped[dimension].items():
            units_sold = denominator(key)
            rows.append(RateRow(key, cases, float(units), units_sold,
                                float(units) / units_sold if units_sold else None))
        return tuple(sorted(rows, key=lambda row: (row.key is None, -row.units, row.key or "")))

    def counts(dimension: str) -> dict[str | None, int]:
        return {key: measures[0] for key, measures in grouped[dimension].items()}

    all_sold = sold.sold()
    by_month = {row.key: row for row in rates("month", lambda month: sold.sold(month=month))}
    cases, units, recovered, costed, logistics, parts, labour = total
    turnaround, turnaround_by_month = turnaround() if turnaround else _turnaround(session, criteria)
    return ReturnsDashboard(
        criteria=criteria,
        total=RateRow(None, cases, float(units), all_sold, float(units) / all_sold if all_sold else None),
        value_recovered=float(recovered),
        cost=CostPerReturn(costed, share(logistics, costed), share(parts, costed), share(labour, costed),
                           share(logistics + parts + labour, costed), float(logistics + parts + labour)),
        by_sku=rates("sku", lambda sku: sold.sold(sku=sku) if sku else None),
        by_reason=rates("reason", lambda _reason: all_sold),
        by_region=rates("region", sold.sold_in_region),
        by_month=tuple(by_month.get(month) or RateRow(month, 0, 0.0, sold.sold(month=month), 0.0 if sold.sold(
            month=month) else None) for month in months_of(criteria.start, criteria.end)),
        turnaround=turnaround, turnaround_by_month=turnaround_by_month,
        grades=_mix(counts("grade")), dispositions=_mix(counts("disposition")), outcomes=_mix(counts("outcome")),
        reuse=_reuse(counts("disposition")), pareto=_pareto(counts("fault_code")))
