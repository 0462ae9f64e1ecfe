"""A case's history as the steps a replay walks through: one step per command, with what it passed, who
acted, what they entered, and where the tokens and variables stood afterwards.

Built from the recorded events alone (no state is restored), so a replay shows what was recorded, not what
the engine would compute today; `reexecution` is the check that the two agree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.recorded_commands import command_groups
from orchestrator.step_state import STATE_EVENT
from orchestrator.views import HistoryEventView


@dataclass(frozen=True)
class ReplayStep:
    """One command as recorded. `waiting` is None when the command recorded no state (cases recorded before
    states were, or commands that move no token: comments, claims, job bookkeeping)."""

    number: int  # 1-based
    at: datetime
    actor: str
    types: tuple[str, ...]  # the command's event types, in order (state_recorded left out)
    passed: tuple[str, ...]  # elements completed by this command, in order
    cancelled: tuple[str, ...]
    failed: tuple[str, ...]
    waiting: tuple[str, ...] | None
    set: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)  # what a person entered (form data)
    seconds_since_previous: float = 0.0


def replay_steps(history: Sequence[HistoryEventView]) -> list[ReplayStep]:
    steps: list[ReplayStep] = []
    previous_at: datetime | None = None
    for number, group in enumerate(command_groups(history), start=1):
        state = next((e.payload for e in reversed(group) if e.type == STATE_EVENT), None)
        values: dict[str, Any] = {}
        for event in group:
            if event.type == "task_completed":
                values.update(event.payload.get("values") or {})

        def elements(kind: str, events=group) -> tuple[str, ...]:
            return tuple(e.element_id for e in events if e.type == kind and e.element_id)

        at = group[0].at
        steps.append(ReplayStep(
            number=number, at=at, actor=group[0].actor,
            types=tuple(e.type for e in group if e.type != STATE_EVENT),
            passed=elements("element_completed"), cancelled=elements("element_cancelled"),
            failed=elements("element_failed"),
            waiting=tuple(state["waiting"]) if state is not None else None,
            set=dict(state.get("set", {})) if state is not None else {},
            unset=tuple(state.get("unset", ())) if state is not None else (),
            values=values,
            seconds_since_previous=(at - previous_at).total_seconds() if previous_at is not None else 0.0,
        ))
        previous_at = at
    return steps


def path_taken(history: Iterable[HistoryEventView]) -> list[str]:
    """Every element passed, in the order the history recorded it (repeats kept: loops show each round)."""
    return [e.element_id for e in history if e.type == "element_completed"
            and e.element_id]
