"""How a case's history splits into the commands that wrote it: each command appends its events with one
time and one actor, and a command that moved the case ends with its recorded state. Under a frozen clock
several commands share an instant, so inputs and bookkeeping events also start a command of their own."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.step_state import ELEMENT_EVENTS, STATE_EVENT
from orchestrator.views import HistoryEventView

# what a path is made of: elements finished, and the case ending
PATH_EVENTS = ELEMENT_EVENTS | {"instance_completed", "instance_cancelled"}
# events that carry a command's input and move the workflow: a command has at most one of them
MOVING_INPUTS = frozenset({"instance_started", "task_completed", "job_completed", "job_failed",
                           "message_correlated", "signal_received", "instance_cancelled", "variables_edited"})
STATUS_INPUTS = frozenset({"instance_suspended", "instance_resumed"})
# the first event of a command that moves nothing (no recorded state ends it)
BOOKKEEPING = STATUS_INPUTS | {"comment_added", "task_claimed", "task_unclaimed", "task_assigned", "job_paused",
                               "job_retry_scheduled", "job_unlocked", "job_lease_expired", "job_result_dropped",
                               "incident_retried", "timer_failed", "message_decided"}


def is_moving_input(event) -> bool:
    # a start by message records its message after instance_started, in the same command
    return event.type in MOVING_INPUTS and not (event.type == "message_correlated" and event.payload.get("started"))


def command_groups(events: Iterable[HistoryEventView]) -> list[list[HistoryEventView]]:
    """The recorded commands: consecutive events of one time and one actor, split after each recorded state
    (the last event of a command that moved the case), before a command's first event that says what it did
    and before a second input (commands in the same instant by the same actor)."""
    groups: list[list[HistoryEventView]] = []
    for event in events:
        current = groups[-1] if groups else None
        if (current is None or current[-1].type == STATE_EVENT or event.at != current[0].at
                or event.actor != current[0].actor or event.type == "instance_started" or event.type in BOOKKEEPING
                or (is_moving_input(event) and any(is_moving_input(e) for e in current))):
            groups.append([event])
        else:
            current.append(event)
    return groups
