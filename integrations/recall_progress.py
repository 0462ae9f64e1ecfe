"""Recall effectiveness figures (21 CFR 7.53(b), GPSR Art. 37) computed from what was recorded, not typed:
who was notified and answered (the notify campaigns and their acknowledgements) and which units left the
field (trace events: returning, repairing, destroying), counted against the scope per audience.

`trace.record_event` puts a recall RMA's outcome into the same trace store, so units that came back through
an RMA and units a distributor destroyed are counted the same way.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from integrations.notify.models import Campaign, Notification, campaign_family
from integrations.registry import BusinessError, ConnectorRegistry, IntegrationContext, JobContext
from integrations.traceability.models import TraceEvent

AUDIENCES = ("trade", "consumers")
# EPCIS business steps (GS1 CBV) and dispositions that take a unit out of the field, by what they count as
OUTCOME_STEPS = {"returning": "returned", "repairing": "corrected", "destroying": "destroyed"}
OUTCOME_DISPOSITIONS = {"returned": "returned", "destroyed": "destroyed"}
OUTCOMES = ("returned", "corrected", "destroyed")


def audience_of(kind: str | None) -> str:
    """Consumers are end customers; distributors, retailers and unknown consignees are the trade."""
    return "consumers" if kind == "consumer" else "trade"


def _text(variables: dict[str, Any], name: str) -> str:
    value = variables.get(name)
    return "" if value is None else str(value).strip()


def _consignees(variables: dict[str, Any]) -> list[dict[str, Any]]:
    consignees = variables.get("consignees") or []
    if not isinstance(consignees, list) or not all(isinstance(c, dict) and c.get("id") for c in consignees):
        raise BusinessError("E_INVALID_INPUT", "recall.progress: consignees must be a list of {id, kind, quantity}")
    return consignees


def _lots(variables: dict[str, Any]) -> set[tuple[str, str]]:
    lots = variables.get("affectedLots") or []
    if isinstance(lots, str):
        lots = [lots]
    found = {tuple(str(item).split("/", 1)) for item in lots if "/" in str(item)}
    if not found:
        raise BusinessError("E_INVALID_INPUT", "recall.progress: affectedLots must name at least one 'sku/lot'")
    return found


def _answers(session, campaign_id: str) -> tuple[int, list[Notification]]:
    """Recipients the notice reached, and each recipient's recorded acknowledgement (notice or reminder)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise BusinessError("E_INVALID_INPUT", f"recall.progress: campaign {campaign_id!r} does not exist")
    notified = len(set(session.scalars(select(Notification.recipient_id).where(
        Notification.campaign_id == campaign_id, Notification.sent_at.is_not(None)))))
    answered: dict[str, Notification] = {}
    for notification in session.scalars(
            select(Notification).where(Notification.campaign_id.in_(campaign_family(campaign_id)),
                                       Notification.acknowledged_at.is_not(None)).order_by(Notification.id)):
        answered.setdefault(notification.recipient_id, notification)
    return notified, list(answered.values())


def _outcome(event: TraceEvent) -> str | None:
    return OUTCOME_STEPS.get(event.biz_step or "") or OUTCOME_DISPOSITIONS.get(event.disposition or "")


def _units(event: TraceEvent) -> float:
    return float(len(event.epcs)) if event.epcs else float(event.quantity or 0)


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


class RecallProgress:
    """Input: consignees and affectedLots (the scope), partnerCampaignId / consumerCampaignId (the notices sent),
    rmaPrefix (how the recall numbers its RMAs); output: `recallProgress` with figures per audience and in total."""

    topic = "recall.progress"
    system = None  # reads Loopline's own notify and trace stores
    timeout = 60.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        with self.context.sessions() as session:
            return {"recallProgress": progress_figures(session, variables)}


def notice_reach(session, campaign_id: str) -> dict[str, int]:
    """Recipients of a notice it was sent to, delivered to and opened by (each recipient once)."""
    reach = {}
    for name, column in (("notified", Notification.sent_at), ("delivered", Notification.delivered_at),
                         ("opened", Notification.opened_at)):
        reach[name] = session.scalar(select(func.count(func.distinct(Notification.recipient_id))).where(
            Notification.campaign_id == campaign_id, column.is_not(None)))
    return reach


