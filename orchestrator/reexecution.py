"""The re-execution check: a case run again from its recorded inputs on the exact version it ran on, in a
throwaway engine (its own SQLite file, a manual clock set to each recorded command's time, no broker, no
connector run), and compared with its history command by command: the path taken, the steps it then waited
in and the variables it changed. Task and job ids differ between the two runs: they are matched by element.

Nothing is written to the real database; reading a case needs the right to read it."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import visible_instances_clause
from orchestrator.call_activities import deployed_calls, is_expression
from orchestrator.case_migration import INSTANCE_MIGRATED
from orchestrator.case_repair import VARIABLES_EDITED, VariableEdit
from orchestrator.clock import ManualClock
from orchestrator.db import Base, Database
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import EngineError
from orchestrator.models import (
    Deployment,
    DeploymentResource,
    HistoryEvent,
    HumanTask,
    HumanTaskState,
    InstanceStatus,
    Job,
    JobStatus,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.queries import case_history, readable_instance
from orchestrator.recorded_commands import (
    PATH_EVENTS,
    STATUS_INPUTS,
    command_groups,
    is_moving_input,
)
from orchestrator.step_state import STATE_EVENT
from orchestrator.token_moves import TOKEN_MOVED
from orchestrator.views import HistoryEventView

WORKER_NAME = "reexecution"
UNCHANGED, SET, UNSET = "unchanged", "set", "unset"


@dataclass(frozen=True)
class PathStep:
    kind: str  # element_completed, element_cancelled, element_failed, instance_completed, instance_cancelled
    element_id: str | None


@dataclass(frozen=True)
class VariableDifference:
    """A variable the two runs changed differently in one step (or, in `final_differences`, that the case's
    stored variables and the re-execution's hold differently). `*_change` is "set", "unset" or "unchanged";
    the value is None unless set."""

    name: str
    recorded_change: str
    recorded: Any
    re_executed_change: str
    re_executed: Any


@dataclass(frozen=True)
class StepComparison:
    """One recorded command that moved the case, next to what the re-execution did with the same input."""

    number: int  # 1-based among the compared steps
    seq: int  # the command's first recorded event
    at: datetime
    actor: str
    input: str  # what was applied: the input event's type, or "timer" for timers that fired
    element_id: str | None
    recorded_path: tuple[PathStep, ...]
    re_executed_path: tuple[PathStep, ...]
    recorded_waiting: tuple[str, ...] | None  # None: recorded before states were
    re_executed_waiting: tuple[str, ...] | None
    variable_differences: tuple[VariableDifference, ...]
    error: str | None  # the input could not be applied in the re-execution
    matches: bool


@dataclass(frozen=True)
class ReexecutionReport:
    instance_id: str
    business_key: str | None
    definition_id: int
    definition_key: str
    definition_version: int
    status: str
    # False: a case recorded before commands recorded their state; its steps compare paths only (as do the steps
    # of a case from before that began recording them midway)
    states_recorded: bool
    steps: tuple[StepComparison, ...]
    skipped_commands: int  # commands that moved nothing (comments, claims, job bookkeeping)
    final_differences: tuple[VariableDifference, ...]  # the case's stored variables against the re-execution's
    error: str | None  # why the re-execution stopped early
    ok: bool

    @property
    def differing_steps(self) -> tuple[StepComparison, ...]:
        return tuple(step for step in self.steps if not step.matches)


class Reexecution(CommandGroup):
    def reexecute(self, instance_id: str, *, actor: Actor) -> ReexecutionReport:
        """Run the case again from its recorded inputs and compare every step; NotFound unless the actor may
        read the case."""
        with self.core.db.reading() as session:
            instance, definition = readable_instance(session, actor, instance_id)
            history = case_history(session, instance_id)
            source = _Source.read(self.core, session, session.get(ProcessInstance, instance_id), definition.id)
        report = _run(self.core, source, history)
        return replace(report, business_key=instance.business_key, definition_key=definition.key,
                       definition_version=definition.version, status=instance.status)

    def readable_case_ids(self, *, actor: Actor, statuses: Iterable[str] = (InstanceStatus.COMPLETED,)) -> list[str]:
        """Ids of the cases in these statuses the actor may read, oldest first."""
        query = (select(ProcessInstance.id).where(ProcessInstance.status.in_(list(statuses)))
                 .order_by(ProcessInstance.started_at, ProcessInstance.id))
        clause = visible_instances_clause(actor)
        if clause is not None:
            query = query.where(clause)
        with self.core.db.reading() as session:
            return list(session.scalars(query))

    def reexecute_all(self, *, actor: Actor,
                      statuses: Iterable[str] = (InstanceStatus.COMPLETED,)) -> Iterator[ReexecutionReport]:
        """Re-execute every readable case in these statuses (completed ones by default), one at a time."""
        for instance_id in self.readable_case_ids(actor=actor, statuses=statuses):
            yield self.reexecute(instance_id, actor=actor)


# -- what a re-execution starts from ------------------------------------------------------------------------

def _columns(row) -> dict[str, Any]:
    """A row's column values, to insert a copy of it elsewhere."""
    return {attribute.key: getattr(row, attribute.key) for attribute in inspect(type(row)).column_attrs}


@dataclass
class _Deployed:
    """A definition with its deployment and files, as rows to copy (ids kept) into the throwaway database."""

    deployed_at: datetime
    rows: list[tuple[type, dict[str, Any]]]  # the deployment, its files, the definition: (model, columns)

    def copy_into(self, session: Session) -> None:
        for model, columns in self.rows:
            if session.get(model, columns["id"]) is None:  # a deployment may hold several called processes
                session.add(model(**columns))
                session.flush()


@dataclass
class _Source:
    instance: dict[str, Any]  # id, definition_id, started_at and variables of the real instance row
    definition: _Deployed
    called: list[_Deployed]  # versions of called processes, by deploy time: copied as the case reached them

    @classmethod
    def read(cls, core: EngineCore, session: Session, row: ProcessInstance, definition_id: int) -> _Source:
        main = _deployed(session, session.get(ProcessDefinition, definition_id))
        called: dict[int, _Deployed] = {}
        keys, seen = _called_keys(core, session, definition_id), set()
        while keys - seen:  # called processes may call others in turn
            key = sorted(keys - seen)[0]
            seen.add(key)
            for definition in list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key))):
                if definition.id != definition_id and definition.id not in called:
                    called[definition.id] = _deployed(session, definition)
                    keys |= _called_keys(core, session, definition.id)
        instance = {"id": row.id, "definition_id": row.definition_id, "started_at": row.started_at,
                    "variables": dict(row.variables or {})}  # not the stored state: it is not needed
        return cls(instance, main, sorted(called.values(), key=lambda d: d.deployed_at))


