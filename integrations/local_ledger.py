"""Apply an operation to the local backends exactly once per idempotency key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.local_models import LocalRecord

PREFIXES = {"stock_movement": "SM", "quarantine": "QR", "credit_note": "CN", "replacement_order": "RO",
            "ticket": "QMS", "ticket_update": "QU", "activity": "ACT"}


def apply_once(
    sessions: Callable[[], Session],
    now: datetime,
    *,
    system: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    effect: Callable[[Session, str], dict[str, Any]],
) -> dict[str, Any]:
    """Run `effect` and record its result; a repeated key returns the first result and changes nothing."""
    for _ in range(2):
        with sessions() as session:
            try:
                with session.begin():
                    existing = _existing(session, system, key)
                    if existing is not None:
                        return {**existing.result, "duplicate": True}
                    record = LocalRecord(system=system, kind=kind, reference="", idempotency_key=key,
                                         payload=payload, result={}, created_at=now)
                    session.add(record)
                    session.flush()  # the key is claimed here; a concurrent duplicate fails on the constraint
                    record.reference = f"{PREFIXES.get(kind, kind[:2].upper())}-{record.id:06d}"
                    record.result = {"reference": record.reference, **effect(session, record.reference)}
                    result = dict(record.result)
                return {**result, "duplicate": False}
            except IntegrityError:
                continue  # a concurrent attempt with the same key won; read its result
    with sessions() as session:
        return {**_existing(session, system, key).result, "duplicate": True}


def _existing(session: Session, system: str, key: str) -> LocalRecord | None:
    return session.scalar(select(LocalRecord).where(LocalRecord.system == system,
                                                    LocalRecord.idempotency_key == key))
