"""Modeler drafts and validation over the API."""

from __future__ import annotations

from flask import Response, json
from flask_smorest import Blueprint

from orchestrator.errors import InvalidModel
from orchestrator.model_drafts import structured_problems
from web.api.context import actor, engine
from web.api.idempotency import command
from web.api.modeler_schemas import (
    DraftCreateArgs,
    DraftSaveArgs,
    DraftSchema,
    DraftSummarySchema,
    ModelProblemSchema,
    RefusedDeploySchema,
    ValidationSchema,
)
from web.api.problems import PROBLEM
from web.api.schemas import DeployedSchema, ProblemSchema

blp = Blueprint("modeler", __name__, url_prefix="/api/v1", description="Modeler drafts and validation")

DRAFT = "/modeler/drafts/<int(max=2147483647):draft_id>"
NOT_YOURS = "No such draft, or another person's (drafts are per person)"


@blp.route("/modeler/drafts", methods=["GET"])
@blp.response(200, DraftSummarySchema(many=True))
def list_drafts():
    """The caller's own drafts, last edited first."""
    return engine().model_drafts.list_drafts(actor())


@blp.route("/modeler/drafts", methods=["POST"])
@blp.arguments(DraftCreateArgs)
@blp.response(201, DraftSchema)
@blp.alt_response(404, description="The process version or decision is not deployed", schema=ProblemSchema,
                  content_type=PROBLEM)
@command()
def create_draft(args):
    """A draft of a deployed process version (the caller's existing draft of it if there is one), of the DMN
    file deploying a decision, or of a new process from the template (start → user task → end)."""
    caller, drafts = actor(), engine().model_drafts
    if args["source"] == "template":
        return drafts.new_process(args["key"], args["name"], actor=caller)
    if args["source"] == "decision":
        return drafts.open_decision(args["key"], actor=caller)
    return drafts.open_deployed(args["key"], args["version"], actor=caller)


@blp.route(DRAFT, methods=["GET"])
@blp.response(200, DraftSchema)
@blp.alt_response(404, description=NOT_YOURS, schema=ProblemSchema, content_type=PROBLEM)
def get_draft(draft_id: int):
    return engine().model_drafts.open_draft(draft_id, actor=actor())


@blp.route(DRAFT, methods=["PUT"])
@blp.arguments(DraftSaveArgs)
@blp.response(200, DraftSchema)
@blp.alt_response(404, description=NOT_YOURS, schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)
def save_draft(args, draft_id: int):
    """Replace the draft's XML (at most the model size limit); it is checked on validate and deploy."""
    return engine().model_drafts.save_draft(draft_id, args["content"], actor=actor())


@blp.route(DRAFT, methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description=NOT_YOURS, schema=ProblemSchema, content_type=PROBLEM)
@command()
def delete_draft(draft_id: int):
    engine().model_drafts.delete_draft(draft_id, actor=actor())
    return None


@blp.route(f"{DRAFT}/validate", methods=["POST"])
@blp.response(200, ValidationSchema)
@blp.alt_response(404, description=NOT_YOURS, schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)
def validate_draft(draft_id: int):
    """Run every check a deploy runs (against the decisions deployed now) and store nothing: each problem with
    its file and element."""
    problems = engine().model_drafts.validate_draft(draft_id, actor=actor())
    return {"valid": not problems, "problems": problems}


@blp.route(f"{DRAFT}/deploy", methods=["POST"])
@blp.response(201, DeployedSchema(many=True))
@blp.alt_response(422, description="The deploy was refused and nothing was stored; `problems` pins each to its "
                  "element", schema=RefusedDeploySchema, content_type=PROBLEM)
@blp.alt_response(404, description=NOT_YOURS, schema=ProblemSchema, content_type=PROBLEM)
@command()
def deploy_draft(draft_id: int):
    """Deploy the draft as a new version (with the translation files of the version it was opened from); the
    draft stays the caller's, as a draft of the version it deployed. A process whose content is unchanged keeps
    its version (`new` is false)."""
    try:
        return engine().model_drafts.deploy_draft(draft_id, actor=actor())
    except InvalidModel as exc:
        problems = ModelProblemSchema(many=True).dump(structured_problems(exc.problems))
        body = {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
                "detail": "the deploy was refused; nothing was changed", "problems": problems}
        return Response(json.dumps(body), status=422, mimetype=PROBLEM)
