"""The batch operation table: one cancel, retry or migrate applied to a fixed list of cases, with its progress."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime


class BatchKind(enum.StrEnum):
    MIGRATE = "migrate"
    CANCEL = "cancel"
    RETRY = "retry"


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # every case failed, or the batch itself could not go on (its target version is gone)


class BatchOperation(Base):
    """The cases are fixed when the batch is created (from a filter or a selection); `position` counts those
    handled, in order, so a round killed midway resumes at the next one. Each case is its own transaction."""

    __tablename__ = "batch_operations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # target version, mapping, reason…
    instance_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # instance id → reason
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a sweep's lease on its round
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