def progress_figures(session, variables: dict[str, Any]) -> dict[str, Any]:
    """The recall's figures per audience and in total, and its RMAs, from its scope variables, the notify rows
    of its campaigns and the trace events of its consignees (BusinessError when the scope is not known)."""
    consignees = _consignees(variables)
    lots = _lots(variables)
    kind_of = {str(c["id"]): c.get("kind") for c in consignees}
    figures = {audience: {"scopeQuantity": 0.0, "consignees": 0, "notified": 0, "responded": 0,
                          "quantityOnHand": 0, "remedies": {}, **{o: 0.0 for o in OUTCOMES}}
               for audience in AUDIENCES}
    for consignee in consignees:
        bucket = figures[audience_of(consignee.get("kind"))]
        bucket["scopeQuantity"] += float(consignee.get("quantity") or 0)
        bucket["consignees"] += 1
    remedies: dict[str, Counter] = {audience: Counter() for audience in AUDIENCES}
    rmas = []
    prefix = _text(variables, "rmaPrefix")
    for audience, name in (("trade", "partnerCampaignId"), ("consumers", "consumerCampaignId")):
        campaign_id = _text(variables, name)
        if not campaign_id:
            continue  # that notice was not sent (no such audience, or not at this depth)
        notified, answers = _answers(session, campaign_id)
        figures[audience]["notified"] = notified
        figures[audience]["responded"] = len(answers)
        figures[audience]["quantityOnHand"] = sum(a.ack_quantity or 0 for a in answers)
        remedies[audience].update(a.ack_remedy for a in answers if a.ack_remedy)
        if audience == "consumers" and prefix:
            rmas.extend({"rmaNumber": prefix + a.recipient_id, "recipientId": a.recipient_id,
                         "remedy": a.ack_remedy} for a in answers if a.ack_remedy)
    events = list(session.scalars(select(TraceEvent).where(
        TraceEvent.biz_location.in_(list(kind_of)) if kind_of else TraceEvent.id.is_(None))))
    settled = {e.event_id: _outcome(e) for e in events if e.event_id}
    counted_units: set[str] = set()
    for event in sorted(events, key=lambda e: e.event_time, reverse=True):  # a unit counts by its latest outcome
        outcome = _outcome(event)
        if not outcome or (event.sku or "", event.lot or "") not in lots:
            continue
        units = [epc for epc in (event.epcs or []) if epc not in counted_units]
        if event.epcs and not units:
            continue  # every unit named here already counted under a later outcome
        counted_units.update(units)
        amount = float(len(units)) if event.epcs else _units(event)
        figures[audience_of(kind_of.get(event.biz_location or ""))][outcome] += amount
    for audience in AUDIENCES:
        bucket = figures[audience]
        bucket["remedies"] = dict(sorted(remedies[audience].items()))
        bucket["accounted"] = sum(bucket[o] for o in OUTCOMES)
        bucket["nonResponders"] = max(bucket["notified"] - bucket["responded"], 0)
        bucket["percentOfScope"] = _percent(bucket["accounted"], bucket["scopeQuantity"])
    total = {name: sum(figures[a][name] for a in AUDIENCES)
             for name in ("scopeQuantity", "consignees", "notified", "responded", "quantityOnHand",
                          "nonResponders", "accounted", *OUTCOMES)}
    total["percentOfScope"] = _percent(total["accounted"], total["scopeQuantity"])
    for rma in rmas:
        rma["outcome"] = settled.get(rma["rmaNumber"]) or "open"
    return {**figures, "total": total, "rmas": sorted(rmas, key=lambda r: r["rmaNumber"])}


class RecordTraceEvent:
    """Input: eventId (once per id), bizStep (returning / repairing / destroying …), sku, lot, quantity, location
    (the consignee), serial?; output: traceEventId. Records what an RMA or a partner did with recalled units."""

    topic = "trace.record_event"
    system = None
    timeout = 30.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        event_id, step = _text(variables, "eventId"), _text(variables, "bizStep")
        problems = [f"{name} is required" for name, value in
                    (("eventId", event_id), ("bizStep", step), ("sku", _text(variables, "sku")),
                     ("lot", _text(variables, "lot")), ("location", _text(variables, "location"))) if not value]
        try:
            quantity = float(variables.get("quantity") or 0)
            if quantity < 0 or not math.isfinite(quantity):
                raise ValueError
        except (TypeError, ValueError):
            problems.append("quantity must be a number of at least 0")
            quantity = 0.0
        for name, limit in (("eventId", 100), ("bizStep", 40), ("sku", 100), ("lot", 100), ("location", 100),
                            ("serial", 100), ("disposition", 40)):  # what the trace event's columns hold
            if len(_text(variables, name)) > limit:
                problems.append(f"{name} must be at most {limit} characters")
        if problems:
            raise BusinessError("E_INVALID_INPUT", "trace.record_event: " + "; ".join(problems))
        serial = _text(variables, "serial")
        with self.context.sessions() as session:
            existing = session.scalar(select(TraceEvent.id).where(TraceEvent.event_id == event_id))
            if existing is not None:  # the same outcome told twice (a retried job): recorded once
                return {"traceEventId": existing}
            event = TraceEvent(event_id=event_id, kind="object", action="OBSERVE", event_time=self.context.now(),
                               biz_step=step, disposition=_text(variables, "disposition") or None,
                               biz_location=_text(variables, "location"), sku=_text(variables, "sku"),
                               lot=_text(variables, "lot"), quantity=quantity, epcs=[serial] if serial else [])
            session.add(event)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return {"traceEventId": session.scalar(select(TraceEvent.id).where(TraceEvent.event_id == event_id))}
            return {"traceEventId": event.id}


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    registry.register(RecallProgress(context))
    registry.register(RecordTraceEvent(context))
