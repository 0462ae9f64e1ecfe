"""Pages for operators: the local backends' ledgers, the message outbox, every case's service jobs and
incidents, and circuit breakers. The lists are filtered, sorted and paged in the database. The one change
made here: deciding what became of a message nobody can account for (it went out, or send it again).

An acknowledgement link in the outbox answers for its recipient: only those who may send messages into
processes see it live; for everyone else (auditors) its token is masked."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_security import current_user
from sqlalchemy import func, or_, select

from integrations.local_models import LocalRecord, StockLevel
from integrations.notify.acks import redact_ack_links
from integrations.notify.models import Channel, Notification, NotificationStatus
from integrations.notify.undecided import NotUndecided
from orchestrator.authorization import Permission, can
from orchestrator.errors import InvalidInput
from orchestrator.models import JobStatus
from orchestrator.query_filters import INCIDENT_SORTS, JOB_SORTS, IncidentFilter, JobFilter
from web.auth.users import actor_for_user
from web.extensions import ENGINE_KEY, db
from web.pages.common import page_count, safe_next
from web.pages.common import page_number as current_page
from web.pages.list_args import day_range, list_args

pages = Blueprint("operations_pages", __name__, url_prefix="/operations")
ROWS = 200
PAGE_SIZE = 25
MESSAGE_SORTS = {"created": Notification.created_at, "status": Notification.status, "channel": Notification.channel,
                 "to": Notification.address, "template": Notification.template, "case": Notification.business_key}
# what the outbox list reads of a message: read-only rows, never the ORM objects
MESSAGE_COLUMNS = (Notification.id, Notification.created_at, Notification.channel, Notification.address,
                   Notification.recipient_name, Notification.template, Notification.language, Notification.subject,
                   Notification.body, Notification.status, Notification.business_key, Notification.instance_id,
                   Notification.acknowledged_at, Notification.error)


@pages.before_request
def _signed_in_operator():
    if not current_user.is_authenticated:
        return redirect(url_for("security.login", next=request.path))
    if not can(actor_for_user(current_user), Permission.READ_OPERATIONS):
        abort(403)
    return None


def _engine():
    return current_app.extensions[ENGINE_KEY]


def _shown():
    live_links = can(actor_for_user(current_user), Permission.CORRELATE)
    return (lambda text: text) if live_links else redact_ack_links


@pages.get("/")
def overview():
    """What the embedded default did instead of calling outside systems, and how those systems are doing."""
    return render_template(
        "operations/overview.html",
        shown=_shown(),
        circuits=_engine().breakers.states(),
        stock=list(db.session.scalars(select(StockLevel).order_by(StockLevel.sku, StockLevel.lot).limit(ROWS))),
        records=list(db.session.scalars(select(LocalRecord).order_by(LocalRecord.id.desc()).limit(ROWS))),
        messages=list(db.session.scalars(select(Notification).order_by(Notification.created_at.desc()).limit(ROWS))),
    )


def _sorting(args: dict[str, str], sorts: dict, default: str) -> tuple[str, bool]:
    if args.get("sort") not in sorts:
        args.pop("sort", None)
        args.pop("order", None)
        return default, True
    return args["sort"], args.get("order") == "desc"


@pages.get("/messages")
def messages():
    """The message outbox: every notification, by status, channel, day and text (address, name, subject,
    case), newest first unless sorted otherwise."""
    args = list_args("status", "channel", "from", "to", "q")
    after, before = day_range(args)
    sort, descending = _sorting(args, MESSAGE_SORTS, "created")
    text = args.get("q")
    conditions = [
        Notification.status == args["status"] if "status" in args else None,
        Notification.channel == args["channel"] if "channel" in args else None,
        Notification.created_at >= after if after else None,
        Notification.created_at < before if before else None,
        or_(*[column.icontains(text, autoescape=True) for column in (
            Notification.address, Notification.recipient_name, Notification.subject, Notification.business_key,
            Notification.template)]) if text else None,
    ]
    conditions = [c for c in conditions if c is not None]
    order = MESSAGE_SORTS[sort]
    page_number = current_page()
    total = db.session.scalar(select(func.count()).select_from(Notification).where(*conditions))
    rows = db.session.execute(select(*MESSAGE_COLUMNS).where(*conditions)
                              .order_by(order.desc() if descending else order, Notification.id)
                              .limit(PAGE_SIZE).offset((page_number - 1) * PAGE_SIZE)).all()
    return render_template("operations/messages.html", rows=rows, total=total, args=args, shown=_shown(),
                           may_decide=can(actor_for_user(current_user), Permission.RETRY_INCIDENTS),
                           page_number=page_number, pages=page_count(total, PAGE_SIZE),
                           statuses=list(NotificationStatus), channels=list(Channel))


@pages.post("/messages/<string:notification_id>/decision")
def decide_message(notification_id: str):
    """A person who checked with the recipient (or the provider's console) says whether an `unknown` message
    went out; the case's job, retried from its incident, then sends only what is to be sent again."""
    person = actor_for_user(current_user)
    if not can(person, Permission.RETRY_INCIDENTS):
        abort(403)
    went_out = request.form.get("decision") == "sent"
    try:
        _engine().message_decisions.decide_message(notification_id, went_out=went_out, actor=person)
        flash(_("Marked as sent.") if went_out else _("It will be sent again when the job is retried."), "info")
    except NotUndecided:
        flash(_("This message is no longer waiting for a decision."), "error")
    return redirect(safe_next(request.form.get("next"), url_for("operations_pages.messages", status="unknown")))


def _processes() -> dict[str, str]:
    names: dict[str, str] = {}
    for definition in _engine().queries.list_definitions():
        names.setdefault(definition.key, definition.name or definition.key)
    return names


def _definitions(page) -> dict[str, int]:
    """The definition of each listed row's case, so each row's step is named from its model."""
    return _engine().queries.definitions_of_cases(actor_for_user(current_user), (row.instance_id for row in page.items))


@pages.get("/jobs")
def jobs():
    """Every case's service jobs, by status, topic, process, day and text, newest first unless sorted."""
    args = list_args("status", "topic", "process", "from", "to", "q")
    after, before = day_range(args)
    sort, descending = _sorting(args, JOB_SORTS, "created")
    page_number = current_page()
    criteria = JobFilter(status=args.get("status"), topic=args.get("topic"), definition_key=args.get("process"),
                         created_after=after, created_before=before, text=args.get("q"), sort=sort,
                         descending=descending, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
    try:
        page = _engine().queries.find_jobs(actor_for_user(current_user), criteria)
    except InvalidInput:
        return redirect(url_for("operations_pages.jobs"))
    return render_template("operations/jobs.html", page=page, args=args, page_number=page_number,
                           pages=page_count(page.total, PAGE_SIZE), statuses=list(JobStatus),
                           processes=_processes(), title=_("Service jobs"), definitions=_definitions(page))


@pages.get("/incidents")
def incidents():
    """Every case's incidents (open, or all), by process, day and text, newest first unless sorted."""
    args = list_args("state", "process", "from", "to", "q")
    after, before = day_range(args)
    sort, descending = _sorting(args, INCIDENT_SORTS, "created")
    page_number = current_page()
    criteria = IncidentFilter(open_only=args.get("state") != "all", definition_key=args.get("process"),
                              created_after=after, created_before=before, text=args.get("q"), sort=sort,
                              descending=descending, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
    page = _engine().queries.find_incidents(actor_for_user(current_user), criteria)
    return render_template("operations/incidents.html", page=page, args=args, page_number=page_number,
                           pages=page_count(page.total, PAGE_SIZE), processes=_processes(), definitions=_definitions(page),
                           may_retry=can(actor_for_user(current_user), Permission.RETRY_INCIDENTS))
