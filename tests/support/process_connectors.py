"""Recording connectors for every topic the models in bpmn/ use, answering like the real systems.

Load with LOOPLINE_CONNECTORS / `connector_modules=("tests.support.process_connectors",)`; they are registered
after the built-in connectors and replace them. Each call is recorded in the shared test ledger (which
honours the idempotency key like a real ERP) and follows the ledger's scripted outcomes first:

    ledger.script("erp.adjust_stock", "business:E_STOCK_POSTING")    # the ERP says no -> BPMN error
    ledger.script("notify.campaign_status", 'result:{"acknowledged": 2}')  # override result values
    ledger.script("notify.campaign_status@CMP-00004", 'result:{"acknowledged": 1}')  # only for that campaign

A `topic@campaignId` script is used first for that campaign's `notify.campaign_status` (the recall follows up
the trade and the consumer campaign side by side, so their checks run in the same round).

Results have the shapes of the built-in connectors (integrations/business.py, integrations/notify,
integrations/traceability), so output mappings in the models are exercised for real.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from integrations.registry import BusinessError, JobContext, TransientError
from tests.support.connectors import Ledger, LedgerConnector

# The shape of integrations/traceability/scope.py: `contact` is the shipment's {email, phone, name} or None.
SCOPE_CONSIGNEES = [
    {
        "id": "GLN-4012345000009",
        "name": "Nordlicht Distribution",
        "kind": "distributor",
        "contact": {"email": "recalls@nordlicht.example"},
        "quantity": 1200.0,
        "lots": ["KETTLE-2/L-7"],
    },
    {
        "id": "GLN-4012345000016",
        "name": "Kaufhaus Mitte",
        "kind": "retailer",
        "contact": {"email": "qa@kaufhaus-mitte.example"},
        "quantity": 600.0,
        "lots": ["KETTLE-2/L-7"],
    },
    {
        "id": "CUST-881",
        "name": "Ada Lovelace",
        "kind": "consumer",
        "contact": {"phone": "+4915112345678", "name": "Ada Lovelace"},
        "quantity": 1.0,
        "lots": ["KETTLE-2/L-7"],
    },
    {
        "id": "CUST-882",
        "name": "",
        "kind": "consumer",
        "contact": None,
        "quantity": 1.0,
        "lots": ["KETTLE-2/L-7"],
    },
]


def _ref(prefix: str, context: JobContext) -> str:
    return f"{prefix}-{context.job_id:05d}"


def _scope(variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
    return {
        "scope": {
            "lots": [f"{variables.get('sku')}/{variables.get('lot')}"],
            "units": [],
            "unitCount": 1802,
            "shippedUnits": 1802,
            "quantity": 1802.0,
            "consignees": SCOPE_CONSIGNEES,
            "consigneeCount": len(SCOPE_CONSIGNEES),
            "identifiableCustomers": sum(
                1 for c in SCOPE_CONSIGNEES if c["kind"] == "consumer" and c["contact"]
            ),
        }
    }


def _campaign(variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
    recipients = variables.get("recipients") or []
    if not isinstance(recipients, list) or not recipients:
        raise BusinessError("E_INVALID_INPUT", "notify.campaign: recipients must be a non-empty list")
    return {
        "campaignId": _ref("CMP", context),
        "recipients": len(recipients),
        "sent": len(recipients),
        "failed": 0,
        "unreachable": 0,
        "messagesSent": len(recipients),
        "messagesFailed": 0,
    }


def _campaign_status(variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
    return {
        "campaignStatus": {
            "campaignId": variables.get("campaignId"),
            "recipients": 2,
            "sent": 2,
            "delivered": 2,
            "failed": 0,
            "opened": 1,
            "clicked": 1,
            "acknowledged": 0,
            "unreachable": 0,
        }
    }


def _message(channel: str) -> Callable[[dict[str, Any], JobContext], dict[str, Any]]:
    def result(variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        return {
            "notificationId": _ref("N", context),
            "channel": channel,
            "status": "sent",
            "providerMessageId": _ref(channel.upper(), context),
        }

    return result


RESULTS: dict[str, Callable[[dict[str, Any], JobContext], dict[str, Any]]] = {
    "erp.adjust_stock": lambda v, c: {"movementId": _ref("SM", c), "onHand": float(v.get("quantity") or 0)},
    "erp.quarantine_stock": lambda v, c: {
        "quarantineId": _ref("QS", c),
        "quarantined": float(v.get("quantity") or 0),
        "onHand": 0.0,
    },
    "erp.create_credit_note": lambda v, c: {
        "creditNoteId": _ref("CN", c),
        "amount": v.get("amount"),
        "currency": v.get("currency", "EUR"),
    },
    "erp.create_replacement_order": lambda v, c: {"replacementOrderId": _ref("RO", c)},
    "qms.create_ticket": lambda v, c: {"ticketId": _ref("QMS", c), "status": "open"},
    "qms.update_ticket": lambda v, c: {"ticketId": v.get("ticketId"), "status": v.get("status")},
    "crm.log_activity": lambda v, c: {"activityId": _ref("ACT", c)},
    "notify.email": _message("email"),
    "notify.sms": _message("sms"),
    "notify.campaign": _campaign,
    "notify.campaign_status": _campaign_status,
    "trace.recall_scope": _scope,
    "loopline.send_message": lambda v, c: {"messageSent": True},
}
TOPICS = tuple(RESULTS)


class ProcessConnector(LedgerConnector):
    """A ledger connector that answers like the system behind its topic."""

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        self.ledger.record_call(context)
        outcome = self._scripted(variables) or ""
        if outcome == "transient":
            raise TransientError("scripted transient failure")
        if outcome.startswith("business:"):
            raise BusinessError(outcome.split(":", 1)[1], "scripted business rejection")
        self.ledger.apply_once(context, json.dumps(variables, sort_keys=True, default=str))
        result = RESULTS[self.topic](variables, context)
        if outcome.startswith("result:"):
            override = json.loads(outcome.split(":", 1)[1])
            nested = next((key for key, value in result.items() if isinstance(value, dict)), None)
            (result[nested] if nested else result).update(override)
        return result

    def _scripted(self, variables: dict[str, Any]) -> str | None:
        """The next scripted outcome: one for this campaign (`notify.campaign_status@<id>`) first."""
        campaign = variables.get("campaignId") if self.topic == "notify.campaign_status" else None
        for_campaign = self.ledger.next_outcome(f"{self.topic}@{campaign}") if campaign else None
        return for_campaign or self.ledger.next_outcome(self.topic)


def register(registry) -> None:
    """Entry point used by LOOPLINE_CONNECTORS."""
    ledger = Ledger(os.environ["LOOPLINE_TEST_LEDGER"])
    for topic in TOPICS:
        registry.register(ProcessConnector(topic, ledger))
