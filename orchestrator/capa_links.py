"""One open CAPA per problem: a request for a CAPA whose fault code and lot already have an open one joins it
(the case is linked to that CAPA and said so in its history) instead of opening a second; and the counts a
CAPA needs from the data: the cases of its problem since it opened, or since its fix was implemented.

The return process requests a CAPA by sending `CapaRequested` through `loopline.send_message`; the engine's
sender is replaced here by one that finds-or-starts for that message (any other message goes as before). A
model may also call `capa.request` directly, and `capa.count_cases` counts for the D7/D8 steps."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.registry import BusinessError, JobContext
from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.comments import COMMENT_EVENT
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import EngineError, NotFound
from orchestrator.instances import Instances, check_variables, latest_definition
from orchestrator.message_connector import SendMessage
from orchestrator.models import InstanceStatus, ProcessDefinition, ProcessInstance
from orchestrator.quality_events import QualityCase, fault_counts, model_of, quality_cases
from orchestrator.quality_models import CapaCaseLink

CAPA_KEY = "capa"
CAPA_REQUESTED = "CapaRequested"
REQUESTER = Actor.system("capa-request")


@dataclass(frozen=True)
class CapaRequest:
    """Where a request for a CAPA went: a CAPA started now, or the open one it joined."""

    instance_id: str
    started: bool
    joined: bool


class CapaLinks(CommandGroup):
    def __init__(self, core: EngineCore, instances: Instances):
        super().__init__(core)
        self.instances = instances

    def request_capa(self, variables: dict[str, Any], *, actor: Actor, business_key: str | None = None,
                     idempotency_key: str | None = None) -> CapaRequest:
        """Start a CAPA by its CapaRequested message, unless the fault code and lot in `variables` have an open
        CAPA: then the case (source + sourceReference) joins that one. A retried request answers the same."""
        require(actor, Permission.CORRELATE)
        variables = check_variables(variables)
        case = _case_of(variables, business_key, self.core.settings.recall_signal_model_pattern, self.core.now())
        with self.core.db.transaction() as session:
            if idempotency_key:
                started = session.scalar(select(ProcessInstance.id).where(
                    ProcessInstance.idempotency_key == idempotency_key))
                if started is not None:
                    return CapaRequest(started, started=True, joined=False)
            joinable = bool(case.lot) and fault_counts(case.fault_code)
            if joinable:
                open_id = self.join_or_open(session, case, actor=actor, open_if_none=False)
                if open_id is not None:
                    return CapaRequest(open_id, started=False, joined=True)
            definition = latest_definition(session, CAPA_KEY)
            if CAPA_REQUESTED not in (session.get(ProcessDefinition, definition.id).start_messages or []):
                raise NotFound(f"process '{CAPA_KEY}' does not start with message '{CAPA_REQUESTED}'")
            row = self.instances.start_in(session, definition, actor, business_key, variables, idempotency_key,
                                          message=(CAPA_REQUESTED, variables))
            if joinable:
                self._add_link(session, row.id, case, actor, joined=False)
            return CapaRequest(row.id, started=True, joined=False)

    def join_or_open(self, session: Session, case: QualityCase, *, actor: Actor, open_if_none: bool) -> str | None:
        """In the caller's transaction: link the case to the open CAPA of its fault code and lot and return that
        CAPA's id; with none open, start one when `open_if_none`, else return None."""
        _serialize_problem(session, case.fault_code, case.lot)
        open_id = self.open_capa(session, case.fault_code, case.lot)
        if open_id is not None:
            if self._add_link(session, open_id, case, actor, joined=True):
                with self.core.command(open_id, actor, session=session, restore=False) as ctx:
                    ctx.record(COMMENT_EVENT, text=_joined_text(case), linkedCase=case.as_variable())
            return open_id
        if not open_if_none:
            return None
        variables = {"source": case.kind, "sourceReference": case.reference, "sku": case.sku,
                     "productModel": case.model, "lotNumber": case.lot, "faultCode": case.fault_code}
        row = self.instances.start_in(session, latest_definition(session, CAPA_KEY), actor,
                                      f"CAPA-{case.reference}"[:200], variables, None,
                                      message=(CAPA_REQUESTED, variables))
        self._add_link(session, row.id, case, actor, joined=False)
        return row.id

    def open_capa(self, session: Session, fault_code: str, lot: str) -> str | None:
        """The oldest running CAPA of this fault code and lot (also one raised by hand), or None."""
        rows = session.execute(
            select(ProcessInstance.id, ProcessInstance.variables)
            .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessDefinition.key == CAPA_KEY, ProcessInstance.status == InstanceStatus.RUNNING)
            .order_by(ProcessInstance.started_at, ProcessInstance.id)
        ).all()
        for instance_id, variables in rows:
            variables = variables or {}
            if (_text(variables.get("faultCode")), _text(variables.get("lotNumber"))) == (fault_code, lot):
                return instance_id
        return None

    def linked_cases(self, capa_instance_id: str) -> list[CapaCaseLink]:
        """The cases that raised or joined a CAPA, in the order they came."""
        with self.core.db.reading() as session:
            return list(session.scalars(select(CapaCaseLink).where(
                CapaCaseLink.capa_instance_id == capa_instance_id).order_by(CapaCaseLink.id)))

    def count_cases(self, capa_instance_id: str, since: datetime | None = None) -> dict[str, Any]:
        """The cases with the CAPA's fault code on its lot or its product model since `since` (default: since
        the CAPA opened), and the cases linked to it, as the D7/D8 steps show them."""
        with self.core.db.reading() as session:
            row = session.get(ProcessInstance, capa_instance_id)
            if row is None:
                raise NotFound(f"process instance '{capa_instance_id}' does not exist")
            variables = row.variables or {}
            since = since or row.started_at
            fault, lot, sku = (_text(variables.get(name)) for name in ("faultCode", "lotNumber", "sku"))
            model = _text(variables.get("productModel")) or (
                model_of(sku, self.core.settings.recall_signal_model_pattern) if sku else "")
            cases = quality_cases(session, since, self.core.settings.recall_signal_model_pattern, fault) \
                if fault_counts(fault) else []
            on_lot = [case for case in cases if lot and case.lot == lot]
            on_model = [case for case in cases if model and case.model == model]
            counted = [case for case in cases if case in on_lot or case in on_model]
            links = list(session.scalars(select(CapaCaseLink).where(
                CapaCaseLink.capa_instance_id == capa_instance_id).order_by(CapaCaseLink.id)))
        return {"caseCount": len(counted), "lotCaseCount": len(on_lot), "modelCaseCount": len(on_model),
                "recurred": bool(counted), "since": since.isoformat(), "productModel": model,
                "cases": [_case_line(case) for case in counted],
                "linkedCases": [f"{link.kind} {link.reference}" for link in links]}

    def _add_link(self, session: Session, capa_id: str, case: QualityCase, actor: Actor, *, joined: bool) -> bool:
        """Record the link once (a retried request finds it); False when it was already there."""
        existing = session.scalar(select(CapaCaseLink.id).where(
            CapaCaseLink.capa_instance_id == capa_id, CapaCaseLink.kind == case.kind,
            CapaCaseLink.reference == case.reference))
        if existing is not None:
            return False
        try:
            with session.begin_nested():
                session.add(CapaCaseLink(capa_instance_id=capa_id, kind=case.kind, reference=case.reference[:200],
                                         sku=case.sku[:100], lot_number=case.lot[:100],
                                         fault_code=case.fault_code[:100], joined=joined,
                                         linked_at=self.core.now(), linked_by=actor.name))
        except IntegrityError:
            return False
        return True


