"""What a command left behind, recorded in the history beside what it did: the steps the case now waits in
and the variables it changed. A replay then shows the case as it was after every step, and a re-execution
compares its own steps with these, without keeping a copy of the state per step."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.task import TaskState

from orchestrator.effects import all_tasks

STATE_EVENT = "state_recorded"
ELEMENT_EVENTS = frozenset({"element_completed", "element_cancelled", "element_failed"})
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def waiting_elements(workflow) -> list[str]:
    """The BPMN elements holding a token now (tasks, catches, joins, running subprocesses), sorted."""
    return sorted({task.task_spec.bpmn_id for task in all_tasks(workflow)
                   if task.state & _LIVE and getattr(task.task_spec, "bpmn_id", None)})


def variable_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(variables set or changed, names removed) between two sets of the case's variables."""
    before = before or {}
    changed = {name: value for name, value in after.items() if name not in before or before[name] != value}
    removed = sorted(name for name in before if name not in after)
    return changed, removed


def state_payload(waiting: list[str], changed: dict[str, Any], removed: list[str]) -> dict[str, Any]:
    """`waiting` is always the whole list, so a reader needs no earlier event to know where the tokens are;
    variables only as changes."""
    payload: dict[str, Any] = {"waiting": waiting}
    if changed:
        payload["set"] = changed
    if removed:
        payload["unset"] = removed
    return payload


def replay_states(events) -> list[dict[str, Any]]:
    """Fold the recorded states of a history (objects with `.type` and `.payload`, oldest first) into the
    variables and waiting steps after each event: one dict per event, `{"variables", "waiting"}`."""
    variables: dict[str, Any] = {}
    waiting: list[str] = []
    states = []
    for event in events:
        if event.type == STATE_EVENT:
            variables = {**variables, **event.payload.get("set", {})}
            for name in event.payload.get("unset", []):
                variables.pop(name, None)
            waiting = list(event.payload.get("waiting", []))
        states.append({"variables": variables, "waiting": waiting})
    return states


def record_state(ctx, variables_before: dict[str, Any] | None, variables: dict[str, Any]) -> None:
    """Record the command's state event after its other events (see the module's docstring)."""
    changed, removed = variable_changes(variables_before, variables)
    moved = any(event.type in ELEMENT_EVENTS for event in ctx.events)
    if moved or changed or removed:
        ctx.record(STATE_EVENT, **state_payload(waiting_elements(ctx.workflow), changed, removed))
