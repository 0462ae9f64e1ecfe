"""Deployments and process definitions."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidInput, NotFound
from web.api.context import actor, engine
from web.api.idempotency import HEADER, command
from web.api.presenters import definitions_view, instance_view, start_form_view
from web.api.problems import PROBLEM
from web.api.schemas import (
    DefinitionSchema,
    DeployedSchema,
    InstanceSchema,
    ProblemSchema,
    StartArgs,
    StartFormArgs,
    StartFormSchema,
)

blp = Blueprint("definitions", __name__, url_prefix="/api/v1", description="Deploy models and start processes")

UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"files": {"type": "array", "minItems": 1,
                                              "items": {"type": "string", "format": "binary"}}},
    "required": ["files"]}}}}}


@blp.route("/deployments", methods=["POST"])
@blp.doc(**UPLOAD_DOC)
@blp.response(201, DeployedSchema(many=True))
@blp.alt_response(422, description="The model was rejected; `errors` lists each problem", schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)  # the same bundle deployed again changes nothing and names the same versions
def deploy():
    """Deploy one or more .bpmn/.dmn files as one bundle (unchanged processes keep their version), with the
    models' translation files (`<model>.<language>.json`, e.g. returns.zh.json)."""
    caller = actor()  # first: an anonymous caller hears 401, not what is wrong with the files
    files = request.files.getlist("files")
    if not files:
        raise InvalidInput("upload the models as multipart field 'files'", {"files": "at least one file is required"})
    models = []
    for upload in files:
        name = upload.filename or ""
        if not name.lower().endswith((".bpmn", ".dmn", ".json")):
            raise InvalidInput("only .bpmn, .dmn and translation (.json) files",
                               {"files": f"'{name}' is not a .bpmn, .dmn or <model>.<language>.json file"})
        try:
            models.append(ModelFile(name, upload.read().decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise InvalidInput("models must be UTF-8", {"files": f"'{name}' is not UTF-8 text"}) from exc
    return engine().deployments.deploy(models, actor=caller)


@blp.route("/process-definitions", methods=["GET"])
@blp.response(200, DefinitionSchema(many=True))
def list_definitions():
    """Deployed processes with their versions (newest first)."""
    actor()
    return definitions_view(engine().queries.list_definitions())


@blp.route("/process-definitions/<string:key>", methods=["GET"])
@blp.response(200, DefinitionSchema)
def get_definition(key: str):
    actor()
    found = definitions_view(engine().queries.list_definitions(key))
    if not found:
        raise NotFound(f"process definition '{key}' is not deployed")
    return found[0]


@blp.route("/process-definitions/<string:key>/xml", methods=["GET"])
@blp.response(200, {"type": "string"}, content_type="application/xml")
def get_definition_xml(key: str):
    """The BPMN file of the latest version, as deployed."""
    actor()
    return Response(engine().queries.definition_xml(key), mimetype="application/xml")


@blp.route("/process-definitions/<string:key>/start-form", methods=["GET"])
@blp.arguments(StartFormArgs, location="query")
@blp.response(200, StartFormSchema)
def get_start_form(args, key: str):
    """The fields a start checks (the start event's camunda:formData): send them as `variables` to /start."""
    actor()
    return start_form_view(*engine().start_forms.start_fields(key, args["version"]))


@blp.route("/process-definitions/<string:key>/start", methods=["POST"])
@blp.arguments(StartArgs, required=False)
@blp.response(201, InstanceSchema)
@blp.alt_response(422, description="Missing or invalid variables (checked by the start form, see `start-form`); "
                  "`errors` names each", schema=ProblemSchema, content_type=PROBLEM)
@command(runs_again=True)  # the key is kept on the instance it started: a start again finds it
def start(args, key: str):
    """Start an instance of the latest (or given) version."""
    idempotency_key = request.headers.get(HEADER)
    row = engine().instances.start_instance(key, actor=actor(), business_key=args["businessKey"], variables=args["variables"],
                                  idempotency_key=idempotency_key, version=args["version"])
    return instance_view(*engine().queries.instance_for(actor(), row.id))
