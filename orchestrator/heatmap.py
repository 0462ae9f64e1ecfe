"""Time spent per element and the share of cases taking each flow, read from the `element_stat` histograms.

The heatmap never opens a case: per element it sums the histogram rows of the process's versions (one grouped
query), and reads the median and p90 from the buckets (`element_stats.quantile`, within a bucket's width).
Readers need Permission.READ_REPORTS (managers, process owners, auditors) or Permission.READ_ALL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can
from orchestrator.element_stats import FLOW_BUCKET, merged, quantile
from orchestrator.engine import CommandGroup
from orchestrator.errors import Forbidden, NotFound
from orchestrator.metric_models import ElementStat
from orchestrator.models import ProcessDefinition, ProcessInstance
from orchestrator.queries import Page, check_page, deployed_diagram
from orchestrator.query_filters import MAX_PAGE
from orchestrator.sla_forecast import TaskForecast, open_task_forecasts
from orchestrator.views import DefinitionView

MAX_VERSION = 2**31 - 1  # versions are 32-bit integers: a larger number names no version


@dataclass(frozen=True)
class ElementTime:
    element_id: str
    name: str | None
    passes: int
    median_seconds: float | None
    p90_seconds: float | None
    overdue_share: float | None  # overdue passes ÷ passes


@dataclass(frozen=True)
class FlowShare:
    element_id: str  # "source>target"
    source: str
    target: str
    passes: int
    share: float | None  # passes ÷ cases started on the version (above 1 when a loop takes it again)


@dataclass(frozen=True)
class Heatmap:
    definition_id: int
    key: str
    version: int
    name: str | None
    instances: int  # cases started on the version
    elements: tuple[ElementTime, ...]
    flows: tuple[FlowShare, ...]


def _element_times(rows: Iterable, names: Mapping[str, str | None]) -> list[ElementTime]:
    """ElementTimes from (element_id, bucket, passes, overdue) rows, ordered by element id."""
    histograms: dict[str, list[tuple[int, int]]] = {}
    overdue: dict[str, int] = {}
    for element_id, bucket, passes, late in rows:
        histograms.setdefault(element_id, []).append((bucket, int(passes or 0)))
        overdue[element_id] = overdue.get(element_id, 0) + int(late or 0)
    times = []
    for element_id in sorted(histograms):
        histogram = merged(histograms[element_id])
        passes = sum(histogram.values())
        times.append(ElementTime(
            element_id=element_id, name=names.get(element_id), passes=passes,
            median_seconds=quantile(histogram, 0.5), p90_seconds=quantile(histogram, 0.9),
            overdue_share=overdue[element_id] / passes if passes else None))
    return times


def _element_rows(definition_filter):
    return (select(ElementStat.element_id, ElementStat.bucket, func.sum(ElementStat.passes),
                   func.sum(ElementStat.overdue))
            .where(ElementStat.bucket >= 0, definition_filter)
            .group_by(ElementStat.element_id, ElementStat.bucket))


def element_times(session: Session, process_key: str,
                  names: Mapping[str, str | None] | None = None) -> list[ElementTime]:
    """Per element of a process, merged over all its versions: passes, median, p90 and overdue share."""
    versions = select(ProcessDefinition.id).where(ProcessDefinition.key == process_key).scalar_subquery()
    rows = session.execute(_element_rows(ElementStat.definition_id.in_(versions)))
    return _element_times(rows, names or {})


def version_heatmap(session: Session, definition_id: int, names: Mapping[str, str | None] | None = None,
                    start_events: Iterable[str] = ()) -> Heatmap:
    """One version's elements and flows. The cases started on it are its process_instance rows, or the passes
    of its start events if more (pruned cases leave their passes behind)."""
    definition = session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(f"process definition {definition_id} is not deployed")
    elements = _element_times(session.execute(_element_rows(ElementStat.definition_id == definition_id)),
                              names or {})
    instances = session.scalar(select(func.count()).select_from(ProcessInstance)
                               .where(ProcessInstance.definition_id == definition_id)) or 0
    starts = set(start_events)
    instances = max(instances, sum(e.passes for e in elements if e.element_id in starts))
    flows = []
    for element_id, passes in session.execute(
            select(ElementStat.element_id, func.sum(ElementStat.passes))
            .where(ElementStat.definition_id == definition_id, ElementStat.bucket == FLOW_BUCKET)
            .group_by(ElementStat.element_id).order_by(ElementStat.element_id)):
        source, _, target = element_id.partition(">")
        passes = int(passes or 0)
        flows.append(FlowShare(element_id, source, target, passes, passes / instances if instances else None))
    return Heatmap(definition.id, definition.key, definition.version, definition.name, instances,
                   tuple(elements), tuple(flows))


def require_report_reader(actor: Actor) -> None:
    """Managers, process owners and auditors read the figures; others are refused."""
    if not (can(actor, Permission.READ_REPORTS) or can(actor, Permission.READ_ALL)):
        raise Forbidden(f"{actor.name} may not read dashboards and reports",
                        permission=Permission.READ_REPORTS.name)


def element_names(parsed) -> dict[str, str | None]:
    """Each element's name in a parsed process (and its subprocesses), by BPMN id."""
    names: dict[str, str | None] = {}
    for process in (parsed.spec, *parsed.subprocess_specs.values()):
        for spec in process.task_specs.values():
            if getattr(spec, "bpmn_id", None):
                names.setdefault(spec.bpmn_id, getattr(spec, "bpmn_name", None))
    return names


