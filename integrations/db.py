"""Tables of the built-in (`local`) backends and of notifications, on their own declarative base."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# The one metadata of every table (engine, integrations, web): what migrations compare against.
SCHEMA = MetaData()


class IntegrationsBase(DeclarativeBase):
    """Declarative base of the integrations' tables, in the one shared metadata."""

    metadata = SCHEMA


class UTCDateTime(TypeDecorator):
    """Store naive UTC, hand back aware UTC: SQLite keeps no zone, Postgres gets one column type."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)
