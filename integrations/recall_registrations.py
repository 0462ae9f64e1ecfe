"""Registrations on a recall's public page: buyers the trace data does not know tell us they have the product.

A recall's public page has its own random id (never the case's id or ticket number), made once and kept, so a
printed QR code stays valid. Each registration is one row; `count_for` and `totals_for` are what a status
report counts, and the `recall.registrations` service task hands them to the recall process.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from integrations.db import IntegrationsBase, UTCDateTime
from integrations.registry import ConnectorRegistry, IntegrationContext, JobContext

PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,24}$")
MAX_QUANTITY = 100_000
LIMITS = {"name": 200, "email": 320, "phone": 40, "product": 200, "lot": 100, "note": 2000}


class RecallPage(IntegrationsBase):
    """The public id of one recall case's page."""

    __tablename__ = "recall_public_page"
    public_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecallRegistration(IntegrationsBase):
    """One buyer's registration (or feedback) on a recall's public page."""

    __tablename__ = "recall_registration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(ForeignKey("recall_public_page.public_id"))
    instance_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    product: Mapped[str] = mapped_column(String(200))
    lot_or_serial: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    remedy: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RegistrationInvalid(ValueError):
    """The form's answer is not acceptable; `errors` maps each field to a code the page words in its language:
    required, too_long, email, phone, contact (neither e-mail nor phone), whole_number, choice."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Registration:
    """A checked registration, ready to store."""

    name: str
    email: str | None
    phone: str | None
    product: str
    lot_or_serial: str | None
    quantity: int
    remedy: str
    note: str | None


@dataclass(frozen=True)
class StoredRegistration(Registration):
    """A registration as stored, with when it came and in which language the page was read."""

    language: str = "en"
    created_at: datetime | None = None


@dataclass(frozen=True)
class RegistrationTotals:
    count: int
    quantity: int
    by_remedy: dict[str, int]


def page_id_for(session: Session, instance_id: str, now: datetime) -> str:
    """The public id of the case's page, made on first use (the first of two racing callers wins)."""
    existing = session.scalar(select(RecallPage.public_id).where(RecallPage.instance_id == instance_id))
    if existing is not None:
        return existing
    page = RecallPage(public_id=secrets.token_urlsafe(15), instance_id=instance_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(page)
    except IntegrityError:
        return session.scalar(select(RecallPage.public_id).where(RecallPage.instance_id == instance_id))
    return page.public_id


def instance_of_page(session: Session, public_id: str) -> str | None:
    """The case a public id belongs to; None for an id of the wrong shape or that was never made."""
    if not isinstance(public_id, str) or not PUBLIC_ID.match(public_id):
        return None
    return session.scalar(select(RecallPage.instance_id).where(RecallPage.public_id == public_id))


def check_registration(form: Mapping[str, Any], remedies: Sequence[str]) -> Registration:
    """Every field checked at once, so the page can mark all that are wrong."""
    errors: dict[str, str] = {}

    def text(field: str, required: bool = False) -> str | None:
        value = str(form.get(field) or "").strip()
        if not value:
            if required:
                errors[field] = "required"
            return None
        if len(value) > LIMITS[field]:
            errors[field] = "too_long"
        return value

    name, email, phone = text("name", True), text("email"), text("phone")
    product, lot, note = text("product", True), text("lot"), text("note")
    if email and "email" not in errors and not EMAIL.match(email):
        errors["email"] = "email"
    if phone and "phone" not in errors and not PHONE.match(phone):
        errors["phone"] = "phone"
    if not email and not phone:
        errors["email"] = "contact"
    quantity = 0
    try:
        quantity = int(str(form.get("quantity") or "").strip())
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ValueError
    except ValueError:
        errors["quantity"] = "whole_number"
    remedy = str(form.get("remedy") or "").strip()
    if remedy not in remedies:
        errors["remedy"] = "choice"
    if errors:
        raise RegistrationInvalid(errors)
    return Registration(name=name, email=email, phone=phone, product=product, lot_or_serial=lot,
                        quantity=quantity, remedy=remedy, note=note)


def add_registration(session: Session, public_id: str, registration: Registration, *, language: str,
                     now: datetime) -> RecallRegistration:
    """Store a checked registration for the page's case."""
    instance_id = instance_of_page(session, public_id)
    if instance_id is None:
        raise LookupError(f"no recall page {public_id!r}")
    row = RecallRegistration(public_id=public_id, instance_id=instance_id, language=language[:10], created_at=now,
                             **asdict(registration))
    session.add(row)
    session.flush()
    return row


def count_for(session: Session, recall_instance_id: str) -> int:
    """How many registrations the recall case's public page received."""
    return session.scalar(select(func.count()).select_from(RecallRegistration)
                          .where(RecallRegistration.instance_id == recall_instance_id)) or 0


def totals_for(session: Session, recall_instance_id: str) -> RegistrationTotals:
    """Registrations, units reported and the remedies chosen, for a status report."""
    rows = session.execute(select(RecallRegistration.remedy, func.count(), func.sum(RecallRegistration.quantity))
                           .where(RecallRegistration.instance_id == recall_instance_id)
                           .group_by(RecallRegistration.remedy)).all()
    return RegistrationTotals(count=sum(r[1] for r in rows), quantity=int(sum(r[2] or 0 for r in rows)),
                              by_remedy={r[0]: r[1] for r in rows})


def latest_for(session: Session, recall_instance_id: str, limit: int = 50) -> list[StoredRegistration]:
    """The newest registrations of the case, for the staff page."""
    rows = session.scalars(select(RecallRegistration).where(RecallRegistration.instance_id == recall_instance_id)
                           .order_by(RecallRegistration.id.desc()).limit(limit))
    return [StoredRegistration(name=r.name, email=r.email, phone=r.phone, product=r.product,
                               lot_or_serial=r.lot_or_serial, quantity=r.quantity, remedy=r.remedy, note=r.note,
                               language=r.language, created_at=r.created_at) for r in rows]


def public_page_url(session: Session, instance_id: str, base_url: str, now: datetime) -> str:
    """The public page's address for a notice or a print-out (base: LOOPLINE_PUBLIC_URL)."""
    return f"{base_url.rstrip('/')}/recalls/{page_id_for(session, instance_id, now)}"


class RecallRegistrationsCount:
    """recall.registrations: the calling recall case's registrations so far, for its status report.
    Output: `registrations`, `registeredQuantity`, `registrationsByRemedy` and `publicPageUrl`."""

    topic = "recall.registrations"
    system = None  # reads Loopline's own tables
    timeout = 30.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        with self.context.sessions() as session, session.begin():
            totals = totals_for(session, job.instance_id)
            url = public_page_url(session, job.instance_id, self.context.settings.notify.ack_base_url,
                                  self.context.now())
        return {"registrations": totals.count, "registeredQuantity": totals.quantity,
                "registrationsByRemedy": totals.by_remedy, "publicPageUrl": url}


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    registry.register(RecallRegistrationsCount(context))