class CapaRequestingSendMessage(SendMessage):
    """`loopline.send_message` that finds-or-starts for CapaRequested and delivers every other message as the
    engine's sender does."""

    def __init__(self, engine, capa_links: CapaLinks):
        super().__init__(engine)
        self.capa_links = capa_links

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        if variables.get("messageName") != CAPA_REQUESTED:
            return super().run(variables, job)
        return _request(self.capa_links, variables, job)


class RequestCapa:
    """`capa.request`: input businessKey?, variables (source, sourceReference, sku, lotNumber, faultCode, …);
    output where the request went (messageDeliveredTo, messageStartedInstance, capaJoined)."""

    topic = "capa.request"
    system = None
    timeout = 30.0

    def __init__(self, capa_links: CapaLinks):
        self.capa_links = capa_links

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        return _request(self.capa_links, variables, job)


class CountCapaCases:
    """`capa.count_cases`: input since? (a date or date-time; default: when the CAPA opened); output caseCount,
    lotCaseCount, modelCaseCount, recurred, cases, linkedCases, since."""

    topic = "capa.count_cases"
    system = None
    timeout = 30.0

    def __init__(self, capa_links: CapaLinks):
        self.capa_links = capa_links

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        since = variables.get("since")
        try:
            moment = _moment(since) if since not in (None, "") else None
        except ValueError as exc:
            raise BusinessError("E_INVALID_INPUT", f"capa.count_cases: since {since!r} is no date") from exc
        return self.capa_links.count_cases(job.instance_id, moment)


