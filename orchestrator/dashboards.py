"""Management dashboards of returns, recalls and CAPA, and the cases behind each of their figures.

Every figure comes from grouped queries over `case_metric` (one narrow row per case, kept current by the
commands), `sales_volume`, `human_task` and, for recalls, the notification rows: no case's workflow state is
read. Only people with Permission.READ_REPORTS see them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.capa_dashboard import (
    OPEN_STATUSES,
    CapaDashboard,
    capa_figures,
    overdue_tasks,
    recurrence_counts,
)
from orchestrator.dashboard_queries import (
    NONE_VALUE,
    DashboardFilter,
    case_conditions,
    month_of,
    require_reports,
    sorting_room,
)
from orchestrator.engine import CommandGroup
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.heatmap import ElementTime, element_names, element_times
from orchestrator.metric_models import DIMENSIONS, CaseMetric
from orchestrator.models import HumanTask, ProcessDefinition
from orchestrator.recall_dashboard import RecallDashboard, recall_figures
from orchestrator.returns_dashboard import (
    RECYCLE,
    REUSE,
    TO_SUPPLIER,
    ReturnsDashboard,
    Turnaround,
    returns_figures,
    turnaround_figures,
)

PROCESS_KEYS = ("returns", "recall", "capa")
REUSE_GROUPS = {"reuse": REUSE, "recycle": RECYCLE, "to_supplier": TO_SUPPLIER}
# what a drill-down may select by, besides the case_metric dimensions
SPECIAL_DIMENSIONS = ("all", "month", "stage", "status", "reuse", "overdue", "recurred", "received", "resolved", "closed")
DRILL_DIMENSIONS = (*SPECIAL_DIMENSIONS, *DIMENSIONS)
PAGE_SIZE = 50


@dataclass(frozen=True)
class CaseRow:
    instance_id: str
    business_key: str | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    stage: str | None
    sku: str | None
    reason: str | None
    region: str | None
    channel: str | None
    outcome: str | None
    grade: str | None
    disposition: str | None
    fault_code: str | None
    supplier: str | None
    quantity: float | None


CASE_COLUMNS = tuple(name for name in CaseRow.__dataclass_fields__)


@dataclass(frozen=True)
class CasePage:
    criteria: DashboardFilter
    process_key: str
    dimension: str
    value: str
    rows: tuple[CaseRow, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max((self.total + self.page_size - 1) // self.page_size, 1)


def _equals(column, value: str) -> ColumnElement[bool]:
    return column.is_(None) if value == NONE_VALUE else column == value


def drill_condition(session: Session, criteria: DashboardFilter, now: datetime, process_key: str, dimension: str,
                    value: str) -> ColumnElement[bool] | None:
    """The condition on `case_metric` that picks the cases behind one bar, slice, point or row."""
    if dimension == "all":
        return None
    if dimension == "month":
        return month_of(session, CaseMetric.started_at) == value
    if dimension == "stage" and value != "closed":  # the open cases in a discipline
        return _equals(CaseMetric.stage, value) & CaseMetric.status.in_(OPEN_STATUSES)
    if dimension == "reuse":
        if value not in REUSE_GROUPS:
            raise InvalidInput("unknown reuse group", {"value": f"must be one of {', '.join(REUSE_GROUPS)}"})
        return CaseMetric.disposition.in_(REUSE_GROUPS[value])
    if dimension == "overdue":
        tasks = overdue_tasks(criteria, now).with_only_columns(HumanTask.instance_id)
        if value:
            tasks = tasks.where(HumanTask.element_id == value)
        return CaseMetric.instance_id.in_(tasks)
    if dimension == "recurred":
        counts = recurrence_counts(session, criteria)
        return CaseMetric.instance_id.in_(sorted(i for i, returns in counts.items() if returns))
    if dimension == "received":  # the cases the time to receipt is measured on
        return CaseMetric.received_at.is_not(None)
    if dimension == "resolved":  # the cases a turnaround is measured on
        return CaseMetric.resolved_at.is_not(None)
    if dimension == "closed":  # the cases a cycle time is measured on
        return CaseMetric.status == "completed"
    return _equals(getattr(CaseMetric, dimension), value)


# steps a token passes within one command (gateways, start and end events): no time is spent in them
INSTANT_KINDS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
                           "startEvent", "endEvent", "intermediateThrowEvent"})


class Dashboards(CommandGroup):
    @staticmethod
    def _latest(session: Session, process_key: str) -> int | None:
        """The newest version's definition id: its names (and their translations) name the steps."""
        return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == process_key)
                              .order_by(ProcessDefinition.version.desc()).limit(1))

    def _step_times(self, session: Session, process_key: str) -> tuple[ElementTime, ...]:
        """Time per step over all cases of every version (the heatmap's histograms), slowest median first;
        gateways and start and end events, which take no time, are left out."""
        latest = self._latest(session, process_key)
        if latest is None:
            return ()
        parsed = self.core.definitions.get(session, latest)
        times = element_times(session, process_key, element_names(parsed))
        return tuple(sorted((t for t in times if t.passes and t.median_seconds is not None
                             and parsed.element_kinds.get(t.element_id) not in INSTANT_KINDS),
                            key=lambda t: (-(t.median_seconds or 0), t.element_id)))

    def _resolved(self, criteria: DashboardFilter) -> DashboardFilter:
        return criteria.resolved(self.core.now().date())

    def returns(self, actor: Actor, criteria: DashboardFilter) -> ReturnsDashboard:
        """Return rates, turnaround, mixes, value recovered, cost per return, reuse and the fault Pareto."""
        require_reports(actor)
        criteria = self._resolved(criteria)
        if not self.core.db.is_postgres:
            with self.core.db.reading() as session:
                return replace(returns_figures(session, criteria), step_times=self._step_times(session, "returns"),
                               step_definition_id=self._latest(session, "returns"))
        # the breakdowns and the turnaround quantiles each take a scan and sorts of the period's returns: on
        # PostgreSQL they run side by side, on two connections
        with ThreadPoolExecutor(max_workers=1) as pool:
            turnaround = pool.submit(self._turnaround, criteria)
            with self.core.db.reading() as session, sorting_room(session):
                return replace(returns_figures(session, criteria, turnaround.result),
                               step_times=self._step_times(session, "returns"),
                               step_definition_id=self._latest(session, "returns"))

    def _turnaround(self, criteria: DashboardFilter) -> Turnaround:
        with self.core.db.reading() as session, sorting_room(session):
            return turnaround_figures(session, criteria)

    def recall(self, actor: Actor, criteria: DashboardFilter) -> RecallDashboard:
        """Each recall's reach and effectiveness per audience."""
        require_reports(actor)
        criteria = self._resolved(criteria)
        with self.core.db.reading() as session:
            return recall_figures(session, criteria, self.core.now())

    def capa(self, actor: Actor, criteria: DashboardFilter) -> CapaDashboard:
        """Open CAPAs by discipline, overdue tasks, cycle time, recurrence, by supplier and fault code."""
        require_reports(actor)
        criteria = self._resolved(criteria)
        with self.core.db.reading() as session, sorting_room(session):
            return replace(capa_figures(session, criteria, self.core.now()),
                           step_times=self._step_times(session, "capa"), step_definition_id=self._latest(session, "capa"))

    def cases(self, actor: Actor, criteria: DashboardFilter, process_key: str, dimension: str, value: str,
              page: int = 1) -> CasePage:
        """The cases behind one figure (newest first, PAGE_SIZE a page): those of the dashboard's filter whose
        `dimension` has `value` ("" for not recorded)."""
        require_reports(actor)
        if process_key not in PROCESS_KEYS:
            raise NotFound(f"there is no dashboard of '{process_key}'")
        if dimension not in DRILL_DIMENSIONS:
            raise InvalidInput("unknown dimension", {"dimension": f"must be one of {', '.join(DRILL_DIMENSIONS)}"})
        criteria = self._resolved(criteria)
        page = max(page, 1)
        with self.core.db.reading() as session:
            conditions = case_conditions(process_key, criteria)
            extra = drill_condition(session, criteria, self.core.now(), process_key, dimension, value)
            if extra is not None:
                conditions.append(extra)
            total = session.scalar(select(func.count()).select_from(CaseMetric).where(*conditions))
            found = session.execute(
                select(*[getattr(CaseMetric, name) for name in CASE_COLUMNS]).where(*conditions)
                .order_by(CaseMetric.started_at.desc(), CaseMetric.instance_id)
                .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        return CasePage(criteria, process_key, dimension, value, tuple(CaseRow(*row) for row in found), total,
                        page, PAGE_SIZE)
