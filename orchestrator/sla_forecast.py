"""Which open tasks will likely miss their due date, predicted from how long their step took before.

A READY human task with a due date is predicted to be done at ``created_at + p75`` of the time its element
took so far, merged over all versions of the process (`element_stat`). The 75th percentile, not the median:
a forecast that flags a task only when half of the past passes were quicker stays silent on every task that
is merely average-slow, and the point of the flag is to warn while the task can still be hurried; the p90 on
the other hand flags nearly every task of a step with a long tail. Without at least `MIN_PASSES` past passes
the histogram says too little: no prediction.

Two queries whatever the number of tasks: the open tasks with their process key, and one grouped histogram
of every (process key, element) among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from orchestrator.element_stats import merged, quantile
from orchestrator.metric_models import ElementStat
from orchestrator.models import HumanTask, HumanTaskState, ProcessDefinition, ProcessInstance

FORECAST_QUANTILE = 0.75
MIN_PASSES = 20


@dataclass(frozen=True)
class TaskForecast:
    task_id: str
    instance_id: str
    business_key: str | None
    process_key: str
    definition_id: int
    element_id: str
    name: str | None
    assignee: str | None
    candidate_groups: tuple[str, ...]
    created_at: datetime
    due_at: datetime
    predicted_at: datetime | None  # None: too little history
    overdue: bool  # the due date has passed
    at_risk: bool  # not yet overdue, but predicted to finish after the due date

    @property
    def flagged(self) -> bool:
        return self.overdue or self.at_risk


def predicted_finish(created_at: datetime, histogram: dict[int, int]) -> datetime | None:
    """When a task created at `created_at` will likely be done, or None without enough history."""
    if sum(histogram.values()) < MIN_PASSES:
        return None
    seconds = quantile(histogram, FORECAST_QUANTILE)
    return None if seconds is None else created_at + timedelta(seconds=seconds)


def open_task_forecasts(session: Session, now: datetime,
                        task_ids: Sequence[str] | None = None) -> list[TaskForecast]:
    """A forecast for every open task with a due date (or for those of `task_ids`), soonest due first."""
    query = (select(HumanTask.id, HumanTask.instance_id, ProcessInstance.business_key, ProcessDefinition.key,
                    ProcessInstance.definition_id,
                    HumanTask.element_id, HumanTask.name, HumanTask.assignee, HumanTask.candidate_groups,
                    HumanTask.created_at, HumanTask.due_at)
             .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .where(HumanTask.state == HumanTaskState.READY, HumanTask.due_at.is_not(None))
             .order_by(HumanTask.due_at, HumanTask.id))
    if task_ids is not None:
        query = query.where(HumanTask.id.in_(list(task_ids)))
    tasks = session.execute(query).all()
    if not tasks:
        return []
    pairs = sorted({(task.key, task.element_id) for task in tasks})
    rows: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for key, element_id, bucket, passes in session.execute(
            select(ProcessDefinition.key, ElementStat.element_id, ElementStat.bucket, func.sum(ElementStat.passes))
            .join(ProcessDefinition, ProcessDefinition.id == ElementStat.definition_id)
            .where(ElementStat.bucket >= 0, tuple_(ProcessDefinition.key, ElementStat.element_id).in_(pairs))
            .group_by(ProcessDefinition.key, ElementStat.element_id, ElementStat.bucket)):
        rows.setdefault((key, element_id), []).append((bucket, int(passes or 0)))
    forecasts = []
    for task in tasks:
        predicted = predicted_finish(task.created_at, merged(rows.get((task.key, task.element_id), [])))
        overdue = task.due_at < now
        forecasts.append(TaskForecast(
            task_id=task.id, instance_id=task.instance_id, business_key=task.business_key, process_key=task.key,
            definition_id=task.definition_id,
            element_id=task.element_id, name=task.name, assignee=task.assignee,
            candidate_groups=tuple(task.candidate_groups or ()), created_at=task.created_at, due_at=task.due_at,
            predicted_at=predicted, overdue=overdue,
            at_risk=not overdue and predicted is not None and predicted > task.due_at))
    return forecasts