def _deployed(session: Session, definition: ProcessDefinition) -> _Deployed:
    deployment = session.get(Deployment, definition.deployment_id)
    resources = session.scalars(select(DeploymentResource).where(
        DeploymentResource.deployment_id == deployment.id).order_by(DeploymentResource.id))
    return _Deployed(deployment.deployed_at, [(type(r), _columns(r)) for r in (deployment, *resources, definition)])


def _called_keys(core: EngineCore, session: Session, definition_id: int) -> set[str]:
    parsed = core.definitions.get(session, definition_id)
    if not parsed.has_deployed_calls:
        return set()
    return {call.called_element for call in deployed_calls((parsed.spec, *parsed.subprocess_specs.values()))
            if not is_expression(call.called_element)}


# -- the recorded commands ---------------------------------------------------------------------------------

def _moves(group: Sequence) -> bool:
    return any(e.type in PATH_EVENTS or e.type == STATE_EVENT or is_moving_input(e) for e in group)


def _path(events: Iterable) -> tuple[PathStep, ...]:
    return tuple(PathStep(e.type, e.element_id) for e in events if e.type in PATH_EVENTS)


def _state(events: Sequence) -> dict[str, Any] | None:
    return next((e.payload for e in reversed(events) if e.type == STATE_EVENT), None)


def _change(name: str, state: dict[str, Any]) -> tuple[str, Any]:
    if name in state.get("set", {}):
        return SET, state["set"][name]
    return (UNSET, None) if name in state.get("unset", ()) else (UNCHANGED, None)


def variable_differences(recorded: dict[str, Any] | None, re_executed: dict[str, Any] | None
                         ) -> tuple[VariableDifference, ...]:
    """The variables two recorded states (payloads of state_recorded) change differently."""
    recorded, re_executed = recorded or {}, re_executed or {}
    names = set().union(*(s.get("set", {}).keys() for s in (recorded, re_executed)),
                        *(s.get("unset", ()) for s in (recorded, re_executed)))
    differences = []
    for name in sorted(names):
        before, after = _change(name, recorded), _change(name, re_executed)
        if before != after:
            differences.append(VariableDifference(name, before[0], before[1], after[0], after[1]))
    return tuple(differences)