def start_event_ids(parsed) -> list[str]:
    """The ids of the process's own start events (not those of its subprocesses)."""
    return [spec.bpmn_id for spec in parsed.spec.task_specs.values()
            if getattr(spec, "bpmn_id", None) and any(c.__name__ == "StartEvent" for c in type(spec).__mro__)]


class Heatmaps(CommandGroup):
    def process_times(self, actor: Actor, key: str) -> list[ElementTime]:
        """A process's elements merged over its versions (names from the latest); NotFound for an unknown key."""
        require_report_reader(actor)
        with self.core.db.reading() as session:
            latest = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key)
                                    .order_by(ProcessDefinition.version.desc()).limit(1))
            if latest is None:
                raise NotFound(f"process definition '{key}' is not deployed")
            names = element_names(self.core.definitions.get(session, latest))
            return element_times(session, key, names)

    def version(self, actor: Actor, key: str, version: int) -> Heatmap:
        """One version's heatmap; NotFound for a process or version never deployed."""
        require_report_reader(actor)
        with self.core.db.reading() as session:
            definition_id = self._definition_id(session, key, version)
            parsed = self.core.definitions.get(session, definition_id)
            return version_heatmap(session, definition_id, element_names(parsed), start_event_ids(parsed))

    def diagram(self, actor: Actor, key: str, version: int) -> str:
        """The BPMN file holding the version's process, to draw the heatmap on."""
        require_report_reader(actor)
        with self.core.db.reading() as session:
            definition = session.get(ProcessDefinition, self._definition_id(session, key, version))
            return deployed_diagram(self.core, session, DefinitionView.of(definition))

    def at_risk(self, actor: Actor, now: datetime | None = None, limit: int = MAX_PAGE, offset: int = 0) -> Page:
        """One page of the open tasks that are overdue or predicted to finish late (see `sla_forecast`),
        soonest due first."""
        check_page(limit, offset)
        flagged = self.all_at_risk(actor, now)
        return Page(flagged[offset:offset + limit], len(flagged), limit, offset)

    def all_at_risk(self, actor: Actor, now: datetime | None = None) -> tuple[TaskForecast, ...]:
        """Every task `at_risk` pages through (one pass over the open tasks: for an export)."""
        require_report_reader(actor)
        with self.core.db.reading() as session:
            return tuple(f for f in open_task_forecasts(session, now or self.core.clock.now()) if f.flagged)

    def likely_late(self, task_ids: Iterable[str], now: datetime | None = None) -> dict[str, datetime]:
        """Of the given tasks (ones the caller already shows), those predicted to finish after their due date,
        with the predicted finish. No permission: it tells nothing about a task beyond its own row."""
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return {}
        with self.core.db.reading() as session:
            return {f.task_id: f.predicted_at for f in open_task_forecasts(session, now or self.core.clock.now(), ids)
                    if f.at_risk and f.predicted_at is not None}

    @staticmethod
    def _definition_id(session: Session, key: str, version: int) -> int:
        found = None
        if 1 <= version <= MAX_VERSION:
            found = session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key,
                                                                      ProcessDefinition.version == version))
        if found is None:
            raise NotFound(f"process definition '{key}' version {version} is not deployed")
        return found
