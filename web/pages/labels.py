"""Names the engine stores as codes (statuses, history event types, the house's staff groups, element kinds),
shown in the page's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _

LABELS = {
    "status": {
        "running": _("running"), "suspended": _("suspended"), "completed": _("completed"),
        "cancelled": _("cancelled"), "ready": _("open"), "pending": _("pending"), "failed": _("failed"),
        "incident": _("incident"),
        # messages in the outbox (integrations.notify.models.NotificationStatus)
        "queued": _("queued"), "sent": _("sent"), "delivered": _("delivered"), "bounced": _("bounced"),
        "sending": _("sending (with the provider)"), "unknown": _("unknown (a person decides)"),
    },
    "circuit": {  # orchestrator.models.CircuitState
        "closed": _("closed (calls go out)"), "open": _("open (calls paused)"),
        "half_open": _("half open (one trial call)"),
    },
    "channel": {"sms": _("SMS"), "email": _("e-mail")},
    "record": {  # what the local ERP, QMS and CRM booked (integrations.business)
        "stock_movement": _("stock movement"), "quarantine": _("quarantine"), "credit_note": _("credit note"),
        "replacement_order": _("replacement order"), "ticket": _("ticket"), "ticket_update": _("ticket update"),
        "activity": _("activity"),
    },
    "element": {  # orchestrator.definitions.ELEMENT_KINDS: what a step without a name is
        "exclusiveGateway": _("Exclusive gateway"), "parallelGateway": _("Parallel gateway"),
        "inclusiveGateway": _("Inclusive gateway"), "eventBasedGateway": _("Event-based gateway"),
        "startEvent": _("Start event"), "endEvent": _("End event"), "boundaryEvent": _("Boundary event"),
        "intermediateCatchEvent": _("Intermediate catch event"),
        "intermediateThrowEvent": _("Intermediate throw event"), "sendTask": _("Send task"),
        "receiveTask": _("Receive task"), "userTask": _("User task"), "manualTask": _("Manual task"),
        "serviceTask": _("Service task"), "scriptTask": _("Script task"), "businessRuleTask": _("Decision task"),
        "callActivity": _("Call activity"), "transaction": _("Transaction"), "subProcess": _("Subprocess"),
        "task": _("Task"),
    },
    # the groups every installation starts with (web.auth.users.DEFAULT_GROUPS); others show their name
    "group": {
        "customer_service": _("Customer service"), "warehouse": _("Warehouse"), "qa": _("Quality"),
        "finance": _("Finance"), "sales_manager": _("Sales manager"), "legal": _("Legal"),
        "engineering": _("Engineering"), "management": _("Management"), "asset_management": _("Asset management"),
    },
    "event": {
        "instance_started": _("case started"), "instance_completed": _("case completed"),
        "instance_cancelled": _("case cancelled"), "instance_suspended": _("case suspended"),
        "instance_resumed": _("case resumed"), "element_completed": _("step passed"),
        "element_cancelled": _("step cancelled"), "element_failed": _("step failed"),
        "task_created": _("task created"), "task_completed": _("task completed"),
        "task_cancelled": _("task cancelled"), "task_claimed": _("task claimed"),
        "task_unclaimed": _("task released"), "task_assigned": _("task assigned"),
        "job_created": _("service job created"), "job_completed": _("service job completed"),
        "job_failed": _("service job failed"), "job_cancelled": _("service job cancelled"),
        "job_paused": _("service job paused"), "job_retry_scheduled": _("service job retry scheduled"),
        "job_result_dropped": _("late job result dropped"), "incident_opened": _("incident opened"),
        "incident_retried": _("incident retried"), "message_correlated": _("message received"),
        "signal_received": _("signal received"),
        "timer_failed": _("timer failed"), "comment_added": _("comment added"),
        "message_decided": _("message decided by a person"),
        "state_recorded": _("tokens and variables recorded"),
        "variables_edited": _("case data changed by hand"),
        "instance_migrated": _("case moved to another version"),
        "token_moved": _("case moved to another step by hand"),
    },
}


def label(kind: str, code: str | None) -> str:
    """The translated name of a stored code; the code itself (readable) when it has none."""
    if code is None:
        return ""
    return str(LABELS.get(kind, {}).get(code, code.replace("_", " ")))


def group_names(groups) -> str:
    """Candidate groups as the page's language names them, comma-separated."""
    return ", ".join(label("group", group) for group in groups or ())
