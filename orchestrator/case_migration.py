"""Migration: move a running case from one deployed version of its process to another.

Elements are matched by id (identity by default); an explicit {old id: new id} mapping overrides. A case can
move when every element it holds a token in — an open user task, a timer, a message catch, a pending job, a
subprocess — maps to an element of the same kind in the target, every finished element still kept in its
state maps to one too, and the target needs no variable the case lacks. That last check is an approximation:
a variable is "needed" when it is named in a condition, expression or timer of an element reachable from the
waiting ones in the target, is not named anywhere in the source version, is no form field, DMN output or
script assignment of the target, and is not a variable of the case. Variables the source version already used
are taken to come from where they came from before.

Moving is one command through the engine's write path: the task tree is kept (task ids, data, timers already
running, dispatched jobs), each task gets its element of the target, the live tasks' predicted future is
worked out again on the target, and the case's rows (inbox, jobs, timers, subscriptions) are synced as after
any command; the history gets an `instance_migrated` event with both versions and the mapping used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.call_activities import CALLED_SPEC_ATTRIBUTE
from orchestrator.clock import using_clock
from orchestrator.definitions import ParsedProcess
from orchestrator.effects import all_tasks
from orchestrator.engine import CommandContext, CommandGroup, current_variables
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.instances import latest_definition
from orchestrator.migration_variables import needed_variables, specs_of
from orchestrator.models import (
    HumanTask,
    HumanTaskState,
    InstanceStatus,
    Job,
    JobStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
)

INSTANCE_MIGRATED = "instance_migrated"
MIGRATABLE = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_OPEN_JOBS = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.INCIDENT)
_FUTURE = TaskState.PREDICTED_MASK | TaskState.FUTURE


@dataclass(frozen=True)
class ElementChoice:
    """One element of the source version and where it goes by default (None: not in the target)."""

    element_id: str
    name: str | None
    kind: str
    default_target: str | None
    candidates: list[tuple[str, str | None]]  # elements of the same kind in the target: (id, name)


@dataclass
class CaseVerdict:
    """Whether one case can move, and if not, every reason why."""

    instance_id: str
    business_key: str | None
    waiting_in: list[str]
    reasons: list[str] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


@dataclass
class DryRun:
    key: str
    from_version: int
    to_version: int
    mapping: dict[str, str]
    cases: list[CaseVerdict]

    @property
    def movable(self) -> list[CaseVerdict]:
        return [case for case in self.cases if case.movable]

    @property
    def unmovable(self) -> list[CaseVerdict]:
        return [case for case in self.cases if not case.movable]


def _element_id(spec) -> str | None:
    return getattr(spec, "bpmn_id", None)


def _mapped_name(name: str, mapping: dict[str, str]) -> str:
    """A task spec's name in the target: mapped ids, and Spiff's structural specs named after one
    (`inspect_return.BoundaryEventSplit`) follow their element."""
    if name in mapping:
        return mapping[name]
    head, dot, tail = name.partition(".")
    if dot and head in mapping:
        return f"{mapping[head]}.{tail}"
    return name


def _kind(parsed: ParsedProcess, element_id: str) -> str:
    return parsed.element_kinds.get(element_id, "")


def _target_spec(graph_spec_name: str, task_spec, new: ParsedProcess, top_name: str, mapping: dict[str, str]):
    """The target's spec for a task of the graph `graph_spec_name` (the process or one of its subprocesses)."""
    target_graph = new.spec if graph_spec_name == top_name else new.subprocess_specs.get(
        _mapped_name(graph_spec_name, mapping))
    if target_graph is None:
        return None
    return target_graph.task_specs.get(_mapped_name(task_spec.name, mapping))


def _graphs(workflow: BpmnWorkflow) -> list:
    return [workflow, *workflow.subprocesses.values()]


def check_case(workflow: BpmnWorkflow, old: ParsedProcess, new: ParsedProcess, mapping: dict[str, str],
               variables: dict) -> tuple[list[str], list[str]]:
    """(elements the case waits in, reasons it cannot move to `new`); no reasons: it can."""
    reasons: list[str] = []
    waiting: list[str] = []
    top = workflow.spec.name
    for graph in _own_graphs(workflow):
        for task in graph.tasks.values():
            if task.state & _FUTURE:
                continue  # worked out again on the target
            element = _element_id(task.task_spec)
            target = _target_spec(graph.spec.name, task.task_spec, new, top, mapping)
            live = bool(task.state & _LIVE)
            if live and element:
                waiting.append(element)
            if target is None:
                where = f"'{element}'" if element else f"'{task.task_spec.name}'"
                mapped = _mapped_name(element or task.task_spec.name, mapping)
                if live:
                    reasons.append(f"waits in {where}, which the target version has no element '{mapped}' for")
                else:
                    reasons.append(f"finished step {where} is kept in the case's state and the target has no "
                                   f"'{mapped}': map it to an element of the target")
            elif live and type(target) is not type(task.task_spec) and element:
                reasons.append(f"waits in '{element}' ({_kind(old, element) or type(task.task_spec).__name__}), "
                               f"but '{_element_id(target)}' in the target is a "
                               f"{_kind(new, _element_id(target)) or type(target).__name__}")
    waiting = list(dict.fromkeys(waiting))
    if not reasons:
        missing = needed_variables(new, old, [_mapped_name(e, mapping) for e in waiting]) - set(variables)
        reasons.extend(f"the target version needs variable '{name}', which the case does not have"
                       for name in sorted(missing))
    return waiting, reasons


