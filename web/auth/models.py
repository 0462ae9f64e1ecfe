"""People, roles, groups and API keys. Lives in the web layer: the engine only ever sees an Actor."""

from __future__ import annotations

from datetime import datetime

from flask_security import RoleMixin, UserMixin
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.db import Base, UTCDateTime

roles_users = Table(
    "roles_users", Base.metadata,
    Column("user_id", ForeignKey("user.id"), primary_key=True),
    Column("role_id", ForeignKey("role.id"), primary_key=True),
)
user_groups = Table(
    "user_groups", Base.metadata,
    Column("user_id", ForeignKey("user.id"), primary_key=True),
    Column("group_name", ForeignKey("user_group.name"), primary_key=True),
)


class Role(Base, RoleMixin):
    __tablename__ = "role"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    permissions: Mapped[list[str] | None] = mapped_column(JSON)


class Group(Base):
    """A staff group: BPMN lanes and camunda:candidateGroups name these."""

    __tablename__ = "user_group"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(200))


class User(Base, UserMixin):
    __tablename__ = "user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    username: Mapped[str | None] = mapped_column(String(100), unique=True)
    password: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    fs_uniquifier: Mapped[str] = mapped_column(String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locale: Mapped[str | None] = mapped_column(String(10))
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA name; None: the browser's zone
    roles = relationship(Role, secondary=roles_users, lazy="selectin")
    groups = relationship(Group, secondary=user_groups, lazy="selectin")

    @property
    def actor_name(self) -> str:
        return self.username or self.email


class ApiKey(Base):
    """A long-lived key for an integration; only a hash of the secret is stored."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(50))
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
