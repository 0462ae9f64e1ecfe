"""What readers of the engine see: frozen copies of rows, so a query's result can neither lazy-load nor
write back through a session, and never carries what readers must not hold (an instance's workflow state).

Field names equal the model's column names, so templates, API schemas and callers read a view as they read
a row. `View.of(row)` copies exactly the view's fields: a column the view leaves out is never touched, so a
deferred one (workflow state, file content) is never loaded."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self


class View:
    """A frozen dataclass built from a row by field name."""

    __slots__ = ()

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class DefinitionView(View):
    id: int
    deployment_id: int
    key: str
    version: int
    name: str | None
    content_hash: str
    start_messages: list[str]


@dataclass(frozen=True, slots=True)
class InstanceView(View):
    """A case without its workflow state (the engine's to restore, nobody's to read)."""

    id: str
    definition_id: int
    business_key: str | None
    status: str
    version: int
    next_timer_at: datetime | None
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    variables: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskView(View):
    id: str
    instance_id: str
    element_id: str
    name: str | None
    lane: str | None
    candidate_groups: list[str]
    candidate_users: list[str]
    assignee: str | None
    priority: int
    due_at: datetime | None
    follow_up_at: datetime | None
    form: list[dict[str, Any]]
    state: str
    created_at: datetime
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None


@dataclass(frozen=True, slots=True)
class JobView(View):
    id: int
    instance_id: str
    task_id: str
    element_id: str
    topic: str
    input: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    idempotency_key: str
    locked_until: datetime | None
    locked_by: str | None
    enqueued_at: datetime | None
    last_error: str | None
    result: dict[str, Any] | None
    paused_system: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class IncidentView(View):
    id: int
    instance_id: str
    job_id: int | None
    element_id: str | None
    message: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


@dataclass(frozen=True, slots=True)
class HistoryEventView(View):
    seq: int
    instance_id: str
    at: datetime
    type: str
    actor: str
    element_id: str | None
    task_id: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AttachmentView(View):
    """A file's metadata: lists of a case's files never load the bytes."""

    id: str
    instance_id: str
    task_id: str | None
    field_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class AttachmentFile(AttachmentView):
    """A file with its bytes, for the download alone."""

    content: bytes
