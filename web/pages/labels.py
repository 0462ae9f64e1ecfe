"""Names the engine stores as codes (statuses, history event types), shown in the page's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _

LABELS = {
    "status": {
        "running": _("running"), "suspended": _("suspended"), "completed": _("completed"),
        "cancelled": _("cancelled"), "ready": _("open"), "pending": _("pending"), "failed": _("failed"),
        "incident": _("incident"),
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
        "timer_failed": _("timer failed"), "comment_added": _("comment added"),
    },
}


def label(kind: str, code: str | None) -> str:
    """The translated name of a stored code; the code itself (readable) when it has none."""
    if code is None:
        return ""
    return str(LABELS.get(kind, {}).get(code, code.replace("_", " ")))
