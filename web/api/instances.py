"""Process instances: search, read, history, cancel / suspend / resume, repair their variables, move their token."""

from __future__ import annotations

from flask_smorest import Blueprint

from orchestrator.case_repair import VariableEdit
from orchestrator.query_filters import InstanceFilter
from orchestrator.token_moves import TokenMove
from web.api.context import actor, engine
from web.api.idempotency import command
from web.api.presenters import instance_view
from web.api.problems import PROBLEM
from web.api.schemas import (
    CancelArgs,
    HistoryEventSchema,
    InstanceListArgs,
    InstancePageSchema,
    InstanceSchema,
    ProblemSchema,
    VariableEditArgs,
)
from web.api.token_schemas import TokenMoveArgs

blp = Blueprint("instances", __name__, url_prefix="/api/v1/instances", description="Process instances")


@blp.route("", methods=["GET"])
@blp.arguments(InstanceListArgs, location="query")
@blp.response(200, InstancePageSchema)
def list_instances(args):
    """Instances the caller may read, newest first; filter by definition, status, dates or a variable."""
    criteria = InstanceFilter(
        definition_key=args.get("definitionKey"), status=args.get("status"), business_key=args.get("businessKey"),
        started_after=args.get("startedAfter"), started_before=args.get("startedBefore"),
        variable=args.get("variable"), equals=args.get("equals"), contains=args.get("contains"),
        limit=args["limit"], offset=args["offset"],
    )
    page = engine().queries.list_instances(actor(), criteria)
    return {"items": [instance_view(i, d) for i, d in page.items], "total": page.total,
            "limit": page.limit, "offset": page.offset}


@blp.route("/<string:instance_id>", methods=["GET"])
@blp.response(200, InstanceSchema)
def get_instance(instance_id: str):
    return instance_view(*engine().queries.instance_for(actor(), instance_id))


@blp.route("/<string:instance_id>/history", methods=["GET"])
@blp.response(200, HistoryEventSchema(many=True))
def history(instance_id: str):
    """Every recorded event, oldest first, each carrying the hash of the one before."""
    return engine().queries.history_for(actor(), instance_id)


def _instance_now(*_parsed, instance_id: str) -> dict:
    """The instance as it is now: the answer to each command here, and to its retry."""
    return instance_view(*engine().queries.instance_for(actor(), instance_id))


@blp.route("/<string:instance_id>/cancel", methods=["POST"])
@blp.arguments(CancelArgs, required=False)
@blp.response(200, InstanceSchema)
@command(_instance_now)
def cancel(args, instance_id: str):
    engine().instances.cancel_instance(instance_id, actor=actor(), reason=(args or {}).get("reason", ""))
    return _instance_now(instance_id=instance_id)


@blp.route("/<string:instance_id>/suspend", methods=["POST"])
@blp.response(200, InstanceSchema)
@command(_instance_now)
def suspend(instance_id: str):
    engine().instances.suspend_instance(instance_id, actor=actor())
    return _instance_now(instance_id=instance_id)


@blp.route("/<string:instance_id>/resume", methods=["POST"])
@blp.response(200, InstanceSchema)
@command(_instance_now)
def resume(instance_id: str):
    engine().instances.resume_instance(instance_id, actor=actor())
    return _instance_now(instance_id=instance_id)


@blp.route("/<string:instance_id>/variables", methods=["PATCH"])
@blp.arguments(VariableEditArgs)
@blp.response(200, InstanceSchema)
@blp.alt_response(404, description="No such instance", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(409, description="The instance has ended", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="A blank comment, an invalid name or value, a variable to remove the instance "
                  "does not have, or nothing to change; `errors` names each field", schema=ProblemSchema,
                  content_type=PROBLEM)
@command(_instance_now)
def edit_variables(args, instance_id: str):
    """Set, change or remove variables of a running or suspended instance, saying why (a process owner repairing
    a stuck case): the history records who changed which value from what to what, and why; jobs not yet taken
    by a worker get their input from the new values, so a retried incident uses them."""
    engine().case_repair.edit_variables(
        instance_id, VariableEdit(args["comment"], args["values"], tuple(args["remove"])), actor=actor())
    return _instance_now(instance_id=instance_id)


@blp.route("/<string:instance_id>/move-token", methods=["POST"])
@blp.arguments(TokenMoveArgs)
@blp.response(200, InstanceSchema)
@blp.alt_response(403, description="The role may not move cases (process owners and admins may)",
                  schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(404, description="No such instance", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(409, description="The instance has ended, does not wait in `fromElement`, never completed "
                  "`toElement`, waits beside it in a parallel branch, or the flow led elsewhere",
                  schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="A blank comment, an unknown element, a step that does not follow, or a target "
                  "one cannot go back to (a gateway, a start or end event); `errors` names each field",
                  schema=ProblemSchema, content_type=PROBLEM)
@command(_instance_now)
def move_token(args, instance_id: str):
    """Move a running or suspended case's token, saying why (Camunda Cockpit's "modify"): `skip` completes the step
    it waits in without running it (an open job is cancelled, no connector is called) and the case goes on along
    the flow; `back` returns it to a step it completed in the same scope, with its current variables. The inbox,
    jobs, timers and subscriptions follow; the history records a `token_moved` event with the actor."""
    engine().case_repair.move_token(instance_id, TokenMove(args["fromElement"], args.get("toElement"),
                                                           args["comment"], args["kind"]), actor=actor())
    return _instance_now(instance_id=instance_id)