def final_differences(recorded: dict[str, Any], re_executed: dict[str, Any]) -> tuple[VariableDifference, ...]:
    """The variables two final sets of variables hold differently."""
    return variable_differences({"set": recorded}, {"set": re_executed})


# -- the re-execution --------------------------------------------------------------------------------------

class _CannotApply(Exception):
    """A recorded input has nothing to act on in the re-execution (no such open task, job or wait)."""


def _to(payload: dict) -> str:
    return f" to '{payload['to']}'" if payload.get("to") else ""


def _run(core: EngineCore, source: _Source, history: Sequence[HistoryEventView]) -> ReexecutionReport:
    first_state = next((event.seq for event in history if event.type == STATE_EVENT), None)
    steps: list[StepComparison] = []
    skipped, error = 0, None
    moved = next((event for event in history if event.type == INSTANCE_MIGRATED), None)
    if moved is not None:  # it ran on two versions: this check runs one version from start to end
        return ReexecutionReport(
            instance_id=source.instance["id"], business_key=None, definition_id=source.instance["definition_id"],
            definition_key="", definition_version=0, status="", states_recorded=first_state is not None,
            steps=(), skipped_commands=0, final_differences=(), ok=False,
            error=f"the case was moved from version {moved.payload.get('from_version')} to "
                  f"{moved.payload.get('to_version')} (event {moved.seq}); a moved case cannot be run again here")
    token = next((event for event in history if event.type == TOKEN_MOVED), None)
    if token is not None:  # a hand-made jump of its token: the commands alone do not lead where the case went
        return ReexecutionReport(
            instance_id=source.instance["id"], business_key=None, definition_id=source.instance["definition_id"],
            definition_key="", definition_version=0, status="", states_recorded=first_state is not None,
            steps=(), skipped_commands=0, final_differences=(), ok=False,
            error=f"the case's token was moved by hand ({token.payload.get('kind')} from "
                  f"'{token.payload.get('from')}'{_to(token.payload)}, event {token.seq}); a case moved by hand "
                  "cannot be run again here")
    with tempfile.TemporaryDirectory(prefix="loopline-reexecution-") as folder, _Replay(core, source, folder) as replay:
        for group in command_groups(history):
            if not _moves(group):
                skipped += 1
                replay.apply_status(group)
                continue
            step = replay.step(len(steps) + 1, group, first_state is not None and group[-1].seq >= first_state)
            steps.append(step)
            if step.error is not None:
                error = f"step {step.number} could not be re-executed: {step.error}"
                break
        finals = () if error else final_differences(source.instance["variables"], replay.final_variables())
    ok = error is None and not finals and all(step.matches for step in steps)
    return ReexecutionReport(
        instance_id=source.instance["id"], business_key=None, definition_id=source.instance["definition_id"],
        definition_key="", definition_version=0, status="",
        states_recorded=first_state is not None, steps=tuple(steps), skipped_commands=skipped,
        final_differences=finals, error=error, ok=ok)