def _own_graphs(workflow: BpmnWorkflow) -> list:
    """The workflow and its embedded subprocesses; a deployed process a call runs keeps its own version."""
    return [graph for graph in _graphs(workflow) if getattr(graph, CALLED_SPEC_ATTRIBUTE, None) is None]


def _drop(graph, task) -> None:
    if task.id in graph.tasks:
        graph._remove_task(task.id)


def _rebind(workflow: BpmnWorkflow, old: ParsedProcess, new: ParsedProcess, mapping: dict[str, str]) -> None:
    """Give every task its element of the target and work the live tasks' future out again on it; the tasks
    keep their ids, data and internal state (a running timer keeps its due time, a job its mark)."""
    top = workflow.spec.name
    graphs = _own_graphs(workflow)
    pinned = {name: spec for name, spec in workflow.subprocess_specs.items() if name not in old.subprocess_specs}
    workflow.spec = new.spec
    workflow.subprocess_specs = {**pinned, **new.subprocess_specs}
    for graph in graphs:
        old_graph_name = top if graph is workflow else graph.spec.name
        if graph is not workflow:
            graph.spec = new.subprocess_specs[_mapped_name(old_graph_name, mapping)]
        for task in list(graph.tasks.values()):
            target = _target_spec(old_graph_name, task.task_spec, new, top, mapping)
            if target is not None:
                task.task_spec = target
            elif task.state & _FUTURE and task.parent is not None:
                _drop(graph, task)  # a predicted step the target does not have
        for task in [t for t in graph.tasks.values() if t.state & _LIVE]:
            for child in [c for c in task.children if c.state & _FUTURE]:
                _drop(graph, child)
            task.task_spec._predict_hook(task)
            for child in task.children:
                if child.state & _FUTURE:
                    child.task_spec._predict(child, mask=_FUTURE)
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None


def _resync_rows(ctx: CommandContext, mapping: dict[str, str]) -> None:
    """Rows the write path keeps only for tasks that changed state: an open inbox row or job of a renamed element
    carries its new id (claim, due date and attempts stay); subscriptions are written again from the target."""
    renamed = {old: new for old, new in mapping.items() if old != new}
    if renamed:
        for row in ctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == ctx.instance.id,
                                                               HumanTask.state == HumanTaskState.READY)):
            if row.element_id in renamed:
                task = ctx.find_task(row.id)
                row.element_id = renamed[row.element_id]
                row.name = (task.task_spec.bpmn_name if task is not None else None) or row.name
        for job in ctx.session.scalars(select(Job).where(Job.instance_id == ctx.instance.id,
                                                         Job.status.in_(_OPEN_JOBS))):
            job.element_id = renamed.get(job.element_id, job.element_id)
    ctx.session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == ctx.instance.id))
    for task in all_tasks(ctx.workflow):
        if task.state == TaskState.WAITING:
            ctx.before.pop(task.id, None)  # "arrives" now: the write path subscribes it again


def checked_mapping(mapping: dict | None, old: ParsedProcess, new: ParsedProcess) -> dict[str, str]:
    """The explicit part of a mapping, each side checked to be an element of its version (InvalidInput)."""
    mapping = dict(mapping or {})
    errors = {}
    for source, target in mapping.items():
        if not isinstance(source, str) or not isinstance(target, str):
            errors[f"mapping.{source}"] = "element ids are text"
        elif source not in old.element_kinds:
            errors[f"mapping.{source}"] = "is not an element of the source version"
        elif target not in new.element_kinds:
            errors[f"mapping.{source}"] = f"'{target}' is not an element of the target version"
    if errors:
        raise InvalidInput("the element mapping is not valid", errors)
    return {source: target for source, target in mapping.items() if source != target}


