"""The CAPA dashboard's figures: open CAPAs by 8D discipline, overdue tasks, cycle time, recurrence, and CAPAs by
supplier and fault code, from `case_metric`, `human_task` and the effectiveness checks' history events.

Recurrence is what the CAPA process records: each "Verify effectiveness" task completed (D8) with its answer
(`effective`), and the returns with the CAPA's fault code that started after the day the CAPA closed."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import accumulate

from sqlalchemy import case, func, literal, select, union_all
from sqlalchemy.orm import Session

from orchestrator.dashboard_queries import (
    DashboardFilter,
    Spread,
    case_conditions,
    duration,
    is_postgres,
    share,
    spreads,
)
from orchestrator.metric_models import CaseMetric
from orchestrator.models import HistoryEvent, HumanTask, HumanTaskState

CAPA_KEY = "capa"
RETURNS_KEY = "returns"
OPEN_STATUSES = ("running", "suspended")
DISCIPLINES = tuple(f"D{number}" for number in range(0, 9))
EFFECTIVENESS_TASK = "verify_effectiveness"


@dataclass(frozen=True)
class StageRow:
    stage: str | None  # "D1".."D8"; None: not yet in a D-step
    cases: int


@dataclass(frozen=True)
class OverdueRow:
    element_id: str
    name: str | None
    tasks: int
    cases: int


@dataclass(frozen=True)
class GroupRow:
    key: str | None  # the supplier or fault code; None: not recorded
    cases: int
    open: int
    closed: int


@dataclass(frozen=True)
class Recurrence:
    checks: int  # effectiveness checks completed
    not_effective: int  # of them, found not effective
    not_effective_share: float | None
    closed: int  # closed CAPAs with a fault code
    recurred: int  # of them, with a return of the same fault code started after the CAPA closed
    recurred_share: float | None
    returns_after: int  # those returns


@dataclass(frozen=True)
class CapaDashboard:
    criteria: DashboardFilter
    cases: int
    open: int
    closed: int
    by_stage: tuple[StageRow, ...]
    overdue: tuple[OverdueRow, ...]
    overdue_tasks: int
    overdue_cases: int
    cycle: Spread  # days from start to end of the closed CAPAs
    recurrence: Recurrence
    by_supplier: tuple[GroupRow, ...]
    by_fault_code: tuple[GroupRow, ...]
    step_times: tuple = ()  # heatmap.ElementTime of each D-step, when the heatmap module is there
    step_definition_id: int | None = None  # the version whose step names name them


def _stage_order(stage: str | None) -> tuple:
    return (stage is None, DISCIPLINES.index(stage) if stage in DISCIPLINES else len(DISCIPLINES), stage or "")


def _grouped(session: Session, criteria: DashboardFilter) -> dict[str, dict]:
    filtered = select(CaseMetric).where(*case_conditions(CAPA_KEY, criteria)).cte("filtered")
    is_open = case((filtered.c.status.in_(OPEN_STATUSES), 1))
    is_closed = case((filtered.c.status == "completed", 1))
    measures = (func.count(), func.count(is_open), func.count(is_closed))
    parts = [select(literal("total").label("dimension"), literal(None).label("key"), *measures).select_from(filtered),
             select(literal("stage"), filtered.c.stage, *measures).where(filtered.c.status.in_(OPEN_STATUSES))
             .group_by(filtered.c.stage)]
    parts += [select(literal(name), filtered.c[name], *measures).group_by(filtered.c[name])
              for name in ("supplier", "fault_code")]
    grouped: dict[str, dict] = defaultdict(dict)
    for dimension, key, *measures in session.execute(union_all(*parts)):
        grouped[dimension][key] = measures
    return grouped


def overdue_tasks(criteria: DashboardFilter, now: datetime):
    """The open human tasks of matching CAPAs past their due date."""
    return (select(HumanTask.element_id, HumanTask.name, HumanTask.instance_id)
            .join(CaseMetric, CaseMetric.instance_id == HumanTask.instance_id)
            .where(*case_conditions(CAPA_KEY, criteria), HumanTask.state == HumanTaskState.READY,
                   HumanTask.due_at < now))


def recurrence_counts(session: Session, criteria: DashboardFilter) -> dict[str, int]:
    """Per closed CAPA with a fault code: the returns with that fault code started on a later day than the CAPA
    closed (UTC). Returns are counted per fault code and day in one grouped query, then summed per CAPA."""
    closed = session.execute(select(CaseMetric.instance_id, CaseMetric.fault_code, CaseMetric.ended_at).where(
        *case_conditions(CAPA_KEY, criteria), CaseMetric.status == "completed", CaseMetric.fault_code.is_not(None),
        CaseMetric.ended_at.is_not(None))).all()
    if not closed:
        return {}
    first_day = datetime.combine(min(ended for _id, _fault, ended in closed).date() + timedelta(days=1), time.min, UTC)
    day = func.date_trunc("day", CaseMetric.started_at) if is_postgres(session) else func.substr(
        CaseMetric.started_at, 1, 10)
    per_day: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for fault_code, started_day, count in session.execute(
            select(CaseMetric.fault_code, day, func.count())
            .where(CaseMetric.process_key == RETURNS_KEY, CaseMetric.started_at >= first_day,
                   CaseMetric.status != "cancelled",
                   CaseMetric.fault_code.in_(sorted({fault for _id, fault, _ended in closed})))
            .group_by(CaseMetric.fault_code, day)):
        per_day[fault_code].append((str(started_day)[:10], count))
    later: dict[str, tuple[list[str], list[int]]] = {}
    for fault_code, days in per_day.items():
        days.sort()
        after = list(accumulate(count for _day, count in reversed(days)))[::-1]  # returns on or after each day
        later[fault_code] = ([d for d, _count in days], after)
    counts = {}
    for instance_id, fault_code, ended in closed:
        days, after = later.get(fault_code, ([], []))
        index = bisect_right(days, ended.date().isoformat())
        counts[instance_id] = after[index] if index < len(after) else 0
    return counts


def _effectiveness(session: Session, criteria: DashboardFilter) -> tuple[int, int]:
    """Effectiveness checks completed on matching CAPAs, and how many found the action not effective. The
    inbox rows find the CAPAs that had a check, so only their histories are read."""
    checks = not_effective = 0
    checked = (select(HumanTask.instance_id).join(CaseMetric, CaseMetric.instance_id == HumanTask.instance_id)
               .where(*case_conditions(CAPA_KEY, criteria), HumanTask.element_id == EFFECTIVENESS_TASK,
                      HumanTask.state == HumanTaskState.COMPLETED).distinct())
    for (payload,) in session.execute(select(HistoryEvent.payload).where(
            HistoryEvent.instance_id.in_(checked), HistoryEvent.type == "task_completed",
            HistoryEvent.element_id == EFFECTIVENESS_TASK)):
        checks += 1
        values = (payload or {}).get("values") or {}
        not_effective += values.get("effective") is False
    return checks, not_effective


def capa_figures(session: Session, criteria: DashboardFilter, now: datetime) -> CapaDashboard:
    """Every figure of the CAPA dashboard for CAPAs matching `criteria` (its period resolved)."""
    grouped = _grouped(session, criteria)
    cases, opened, closed = grouped["total"].get(None) or (0, 0, 0)
    overdue: dict[tuple[str, str | None], tuple[int, set]] = {}
    all_overdue_cases: set[str] = set()
    for element_id, name, instance_id in session.execute(overdue_tasks(criteria, now)):
        tasks, instances = overdue.get((element_id, name), (0, set()))
        overdue[(element_id, name)] = (tasks + 1, instances | {instance_id})
        all_overdue_cases.add(instance_id)
    cycle_source = select(duration(session, CaseMetric.started_at, CaseMetric.ended_at).label("days")).where(
        *case_conditions(CAPA_KEY, criteria), CaseMetric.status == "completed")
    cycle = spreads(session, cycle_source, None, ("days",)).get(((), "days"), Spread())
    checks, not_effective = _effectiveness(session, criteria)
    later = list(recurrence_counts(session, criteria).values())
    recurred = sum(1 for returns in later if returns)

    def groups(dimension: str) -> tuple[GroupRow, ...]:
        rows = [GroupRow(key, *measures) for key, measures in grouped[dimension].items()]
        return tuple(sorted(rows, key=lambda row: (row.key is None, -row.cases, row.key or "")))

    return CapaDashboard(
        criteria=criteria, cases=cases, open=opened, closed=closed,
        by_stage=tuple(sorted((StageRow(stage, measures[0]) for stage, measures in grouped["stage"].items()),
                              key=lambda row: _stage_order(row.stage))),
        overdue=tuple(sorted((OverdueRow(element_id, name, tasks, len(instances))
                              for (element_id, name), (tasks, instances) in overdue.items()),
                             key=lambda row: (-row.tasks, row.element_id))),
        overdue_tasks=sum(tasks for tasks, _instances in overdue.values()), overdue_cases=len(all_overdue_cases),
        cycle=cycle,
        recurrence=Recurrence(checks, not_effective, share(not_effective, checks), len(later), recurred,
                              share(recurred, len(later)), sum(later)),
        by_supplier=groups("supplier"), by_fault_code=groups("fault_code"))