class _Replay:
    """The throwaway engine one case runs again in, and what ties its tasks and jobs to the recorded ones."""

    def __init__(self, core: EngineCore, source: _Source, folder: str):
        from orchestrator.service import Engine  # the facade imports this module

        self.source = source
        self.instance_id = source.instance["id"]
        self.clock = ManualClock(source.instance["started_at"])
        self.db = Database(f"sqlite:///{Path(folder) / 'reexecution.db'}")
        Base.metadata.create_all(self.db.engine)
        settings = replace(core.settings, database_url=self.db.url, broker_url="", external_topics=frozenset())
        self.engine = Engine(settings, db=self.db, clock=self.clock, connectors=core.connectors, wake=None,
                             integration_settings=core.integration_settings)
        self.engine.definitions = core.definitions  # deployments are immutable: copied rows keep their ids
        self.pending_calls = list(source.called)
        self.tasks: dict[str, str] = {}  # recorded task id -> re-executed task id
        self.jobs: dict[int, int] = {}  # recorded job id -> re-executed job id
        self.last_seq = 0
        with self.db.transaction() as session:
            source.definition.copy_into(session)

    def __enter__(self) -> _Replay:
        return self

    def __exit__(self, *exc_info) -> None:
        self.db.dispose()

    def step(self, number: int, group: Sequence[HistoryEventView], compare_state: bool) -> StepComparison:
        """Apply one recorded command's input at its time and compare what it did (with `compare_state`, also
        where it left the tokens and which variables it changed)."""
        first = group[0]
        self.clock.set(first.at)
        self._copy_called(first.at)
        inputs = [e for e in group if is_moving_input(e)]
        error = None
        try:
            if inputs:
                self._apply(inputs[0], first.actor, group)
            else:  # a command that only moved: timers fell due
                self.engine.timers.fire_due_instance_timers()
        except _CannotApply as exc:
            error = str(exc)
        except (EngineError, SpiffWorkflowException) as exc:
            error = getattr(exc, "message", None) or str(exc)
        except Exception as exc:  # noqa: BLE001 - an input the engine cannot take at all (an edited payload)
            error = f"{type(exc).__name__}: {exc}"
        replayed = self._new_events()
        self._match_ids(group, replayed)
        recorded_state, replayed_state = _state(group), _state(replayed)
        recorded_path, replayed_path = _path(group), _path(replayed)
        if compare_state:
            recorded_waiting = tuple(recorded_state["waiting"]) if recorded_state else None
            replayed_waiting = tuple(replayed_state["waiting"]) if replayed_state else None
            differences = variable_differences(recorded_state, replayed_state)
        else:
            recorded_waiting = replayed_waiting = None
            differences = ()
        matches = (error is None and recorded_path == replayed_path and recorded_waiting == replayed_waiting
                   and not differences)
        return StepComparison(
            number=number, seq=first.seq, at=first.at, actor=first.actor,
            input=inputs[0].type if inputs else "timer", element_id=inputs[0].element_id if inputs else None,
            recorded_path=recorded_path, re_executed_path=replayed_path, recorded_waiting=recorded_waiting,
            re_executed_waiting=replayed_waiting, variable_differences=differences, error=error, matches=matches)

    def apply_status(self, group: Sequence[HistoryEventView]) -> None:
        """Suspend and resume as recorded (a suspended case fires no timer); other bookkeeping changes nothing."""
        for event in group:
            if event.type in STATUS_INPUTS:
                self.clock.set(event.at)
                command = (self.engine.instances.suspend_instance if event.type == "instance_suspended"
                           else self.engine.instances.resume_instance)
                try:
                    command(self.instance_id, actor=_actor(event.actor))
                except EngineError:
                    pass  # the status differs already: the next step that moves shows it
                self._new_events()

    def final_variables(self) -> dict[str, Any]:
        with self.db.reading() as session:
            row = session.get(ProcessInstance, self.instance_id)
            return dict(row.variables or {}) if row is not None else {}

    # -- inputs ----------------------------------------------------------------------------------------

    def _apply(self, event: HistoryEventView, actor_name: str, group: Sequence[HistoryEventView]) -> None:
        actor, payload = _actor(actor_name), event.payload
        if event.type == "instance_started":
            message = next((e.payload for e in group if e.type == "message_correlated" and e.payload.get("started")),
                           None)
            self._start(event, actor, message)
        elif event.type == "task_completed":
            self.engine.tasks.complete_user_task(self._open_task(event), payload.get("values") or {}, actor=actor)
        elif event.type == "job_completed":
            job_id, token = self._claim(event)
            result = payload["received"] if "received" in payload else payload.get("result")
            self._job_outcome(self.engine.jobs.complete_job(job_id, token=token, result=result), event)
        elif event.type == "job_failed":
            job_id, token = self._claim(event)
            self._job_outcome(self.engine.jobs.fail_job(
                job_id, token=token, error=payload.get("error") or "", code=payload.get("error_code"),
                transient=False, variables=payload.get("variables") or {}), event)
        elif event.type == "message_correlated":
            correlation = self.engine.messages.correlate_message(
                payload["message_name"], actor=actor, business_key=payload.get("business_key"),
                correlation_keys=payload.get("correlation_keys") or None, variables=payload.get("variables") or {})
            if correlation.instance_id != self.instance_id:
                raise _CannotApply(f"message '{payload['message_name']}' started another case instead")
        elif event.type == "signal_received":
            self.engine.bpmn_signals.deliver(self.instance_id, payload["signal_name"], payload.get("variables") or {},
                                             actor=actor)
        elif event.type == "instance_cancelled":
            self.engine.instances.cancel_instance(self.instance_id, actor=actor, reason=payload.get("reason") or "")
        elif event.type == VARIABLES_EDITED:
            changes = payload.get("variables") or []
            self.engine.case_repair.edit_variables(self.instance_id, VariableEdit(
                payload.get("comment") or "", {c["name"]: c["new"] for c in changes if c["change"] != "removed"},
                tuple(c["name"] for c in changes if c["change"] == "removed")), actor=actor)

    def _start(self, event: HistoryEventView, actor: Actor, message: dict[str, Any] | None) -> None:
        """Start with the recorded id, variables and business key (by its message, if it started by one)."""
        payload = event.payload
        with self.db.transaction() as session:
            definition = session.get(ProcessDefinition, self.source.instance["definition_id"])
            self.engine.instances.start_in(
                session, definition, actor, payload.get("business_key"), payload.get("variables") or {}, None,
                message=(message["message_name"], message.get("variables") or {}) if message else None,
                instance_id=self.instance_id, timer_start=event.element_id)

    def _open_task(self, event: HistoryEventView) -> str:
        mapped = self.tasks.get(event.task_id or "")
        if mapped is not None:
            return mapped
        with self.db.reading() as session:
            open_ids = list(session.scalars(select(HumanTask.id).where(
                HumanTask.instance_id == self.instance_id, HumanTask.element_id == event.element_id,
                HumanTask.state == HumanTaskState.READY)))
        if len(open_ids) != 1:
            raise _CannotApply(f"task '{event.element_id}' is not open to be completed")
        return open_ids[0]

    def _claim(self, event: HistoryEventView) -> tuple[int, str]:
        job_id = self.jobs.get(event.payload.get("job_id"))
        if job_id is None:
            with self.db.reading() as session:
                open_ids = list(session.scalars(select(Job.id).where(
                    Job.instance_id == self.instance_id, Job.element_id == event.element_id,
                    Job.status == JobStatus.PENDING)))
            if len(open_ids) != 1:
                raise _CannotApply(f"no job of '{event.element_id}' waits for its result")
            job_id = open_ids[0]
        claimed = self.engine.jobs.claim_job(job_id, WORKER_NAME)
        if claimed is None:
            raise _CannotApply(f"the job of '{event.element_id}' cannot be claimed")
        return job_id, claimed.token

    @staticmethod
    def _job_outcome(outcome: str, event: HistoryEventView) -> None:
        if outcome == "dropped":
            raise _CannotApply(f"the job of '{event.element_id}' no longer waits for its result")

    # -- bookkeeping -----------------------------------------------------------------------------------

    def _copy_called(self, at: datetime) -> None:
        """Copy the versions of called processes deployed by `at`, so a call takes the version it took then."""
        due = [called for called in self.pending_calls if called.deployed_at <= at]
        if due:
            with self.db.transaction() as session:
                for called in due:
                    called.copy_into(session)
            self.pending_calls = [called for called in self.pending_calls if called not in due]

    def _new_events(self) -> list[HistoryEvent]:
        with self.db.reading() as session:
            events = list(session.scalars(select(HistoryEvent).where(
                HistoryEvent.instance_id == self.instance_id, HistoryEvent.seq > self.last_seq)
                .order_by(HistoryEvent.seq)))
        if events:
            self.last_seq = events[-1].seq
        return events

    def _match_ids(self, recorded: Sequence, replayed: Sequence) -> None:
        """Tie the tasks and jobs the step created to the recorded ones: the n-th of an element to the n-th."""
        for kind, ids, key in (("task_created", self.tasks, lambda e: e.task_id),
                               ("job_created", self.jobs, lambda e: e.payload.get("job_id"))):
            created: dict[str | None, list] = defaultdict(list)
            for event in replayed:
                if event.type == kind:
                    created[event.element_id].append(key(event))
            for event in recorded:
                if event.type == kind and created[event.element_id]:
                    ids[key(event)] = created[event.element_id].pop(0)


def _actor(name: str) -> Actor:
    """The recorded actor's name (variables may hold it) with the rights to repeat what they did."""
    return Actor(name, roles=frozenset({"system"}))
