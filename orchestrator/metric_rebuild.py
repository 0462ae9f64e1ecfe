"""Rebuild the management figures of cases recorded before the commands kept them (or after a model's
metric.* properties changed): `loopline metrics rebuild`.

Metric rows come from each case's stored variables and status; milestones and the stage from its history.
The element histograms are recounted from the history: a human task's time runs from its task_created to
its element_completed event, a job's from job_created; other elements count as passed at once. Flows are
not in the history, so a rebuilt version's flows start counting from the rebuild on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from orchestrator.case_metrics import CLOSED_STAGE, row_for
from orchestrator.element_stats import Pass, stat_rows, upsert_statement
from orchestrator.engine import CommandGroup
from orchestrator.metric_models import CaseMetric, ElementStat
from orchestrator.models import HistoryEvent, ProcessInstance

_START_EVENTS = {"task_created", "job_created"}


@dataclass(frozen=True)
class RebuildReport:
    cases: int
    passes: int


class MetricRebuild(CommandGroup):
    def rebuild(self, batch: int = 200) -> RebuildReport:
        """Recompute every case's metric row and every element histogram, a batch of cases per transaction.
        Safe to run while commands run: a case's row is rewritten from what is stored when its batch runs."""
        with self.core.db.transaction() as session:
            session.execute(delete(ElementStat))
        cases = passes = 0
        after = ""
        while True:
            with self.core.db.transaction() as session:
                instances = session.scalars(select(ProcessInstance).where(ProcessInstance.id > after)
                                            .order_by(ProcessInstance.id).limit(batch)).all()
                if not instances:
                    return RebuildReport(cases, passes)
                after = instances[-1].id
                histories = _histories(session, [i.id for i in instances])
                for instance in instances:
                    definition = self.core.definitions.get(session, instance.definition_id)
                    history = histories.get(instance.id, [])
                    counted = _passes(history)
                    if counted:
                        connection = session.connection()
                        for moment, group in _by_moment(counted).items():
                            connection.execute(upsert_statement(connection.dialect.name),
                                               stat_rows(instance.definition_id, group, moment))
                        passes += len(counted)
                    row = row_for(definition, instance)
                    if row is None:
                        continue
                    _add_history_facts(row, definition.metrics, history)
                    session.execute(delete(CaseMetric).where(CaseMetric.instance_id == instance.id))
                    session.add(CaseMetric(**row))
                    cases += 1


def _histories(session, instance_ids: list[str]) -> dict[str, list[HistoryEvent]]:
    histories: dict[str, list[HistoryEvent]] = {}
    for event in session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id.in_(instance_ids))
                                 .order_by(HistoryEvent.seq)):
        histories.setdefault(event.instance_id, []).append(event)
    return histories


def _passes(history: Iterable[HistoryEvent]) -> list[tuple[datetime, Pass]]:
    """(when it ended, the pass) of every element the history shows completed."""
    started: dict[str, tuple[datetime, datetime | None]] = {}
    passes = []
    for event in history:
        if event.type in _START_EVENTS and event.task_id:
            due = (event.payload or {}).get("due_at")
            started[event.task_id] = (event.at, datetime.fromisoformat(due) if due else None)
        elif event.type == "element_completed" and event.element_id:
            since, due = started.pop(event.task_id, (None, None)) if event.task_id else (None, None)
            passes.append((event.at, Pass(event.element_id, None, since, due)))
    return passes


def _by_moment(passes: list[tuple[datetime, Pass]]) -> dict[datetime, list[Pass]]:
    """Passes grouped by the moment they ended (stat_rows measures up to one `now`)."""
    groups: dict[datetime, list[Pass]] = {}
    for moment, item in passes:
        groups.setdefault(moment, []).append(item)
    return groups


def _add_history_facts(row: dict, spec, history: list[HistoryEvent]) -> None:
    """Milestones (the last completion of one of their elements) and the stage of the last created task."""
    for event in history:
        if event.type == "element_completed":
            for column, elements in spec.milestones.items():
                if event.element_id in elements:
                    row[column] = event.at
        elif event.type == "task_created" and event.element_id in spec.stages and row.get("stage") != CLOSED_STAGE:
            row["stage"] = spec.stages[event.element_id]
