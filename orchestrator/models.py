"""Tables of the engine core. The database is the source of truth; the broker only wakes workers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.db import Base, UTCDateTime


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class HumanTaskState(enum.StrEnum):
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # business error delivered to the process as a BPMN error
    INCIDENT = "incident"  # retries exhausted or error not caught: waits for an operator
    CANCELLED = "cancelled"  # its task was cancelled (boundary timer, instance cancelled)


class Deployment(Base):
    """One deploy call: the files as uploaded, immutable."""

    __tablename__ = "deployment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    deployed_by: Mapped[str] = mapped_column(String(200))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeploymentResource(Base):
    """A BPMN or DMN file of a deployment, byte for byte as deployed."""

    __tablename__ = "deployment_resource"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))  # bpmn | dmn
    content: Mapped[str] = mapped_column(Text)


class ProcessDefinition(Base):
    """An executable process of a deployment; `key` is the BPMN process id, versions count per key."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definition_key_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    # message names of the process's message start events, so correlation can start instances
    start_messages: Mapped[list[str]] = mapped_column(JSON, default=list)


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    # the timer sweep's only query: running instances by due time, a range scan on this index
    __table_args__ = (Index("ix_process_instance_due_timer", "status", "next_timer_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)  # bumped by every command: optimistic lock
    state: Mapped[str] = mapped_column(Text)  # SpiffWorkflow state, spec stored by reference
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # latest process data, for reading
    # hash of the instance's last history event: the next event chains to it without reading history_event
    history_head: Mapped[str | None] = mapped_column(String(64))
    # events in that chain, and the HMAC of (id, count, head) under the audit key: a cut tail shows
    history_count: Mapped[int | None] = mapped_column(Integer)
    history_signature: Mapped[str | None] = mapped_column(String(64))


class CaseSearch(Base):
    """A case's business key and summary field values, lower-cased: the inbox's text search scans these
    narrow rows, not the instance rows that also hold the workflow state."""

    __tablename__ = "case_search"
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    # never loaded; it makes a flush insert a new instance before the rows that refer to it
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    text: Mapped[str] = mapped_column(Text)


class HumanTask(Base):
    """Inbox row for a READY user (or manual) task; id is SpiffWorkflow's task id."""

    __tablename__ = "human_task"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    # never loaded; it makes a flush insert a new instance before the rows that refer to it
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    candidate_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    candidate_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    form: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(200))


class HumanTaskGroup(Base):
    """One row per candidate group of a task, so 'tasks of my groups' is an indexed lookup."""

    __tablename__ = "human_task_group"
    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id"), primary_key=True)
    task: Mapped[HumanTask] = relationship(lazy="raise")  # never loaded: orders the flush after its task
    group_name: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class Job(Base):
    """Outbox row for an external service task; the worker re-reads it before and after acting."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_next_attempt", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200), index=True)
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(200))
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # set while the job waits for its system's circuit breaker to close (attempts are not spent)
    paused_system: Mapped[str | None] = mapped_column(String(50), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker(Base):
    """Health of one outside system as its jobs see it; open = its jobs pause instead of failing."""

    __tablename__ = "circuit_breaker"
    system: Mapped[str] = mapped_column(String(50), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


MESSAGE_WAIT, SIGNAL_WAIT = "message", "signal"  # MessageSubscription.kind


class MessageSubscription(Base):
    """An instance waiting for a message, keyed by name + correlation key (the business key by default), or for
    a BPMN signal (`kind` "signal": any case that throws it, or the API, reaches every such wait)."""

    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_message_subscription_lookup", "message_name", "correlation_key"),
                      Index("ix_message_subscription_kind_name", "kind", "message_name"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    # never loaded; it makes a flush insert a new instance before the rows that refer to it
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    message_name: Mapped[str] = mapped_column(String(200))
    # the variable the model correlates on (camunda:property correlationKey); None = the business key
    correlation_var: Mapped[str | None] = mapped_column(String(200))
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default=MESSAGE_WAIT, server_default=MESSAGE_WAIT)


class HistoryEvent(Base):
    """Append-only record of what happened; each row carries the hash of the previous row of its instance."""

    __tablename__ = "history_event"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(200))
    element_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Every case's chain head and length at one moment, signed: a case deleted since then is missed."""

    __tablename__ = "audit_checkpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # [[instance id, event count, head], ...] ordered by instance id
    entries: Mapped[list[list[Any]]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(64))


class Incident(Base):
    """A job that needs a person: retries exhausted or an error no boundary event catches."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"), index=True)
    element_id: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))


class Attachment(Base):
    """A file uploaded through a form field (photos, evidence); kept in the database with its case."""

    __tablename__ = "attachment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), index=True)
    # never loaded; it makes a flush insert a new instance before the rows that refer to it
    instance: Mapped[ProcessInstance] = relationship(lazy="raise")
    task_id: Mapped[str | None] = mapped_column(String(36))
    field_id: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StartTimer(Base):
    """When a timer start event of a deployed process version next starts an instance (Camunda's timer
    start job). Written on deploy; the timer sweep claims due rows with SKIP LOCKED and moves them on."""

    __tablename__ = "start_timer"
    __table_args__ = (UniqueConstraint("definition_id", "element_id", name="uq_start_timer_definition_element"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(200))
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # occurrences left, this one included; -1: until the cycle has none left within the timer horizon
    remaining: Mapped[int] = mapped_column(Integer)
    # how it repeats: {"interval": seconds} (ISO cycle), {"cron": text}, or None (timeDate, timeDuration)
    cycle: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # why the last occurrence started no instance (the schedule moved on regardless)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """A command sent with an `Idempotency-Key`: inserted in the command's own transaction, so it exists
    exactly when the command committed; the answer is added after commit, for a retry to hear again."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("caller", "route", "key", name="uq_idempotency_record_caller_route_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller: Mapped[str] = mapped_column(String(200))  # the person or API key that sent it
    route: Mapped[str] = mapped_column(String(300))  # method and URL rule: the same key may serve other routes
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the path and body: a reused key must not change them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[int | None] = mapped_column(Integer)  # None until the answer is stored
    body: Mapped[str | None] = mapped_column(Text)
