"""ERP, QMS and CRM connectors: one class per operation, typed input, `local` or `http` backend."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from integrations import recall_progress, recall_registrations
from integrations.http_client import SystemClient
from integrations.local_ledger import apply_once
from integrations.local_models import StockLevel
from integrations.registry import BusinessError, ConnectorRegistry, IntegrationContext, JobContext


def parse_input(cls, variables: dict[str, Any], topic: str):
    """Build the input dataclass; a missing or mistyped field is a modelling error → BPMN error."""
    values, problems = {}, []
    for item in fields(cls):
        if item.name in variables and variables[item.name] is not None:
            try:
                values[item.name] = _cast(item.type, variables[item.name])
            except (TypeError, ValueError):
                problems.append(f"{item.name} must be {item.type}")
        elif item.default is MISSING and item.default_factory is MISSING:
            problems.append(f"{item.name} is required")
    if problems:
        raise BusinessError("E_INVALID_INPUT", f"{topic}: " + "; ".join(problems))
    return cls(**values)


def _cast(type_name: str, value: Any) -> Any:
    """Field annotations are strings here (postponed evaluation): cast by their name."""
    kind = type_name.split("|")[0].strip()
    if kind == "str":
        return str(value)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return value


@dataclass(frozen=True)
class StockMove:
    sku: str
    quantity: float
    location: str = "main"
    lot: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Quarantine:
    sku: str
    quantity: float
    lot: str = ""
    location: str = "main"
    reason: str = ""


@dataclass(frozen=True)
class CreditNote:
    orderNumber: str
    amount: float
    currency: str = "EUR"
    customer: str = ""


@dataclass(frozen=True)
class ReplacementOrder:
    orderNumber: str
    sku: str
    quantity: float = 1
    customer: str = ""


@dataclass(frozen=True)
class TicketCreate:
    title: str
    severity: str = "minor"
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class TicketUpdate:
    ticketId: str
    status: str
    note: str = ""


@dataclass(frozen=True)
class Activity:
    customer: str
    kind: str
    text: str = ""


class BusinessConnector:
    """Shared run(): parse input, then the local ledger or the remote system, with the job's key."""

    topic: ClassVar[str]
    system: ClassVar[str]
    kind: ClassVar[str]
    input_type: ClassVar[type]
    method: ClassVar[str] = "POST"
    path: ClassVar[str]

    def __init__(self, context: IntegrationContext, client: SystemClient | None):
        self.context = context
        self.client = client
        self.timeout = getattr(context.settings, self.system).timeout

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        request = parse_input(self.input_type, variables, self.topic)
        payload = {f.name: getattr(request, f.name) for f in fields(request)}
        if self.client is not None:
            return self.client.call(self.method, self.path.format(**payload), payload, job.idempotency_key)
        return apply_once(self.context.sessions, self.context.now(), system=self.system, kind=self.kind,
                          key=job.idempotency_key, payload=payload,
                          effect=lambda session, reference: self.apply_locally(session, request, reference))

    def apply_locally(self, session: Session, request, reference: str) -> dict[str, Any]:
        return {}


def _stock_row(session: Session, sku: str, lot: str, location: str) -> StockLevel:
    row = session.get(StockLevel, (sku, lot, location), with_for_update=True)
    if row is None:
        row = StockLevel(sku=sku, lot=lot, location=location, on_hand=Decimal(0), quarantined=Decimal(0))
        session.add(row)
    return row


class AdjustStock(BusinessConnector):
    topic, system, kind, input_type, path = "erp.adjust_stock", "erp", "stock_movement", StockMove, "stock-movements"

    def apply_locally(self, session, request: StockMove, reference):
        row = _stock_row(session, request.sku, request.lot, request.location)
        row.on_hand = Decimal(row.on_hand or 0) + Decimal(str(request.quantity))
        return {"movementId": reference, "onHand": float(row.on_hand)}


class QuarantineStock(BusinessConnector):
    topic, system, kind, input_type, path = "erp.quarantine_stock", "erp", "quarantine", Quarantine, "quarantines"

    def apply_locally(self, session, request: Quarantine, reference):
        row = _stock_row(session, request.sku, request.lot, request.location)
        moved = min(Decimal(str(request.quantity)), Decimal(row.on_hand or 0))
        row.on_hand = Decimal(row.on_hand or 0) - moved
        row.quarantined = Decimal(row.quarantined or 0) + moved
        return {"quarantineId": reference, "quarantined": float(moved), "onHand": float(row.on_hand)}


class CreateCreditNote(BusinessConnector):
    topic, system, kind, input_type, path = "erp.create_credit_note", "erp", "credit_note", CreditNote, "credit-notes"

    def apply_locally(self, session, request: CreditNote, reference):
        if request.amount <= 0:
            raise BusinessError("E_REFUND_REJECTED", "a credit note needs a positive amount")
        return {"creditNoteId": reference, "amount": request.amount, "currency": request.currency}


class CreateReplacementOrder(BusinessConnector):
    topic, system, kind = "erp.create_replacement_order", "erp", "replacement_order"
    input_type, path = ReplacementOrder, "replacement-orders"

    def apply_locally(self, session, request: ReplacementOrder, reference):
        return {"replacementOrderId": reference}


class CreateTicket(BusinessConnector):
    topic, system, kind, input_type, path = "qms.create_ticket", "qms", "ticket", TicketCreate, "tickets"

    def apply_locally(self, session, request: TicketCreate, reference):
        return {"ticketId": reference, "status": "open"}


class UpdateTicket(BusinessConnector):
    topic, system, kind, input_type, path = "qms.update_ticket", "qms", "ticket_update", TicketUpdate, \
        "tickets/{ticketId}/updates"

    def apply_locally(self, session, request: TicketUpdate, reference):
        return {"ticketId": request.ticketId, "status": request.status}


class LogActivity(BusinessConnector):
    topic, system, kind, input_type, path = "crm.log_activity", "crm", "activity", Activity, "activities"

    def apply_locally(self, session, request: Activity, reference):
        return {"activityId": reference}


CONNECTORS = (AdjustStock, QuarantineStock, CreateCreditNote, CreateReplacementOrder, CreateTicket, UpdateTicket,
              LogActivity)


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    """Register every business connector with the backend the settings choose for its system."""
    clients: dict[str, SystemClient | None] = {}
    for name in ("erp", "qms", "crm"):
        system_settings = getattr(context.settings, name)
        clients[name] = SystemClient(name, system_settings) if system_settings.backend == "http" else None
    for connector_class in CONNECTORS:
        registry.register(connector_class(context, clients[connector_class.system]))
    # the recall's effectiveness figures, RMA outcomes and public page registrations: registered with the business
    # connectors the recall uses
    recall_progress.register_builtin(registry, context)
    recall_registrations.register_builtin(registry, context)
