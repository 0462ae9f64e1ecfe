"""Messages and signals from outside, jobs and incidents."""

from __future__ import annotations

from flask_smorest import Blueprint

from orchestrator.authorization import Permission, require
from web.api.context import actor, engine
from web.api.idempotency import command
from web.api.problems import PROBLEM
from web.api.schemas import (
    CircuitSchema,
    CorrelationSchema,
    IncidentListArgs,
    IncidentPageSchema,
    IncidentSchema,
    JobListArgs,
    JobPageSchema,
    MessageArgs,
    ProblemSchema,
    SignalArgs,
    SignalDeliverySchema,
)

blp = Blueprint("operations", __name__, url_prefix="/api/v1", description="Messages, signals, jobs and incidents")


@blp.route("/messages", methods=["POST"])
@blp.arguments(MessageArgs)
@blp.response(200, CorrelationSchema)
@blp.alt_response(404, description="No instance waits for it and no process starts with it", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(409, description="It matches several instances", schema=ProblemSchema, content_type=PROBLEM)
@command()
def correlate(args):
    """Deliver a message to the instance waiting for it (by business key or correlation key), or start one."""
    return engine().messages.correlate_message(args["messageName"], actor=actor(), business_key=args["businessKey"],
                                      correlation_keys=args["correlationKeys"], variables=args["variables"])


@blp.route("/signals", methods=["POST"])
@blp.arguments(SignalArgs)
@blp.response(200, SignalDeliverySchema)
@command()
def send_signal(args):
    """Send a BPMN signal to every running case waiting for it (a signal catch or boundary event), as Camunda 7
    broadcasts it; each case takes it in a command of its own, and one that cannot is listed with why."""
    return engine().bpmn_signals.send_signal(args["name"], args["variables"], actor=actor())


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListArgs, location="query")
@blp.response(200, JobPageSchema)
def list_jobs(args):
    page = engine().queries.list_jobs(actor(), args.get("status"), args["limit"], args["offset"])
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}


@blp.route("/incidents", methods=["GET"])
@blp.arguments(IncidentListArgs, location="query")
@blp.response(200, IncidentPageSchema)
def list_incidents(args):
    page = engine().queries.list_incidents(actor(), args["open"], args["limit"], args["offset"])
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}


@blp.route("/circuits", methods=["GET"])
@blp.response(200, CircuitSchema(many=True))
def list_circuits():
    """Circuit breakers per outside system: open means its jobs are paused until a probe succeeds."""
    require(actor(), Permission.READ_OPERATIONS)
    return engine().breakers.states()


@blp.route("/incidents/<int(max=2147483647):incident_id>/retry", methods=["POST"])
@blp.response(200, IncidentSchema)
@command()
def retry_incident(incident_id: int):
    """Run the incident's job again from its first attempt."""
    return engine().jobs.retry_incident(incident_id, actor=actor())