def install(engine, capa_links: CapaLinks) -> None:
    """Register the CAPA connectors; a site's or test's own connector for a topic is left in place."""
    registry = engine.connectors
    for connector in (CapaRequestingSendMessage(engine, capa_links), RequestCapa(capa_links),
                      CountCapaCases(capa_links)):
        if connector.topic not in registry.connectors:
            registry.register(connector)


def _request(capa_links: CapaLinks, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
    payload = variables.get("variables") or {}
    if not isinstance(payload, dict):
        raise BusinessError("E_INVALID_INPUT", "a CAPA request's variables must be a map")
    try:
        result = capa_links.request_capa(payload, actor=REQUESTER, business_key=variables.get("businessKey"),
                                         idempotency_key=job.idempotency_key)
    except NotFound as exc:
        raise BusinessError("E_MESSAGE_NOT_DELIVERED", exc.message) from exc
    except EngineError as exc:
        raise BusinessError("E_MESSAGE_REJECTED", exc.message) from exc
    return {"messageDeliveredTo": result.instance_id, "messageStartedInstance": result.started,
            "capaJoined": result.joined}


def _case_of(variables: dict[str, Any], business_key: str | None, model_pattern: str, now: datetime) -> QualityCase:
    sku = _text(variables.get("sku"))
    return QualityCase(
        kind=(_text(variables.get("source")) or "request")[:20],  # what a link row holds
        reference=_text(variables.get("sourceReference")) or business_key or "",
        sku=sku, model=_text(variables.get("productModel")) or model_of(sku, model_pattern),
        lot=_text(variables.get("lotNumber")), fault_code=_text(variables.get("faultCode")), at=now)


def _serialize_problem(session: Session, fault_code: str, lot: str) -> None:
    """Let one request at a time look for the open CAPA of a problem, so two at once never open two. SQLite
    transactions already write one at a time; PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"capa\x00{fault_code}\x00{lot}".encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": int.from_bytes(digest[:8], "big", signed=True)})


def _joined_text(case: QualityCase) -> str:
    return (f"{case.kind.capitalize()} {case.reference} (fault {case.fault_code}, lot {case.lot}) joined this "
            f"CAPA instead of opening another.")


def _case_line(case: QualityCase) -> str:
    lot = f", lot {case.lot}" if case.lot else ""
    return f"{case.kind} {case.reference} ({case.sku}{lot}, {case.at.date().isoformat()})"


def _moment(value: Any) -> datetime:
    """A date (midnight UTC) or an ISO date-time (UTC when it names no zone)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), UTC)
    else:
        textual = str(value).strip()
        moment = (datetime.combine(date.fromisoformat(textual), time(), UTC) if len(textual) == 10
                  else datetime.fromisoformat(textual))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""