class CaseMigration(CommandGroup):
    def element_choices(self, key: str, from_version: int, to_version: int, *, actor: Actor) -> list[ElementChoice]:
        """The source version's elements with their default target (same id and kind) and the target's elements
        of the same kind to choose from; what a mapping table shows."""
        require(actor, Permission.MANAGE_INSTANCES)
        old, new = self._versions(key, from_version, to_version)
        names = {spec.bpmn_id: spec.bpmn_name for spec in specs_of(new) if _element_id(spec)}
        old_names = {spec.bpmn_id: spec.bpmn_name for spec in specs_of(old) if _element_id(spec)}
        choices = []
        for element, kind in sorted(old.element_kinds.items()):
            same = new.element_kinds.get(element) == kind
            candidates = sorted((e, names.get(e)) for e, k in new.element_kinds.items() if k == kind)
            choices.append(ElementChoice(element, old_names.get(element), kind, element if same else None,
                                         candidates))
        return choices

    def dry_run(self, key: str, from_version: int, to_version: int, mapping: dict | None = None, *,
                actor: Actor, instance_ids: Iterable[str] | None = None, limit: int | None = None) -> DryRun:
        """Which running or suspended cases of `key` v`from_version` can move to v`to_version`, and why the
        others cannot; nothing is changed."""
        require(actor, Permission.MANAGE_INSTANCES)
        old, new = self._versions(key, from_version, to_version)
        explicit = checked_mapping(mapping, old, new)
        with self.core.db.reading() as session:
            old_id = latest_definition(session, key, from_version).id
            query = (select(ProcessInstance).where(ProcessInstance.definition_id == old_id,
                                                   ProcessInstance.status.in_(MIGRATABLE))
                     .order_by(ProcessInstance.started_at, ProcessInstance.id))
            if instance_ids is not None:
                query = query.where(ProcessInstance.id.in_(list(instance_ids)))
            if limit is not None:
                query = query.limit(limit)
            cases = []
            with using_clock(self.core.clock):
                for row in session.scalars(query):
                    workflow = self.core.serializer.loads(row.state, old.spec, old.subprocess_specs,
                                                          self.core.script_engine)
                    waiting, reasons = check_case(workflow, old, new, explicit, current_variables(workflow))
                    cases.append(CaseVerdict(row.id, row.business_key, waiting, reasons))
        return DryRun(key, from_version, to_version, explicit, cases)

    def migrate_instance(self, instance_id: str, to_version: int, mapping: dict | None = None, *,
                         actor: Actor) -> ProcessInstance:
        """Move one running or suspended case to version `to_version` of its process, as one command; refused
        (nothing changed) for another process, a finished case or a case that cannot move, naming why."""
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.db.reading() as session:
            row = session.get(ProcessInstance, instance_id)
            if row is None:
                raise NotFound(f"process instance '{instance_id}' does not exist")
            source = session.get(ProcessDefinition, row.definition_id)
            target = session.scalars(select(ProcessDefinition).where(
                ProcessDefinition.key == source.key, ProcessDefinition.version == to_version)).first()
        if target is None:
            raise NotFound(f"process definition '{source.key}' version {to_version} is not deployed")
        return self.migrate_to(instance_id, target.id, mapping, actor=actor)

    def migrate_to(self, instance_id: str, definition_id: int, mapping: dict | None = None, *,
                   actor: Actor, session: Session | None = None) -> ProcessInstance:
        """Move one case to the given definition (of the same process key); see `migrate_instance`. With an
        outer `session` the caller commits (a batch counts the case in the same transaction)."""
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.command(instance_id, actor, statuses=None, session=session) as ctx:
            if ctx.instance.status not in MIGRATABLE:
                raise Conflict(f"process instance '{instance_id}' is {ctx.instance.status}: only running or "
                               "suspended cases move", status=ctx.instance.status)
            source = ctx.session.get(ProcessDefinition, ctx.instance.definition_id)
            target = ctx.session.get(ProcessDefinition, definition_id)
            if target is None:
                raise NotFound(f"process definition {definition_id} does not exist")
            if target.key != source.key:
                raise InvalidInput(f"a '{source.key}' case cannot move to process '{target.key}'",
                                   {"to_version": f"must be a version of '{source.key}'"})
            if target.id == source.id:
                raise Conflict(f"process instance '{instance_id}' already runs on version {target.version}")
            new = self.core.definitions.get(ctx.session, target.id)
            explicit = checked_mapping(mapping, ctx.definition, new)
            waiting, reasons = check_case(ctx.workflow, ctx.definition, new, explicit,
                                          current_variables(ctx.workflow))
            if reasons:
                raise Conflict(f"process instance '{instance_id}' cannot move to version {target.version}: "
                               + "; ".join(reasons), reasons=reasons)
            _rebind(ctx.workflow, ctx.definition, new, explicit)
            ctx.definition = new
            ctx.instance.definition_id = target.id
            _resync_rows(ctx, explicit)
            ctx.record(INSTANCE_MIGRATED, from_version=source.version, to_version=target.version,
                       definition_key=source.key, mapping=explicit, waiting_in=waiting)
            if ctx.instance.status == InstanceStatus.RUNNING:
                ctx.run_engine()  # a READY step the target added runs now, as after any command
        return ctx.instance

    def _versions(self, key: str, from_version: int, to_version: int) -> tuple[ParsedProcess, ParsedProcess]:
        if from_version == to_version:
            raise InvalidInput("source and target are the same version", {"to_version": "choose another version"})
        with self.core.db.reading() as session:
            old = self.core.definitions.get(session, latest_definition(session, key, from_version).id)
            new = self.core.definitions.get(session, latest_definition(session, key, to_version).id)
        return old, new
