"""What a recall case tells the public: read from the case's latest variables, defensively (the model may grow
or rename fields; a missing one is left out, never an error). Internal numbers (ticket, business key, case id)
never leave this module.

Variables read: sku, productModel, productName, lotNumber, affectedLots, serialRanges, recallClass,
hazardDescription, consumerInstructions, remedy, remedyOptions, coordinatorContact, customerLanguage,
strategyApproved; the case counts as notified once `strategyApproved` is true or a notify.campaign job exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from integrations.notify.acks import REMEDIES
from integrations.recall_registrations import instance_of_page
from orchestrator.models import InstanceStatus, Job, ProcessDefinition, ProcessInstance

RECALL_PROCESS = "recall"
NOTICE_TOPIC = "notify.campaign"
# the model's spelling of a remedy → the code the acknowledgement page and registrations use
REMEDY_CODES = {"repair": "repair", "replace": "replace", "replacement": "replace", "refund": "refund"}


@dataclass(frozen=True)
class PublicRecall:
    """The public face of one recall case."""

    public_id: str
    instance_id: str
    product: str
    sku: str | None
    model: str | None
    lots: list[tuple[str, str]] = field(default_factory=list)  # (product SKU, lot)
    serial_ranges: list[str] = field(default_factory=list)
    recall_class: str | None = None
    hazard: str | None = None
    instructions: str | None = None
    remedies: list[str] = field(default_factory=lambda: list(REMEDIES))
    offered_remedy: str | None = None
    contact: str | None = None
    language: str | None = None
    ended: bool = False

    @property
    def urgent(self) -> bool:
        return self.recall_class in ("I", "II")


def _text(value: Any) -> str | None:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def _texts(value: Any) -> list[str]:
    """A list of short texts from a string, a list of strings, or a list of {"from", "to"} / {"lot"} objects."""
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",")]
    if not isinstance(value, list):
        return []
    found = []
    for item in value:
        if isinstance(item, dict):
            if item.get("from") or item.get("to"):
                text = f"{_text(item.get('from')) or '…'} – {_text(item.get('to')) or '…'}"
            else:
                text = _text(item.get("lot")) or _text(item.get("serial"))
        else:
            text = _text(item)
        if text and text not in found:
            found.append(text)
    return found


def product_label(variables: dict[str, Any]) -> str | None:
    """The product as a buyer knows it: its name or model, with the SKU beside it."""
    sku = _text(variables.get("sku"))
    name = _text(variables.get("productName")) or _text(variables.get("productModel"))
    if name and sku and sku != name:
        return f"{name} ({sku})"
    return name or sku


def _remedies(variables: dict[str, Any]) -> tuple[list[str], str | None]:
    offered = REMEDY_CODES.get(_text(variables.get("remedy")) or "")
    listed = [REMEDY_CODES[r] for r in _texts(variables.get("remedyOptions")) if r in REMEDY_CODES]
    remedies = listed or list(REMEDIES)
    if offered:  # the strategy's remedy first; the buyer may still choose another (GPSR Art. 37)
        remedies = [offered, *(r for r in remedies if r != offered)]
    return remedies, offered


def _lots(variables: dict[str, Any], sku: str | None) -> list[tuple[str, str]]:
    """(product, lot) pairs: the traced scope's "SKU/lot" entries, else the suspect lot of the SKU."""
    pairs = []
    for entry in _texts(variables.get("affectedLots")) or _texts(variables.get("lotNumber")):
        product, _, lot = entry.rpartition("/")
        pair = (product or sku or "", lot)
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def notified(session: Session, instance: ProcessInstance) -> bool:
    """Has the recall reached the notification stage (approved strategy, or a notice on its way)?"""
    if instance.status == InstanceStatus.CANCELLED:
        return False
    if (instance.variables or {}).get("strategyApproved") is True:
        return True
    return session.scalar(select(Job.id).where(Job.instance_id == instance.id, Job.topic == NOTICE_TOPIC)
                          .limit(1)) is not None


def recall_case(session: Session, instance_id: str) -> ProcessInstance | None:
    """The recall case with this id (any other process: None)."""
    return session.scalar(select(ProcessInstance).options(defer(ProcessInstance.state))
                          .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                          .where(ProcessInstance.id == instance_id, ProcessDefinition.key == RECALL_PROCESS))


def public_recall(session: Session, public_id: str) -> PublicRecall | None:
    """The public page's content; None unless the id names a recall that has reached notification."""
    instance_id = instance_of_page(session, public_id)
    instance = recall_case(session, instance_id) if instance_id else None
    if instance is None or not notified(session, instance):
        return None
    return describe(public_id, instance)


def describe(public_id: str, instance: ProcessInstance) -> PublicRecall:
    variables = instance.variables or {}
    sku = _text(variables.get("sku"))
    remedies, offered = _remedies(variables)
    return PublicRecall(
        public_id=public_id, instance_id=instance.id, product=product_label(variables) or "", sku=sku,
        model=_text(variables.get("productName")) or _text(variables.get("productModel")),
        lots=_lots(variables, sku), serial_ranges=_texts(variables.get("serialRanges")),
        recall_class=_text(variables.get("recallClass")), hazard=_text(variables.get("hazardDescription")),
        instructions=_text(variables.get("consumerInstructions")), remedies=remedies, offered_remedy=offered,
        contact=_text(variables.get("coordinatorContact")), language=_text(variables.get("customerLanguage")),
        ended=instance.status == InstanceStatus.COMPLETED,
    )


def product_of_case(session: Session, instance_id: str | None) -> str | None:
    """The product a notification of this case is about: the case's product fields, else the `product` its
    notice jobs were given (any process that sends notices)."""
    if not instance_id:
        return None
    variables = session.scalar(select(ProcessInstance.variables).where(ProcessInstance.id == instance_id))
    label = product_label(variables or {})
    if label:
        return label
    inputs: Iterable[dict] = session.scalars(select(Job.input).where(Job.instance_id == instance_id,
                                                                    Job.topic.like("notify.%")).order_by(Job.id))
    for job_input in inputs:
        notice_variables = (job_input or {}).get("variables")
        if isinstance(notice_variables, dict) and _text(notice_variables.get("product")):
            return _text(notice_variables["product"])
    return None
