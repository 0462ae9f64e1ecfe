"""Modeler drafts: a process owner's unfinished edit of a BPMN or DMN file, kept per person until deployed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime


class ModelDraft(Base):
    """One person's draft of one model file; only its owner sees, edits, validates or deploys it."""

    __tablename__ = "model_drafts"
    __table_args__ = (Index("ix_model_drafts_owner_process_key", "owner", "process_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    # the process (BPMN) or decision (DMN) id the file defines; None for a new process not yet named
    process_key: Mapped[str | None] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))  # bpmn | dmn
    content: Mapped[str] = mapped_column(Text)
    # the deployed version the draft was opened from (None: a new file)
    based_on: Mapped[int | None] = mapped_column(ForeignKey("process_definition.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
