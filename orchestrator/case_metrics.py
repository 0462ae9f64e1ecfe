"""Keep each case's management facts (table `case_metric`) current from the commands that change them.

A process declares what feeds which column with camunda properties on the process element (Modeler:
process → Extensions → Properties):

- ``metric.<dimension or amount>`` = an expression over the case's variables, e.g. ``metric.sku = sku``,
  ``metric.cost_labour = (labourMinutes or 0) * 0.75``; a missing variable reads as None, and a value that
  cannot be computed is left empty (a figure never stops a case);
- ``metric.received_at`` / ``metric.resolved_at`` = element ids (comma-separated): the time one of them
  is first completed;
- a user task's property ``stage`` (e.g. ``D4``): the stage an open case is in while that task waits.

The row is written only when one of its values changed, so most commands add no statement.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update

from orchestrator.expressions.checker import parse_checked
from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.interpreter import thread_interpreter
from orchestrator.metric_models import AMOUNTS, DIMENSIONS, MILESTONES, CaseMetric
from orchestrator.models import InstanceStatus
from orchestrator.parser import extensions_of
from orchestrator.pending_rows import insert_later

if TYPE_CHECKING:
    from orchestrator.engine import CommandContext

PREFIX = "metric."
STAGE_PROPERTY = "stage"
CLOSED_STAGE = "closed"
_TABLE = CaseMetric.__table__
_ENDED = (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)


@dataclass(frozen=True)
class MetricSpec:
    """What a process feeds into its cases' metric rows (empty: the process keeps none)."""

    values: Mapping[str, ast.expr]  # column → checked expression over the variables
    milestones: Mapping[str, frozenset[str]]  # column → the elements whose completion stamps it
    stages: Mapping[str, str]  # user task element id → stage

    @property
    def kept(self) -> bool:
        return bool(self.values or self.milestones or self.stages)


def metric_problems(properties: Mapping[str, str]) -> list[str]:
    """Why the process's ``metric.*`` properties cannot be used, one line each (empty: they can)."""
    problems = []
    for name, text in properties.items():
        if not name.startswith(PREFIX):
            continue
        column = name[len(PREFIX):]
        if column in MILESTONES:
            if not _element_ids(text):
                problems.append(f"property '{name}' names no element")
        elif column in DIMENSIONS or column in AMOUNTS:
            try:
                parse_checked(text or "")
            except ExpressionError as exc:
                problems.append(f"property '{name}': {exc}")
        else:
            known = ", ".join((*DIMENSIONS, *AMOUNTS, *MILESTONES))
            problems.append(f"property '{name}': unknown metric '{column}' (known: {known})")
    return problems


def metric_spec(properties: Mapping[str, str], task_specs: Iterable[Any]) -> MetricSpec:
    """The spec of a process that passed `metric_problems`."""
    values, milestones = {}, {}
    for name, text in properties.items():
        if not name.startswith(PREFIX):
            continue
        column = name[len(PREFIX):]
        if column in MILESTONES:
            milestones[column] = frozenset(_element_ids(text))
        else:
            values[column] = parse_checked(text)
    stages = {}
    for spec in task_specs:
        stage = (extensions_of(spec).get("properties") or {}).get(STAGE_PROPERTY)
        if stage and getattr(spec, "bpmn_id", None):
            stages[spec.bpmn_id] = stage.strip()[:50]
    return MetricSpec(values, milestones, stages)


def _element_ids(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class _Variables(dict):
    """A case's variables where a missing one reads as None, so ``(partsCost or 0)`` works before it is set."""

    def __missing__(self, key: str) -> None:
        return None


def metric_values(spec: MetricSpec, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The columns computed from the variables (None where a value is missing or cannot be computed)."""
    names = _Variables(variables)
    interpreter = thread_interpreter()
    values: dict[str, Any] = {}
    for column, tree in spec.values.items():
        try:
            value = interpreter.run(tree, names)
        except ExpressionError:
            value = None
        values[column] = _number(value) if column in AMOUNTS else _text(value)
    return values


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:200]


def keep_metrics(ctx: CommandContext, old_variables: Mapping[str, Any] | None, old_status: str | None,
                 variables: Mapping[str, Any], created: Iterable[str], finished: Iterable[str]) -> None:
    """Write what changed in the case's metric row: values from `variables` (compared with those from
    `old_variables`), status and end, stage (from the user tasks `created` in this command) and the
    milestones among the elements `finished` in it. A new case (old_status None) gets its row inserted."""
    spec: MetricSpec = ctx.definition.metrics
    if not spec.kept:
        return
    row = ctx.instance
    changed = metric_values(spec, variables)
    if old_status is not None:
        before = metric_values(spec, old_variables or {})
        changed = {column: value for column, value in changed.items() if before.get(column) != value}
    if old_status != row.status:
        changed.update(status=row.status, ended_at=row.ended_at)
    stage = _stage(spec, row.status, created)
    if stage is not None:
        changed["stage"] = stage
    finished = set(finished)
    for column, elements in spec.milestones.items():
        if finished & elements:
            changed[column] = ctx.now  # stamped again by a later pass: the last time it happened
    if old_status is None:
        insert_later(ctx, _TABLE, [_new_row(ctx, changed)])
        return
    if not changed:
        return
    parameters = {f"new_{column}": value for column, value in changed.items()}
    updated = ctx.session.connection().execute(_update(tuple(sorted(changed))),
                                               {**parameters, "where_id": row.id}).rowcount
    if not updated:  # a case from before the table: its row is written whole
        insert_later(ctx, _TABLE, [_new_row(ctx, {**metric_values(spec, variables), **changed})])


def _stage(spec: MetricSpec, status: str, created: Iterable[str]) -> str | None:
    if status in _ENDED:
        return CLOSED_STAGE
    stages = [spec.stages[element] for element in created if element in spec.stages]
    return stages[-1] if stages else None


def _new_row(ctx: CommandContext, values: Mapping[str, Any]) -> dict[str, Any]:
    row = ctx.instance
    full = {column: None for column in (*DIMENSIONS, *AMOUNTS, *MILESTONES, "stage")}
    full.update(values)
    full.update(instance_id=row.id, process_key=ctx.definition.key, business_key=row.business_key,
                status=row.status, started_at=row.started_at or ctx.now, ended_at=row.ended_at)
    return full


@cache
def _update(columns: tuple[str, ...]):
    """One statement object per set of changed columns: its compiled form is reused."""
    return update(_TABLE).where(_TABLE.c.instance_id == bindparam("where_id")).values(
        {column: bindparam(f"new_{column}") for column in columns})


def row_for(definition, instance, started: datetime | None = None) -> dict[str, Any] | None:
    """The metric row of an existing case rebuilt from its stored variables (milestones and stage are left
    to `loopline metrics rebuild`, which reads them from the history); None if its process keeps none."""
    spec: MetricSpec = definition.metrics
    if not spec.kept:
        return None
    full = {column: None for column in (*MILESTONES, "stage")}
    full.update(metric_values(spec, instance.variables or {}))
    full.update(instance_id=instance.id, process_key=definition.key, business_key=instance.business_key,
                status=instance.status, started_at=started or instance.started_at, ended_at=instance.ended_at)
    if instance.status in _ENDED:
        full["stage"] = CLOSED_STAGE
    return full


def keep_status(ctx: CommandContext) -> None:
    """A command that left the workflow alone (suspend, resume) may still change the status the row shows."""
    if ctx.initial_status is not None and ctx.instance.status != ctx.initial_status:
        ctx.session.connection().execute(_update(("status",)), {"new_status": ctx.instance.status,
                                                                "where_id": ctx.instance.id})
