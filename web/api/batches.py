"""Batch operations over the API: migration with a dry run, cancel and retry of many cases, their progress."""

from __future__ import annotations

from flask_smorest import Blueprint

from orchestrator.batch_operations import BatchRequest
from orchestrator.query_filters import InstanceFilter
from web.api.batch_schemas import BatchArgs, BatchListArgs, BatchSchema, DryRunArgs, DryRunSchema
from web.api.context import actor, engine
from web.api.idempotency import command
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema

blp = Blueprint("batches", __name__, url_prefix="/api/v1", description="Batch operations")

FORBIDDEN = "The role may not manage cases (process owners and admins may)"
PARAMETER_NAMES = {"reason": "reason", "processKey": "process_key", "fromVersion": "from_version",
                   "toVersion": "to_version", "mapping": "mapping"}


def case_filter(args: dict) -> InstanceFilter:
    """The case list's filter as the engine reads it."""
    return InstanceFilter(
        definition_key=args.get("definitionKey"), status=args.get("status"), business_key=args.get("businessKey"),
        started_after=args.get("startedAfter"), started_before=args.get("startedBefore"),
        variable=args.get("variable"), equals=args.get("equals"), contains=args.get("contains"),
        text=args.get("text"))


@blp.route("/migrations/dry-run", methods=["POST"])
@blp.arguments(DryRunArgs)
@blp.response(200, DryRunSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(404, description="The process or one of the versions is not deployed", schema=ProblemSchema,
                  content_type=PROBLEM)
@blp.alt_response(422, description="The same version twice, or a mapping naming an element a version does not "
                  "have; `errors` names each", schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)
def dry_run(args):
    """Which running or suspended cases of a version can move to another version, and why the others cannot (a
    waiting element the target lacks or has as another kind, a variable the target needs). Changes nothing."""
    return engine().case_migration.dry_run(args["processKey"], args["fromVersion"], args["toVersion"],
                                           args["mapping"], actor=actor(), instance_ids=args["instanceIds"])


@blp.route("/batches", methods=["POST"])
@blp.arguments(BatchArgs)
@blp.response(201, BatchSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="No case named or matched, both or neither of instanceIds and filter, a cancel "
                  "without a reason, a migration without a deployed target version", schema=ProblemSchema,
                  content_type=PROBLEM)
@command()
def create_batch(args):
    """Queue a batch: `cancel` (with a reason), `retry` (every open incident of each case) or `migrate` (to
    `toVersion`, with an optional element mapping) over the given cases or every case the filter matches now.
    The background sweep works through it; read its progress at `GET /api/v1/batches/{batch_id}`."""
    parameters = {PARAMETER_NAMES[name]: value for name, value in args["parameters"].items()}
    request = BatchRequest(args["kind"], parameters, args.get("instanceIds"),
                           case_filter(args["filter"]) if "filter" in args else None)
    return engine().batches.create_batch(request, actor=actor())


@blp.route("/batches", methods=["GET"])
@blp.arguments(BatchListArgs, location="query")
@blp.response(200, BatchSchema(many=True))
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
def list_batches(args):
    """Batches, newest first, with their progress."""
    return engine().batches.list_batches(actor=actor(), limit=args["limit"], offset=args["offset"])


@blp.route("/batches/<int(max=2147483647):batch_id>", methods=["GET"])
@blp.response(200, BatchSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(404, description="No such batch", schema=ProblemSchema, content_type=PROBLEM)
def get_batch(batch_id: int):
    """One batch's progress: done, failed (each failure with its reason) and total."""
    return engine().batches.get_batch(batch_id, actor=actor())
