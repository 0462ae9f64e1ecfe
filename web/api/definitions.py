"""Deployments and process definitions."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, request
from flask_smorest import Blueprint

from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidInput, NotFound
from web.api.context import actor, engine
from web.api.idempotency import HEADER, command
from web.api.presenters import definitions_view, instance_view, start_form_view
from web.api.problems import PROBLEM
from web.api.process_schemas import DiffArgs, VersionDiffSchema, VersionSummarySchema, diff_view
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


# the process catalog: process owners (Permission.DEPLOY) and auditors (Permission.READ_ALL) read it
CATALOG_REFUSALS = {"403": {"description": "Only process owners, auditors and admins read the deployed versions"}}
FILE_TYPES = {"bpmn": "application/xml", "dmn": "application/xml", "texts": "application/json"}


@blp.route("/process-definitions/<string:key>/versions", methods=["GET"])
@blp.response(200, VersionSummarySchema(many=True))
@blp.alt_response(404, description="The process was never deployed", schema=ProblemSchema, content_type=PROBLEM)
@blp.doc(responses=CATALOG_REFUSALS)
def list_versions(key: str):
    """Every version of a process, newest first: who deployed it, when, in which deployment, and its cases by
    status (with the cases that have open incidents)."""
    return engine().process_catalog.versions(actor(), key)


@blp.route("/process-definitions/<string:key>/versions/<int:version>/files/<path:name>", methods=["GET"])
@blp.alt_response(404, description="No such version, or the version's deployment has no file of that name",
                  schema=ProblemSchema, content_type=PROBLEM)
@blp.doc(responses={"200": {"description": "The file byte for byte as deployed: BPMN and DMN as XML, a "
                                           "translation (`<model>.<language>.json`) as JSON",
                            "content": {"application/xml": {"schema": {"type": "string"}},
                                        "application/json": {"schema": {}}}}, **CATALOG_REFUSALS})
def get_version_file(key: str, version: int, name: str):
    """One file deployed with the version (its BPMN file, the DMN files and translations deployed with it)."""
    found = engine().process_catalog.version_file(actor(), key, version, name)
    return Response(found.content, mimetype=FILE_TYPES.get(found.kind, "application/octet-stream"), headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name, safe='')}",
        "X-Content-Type-Options": "nosniff"})


@blp.route("/process-definitions/<string:key>/diff", methods=["GET"])
@blp.arguments(DiffArgs, location="query")
@blp.response(200, VersionDiffSchema)
@blp.alt_response(404, description="The process or one of the versions is not deployed", schema=ProblemSchema,
                  content_type=PROBLEM)
@blp.alt_response(422, description="`from` or `to` missing, not a version number, or the same",
                  schema=ProblemSchema, content_type=PROBLEM)
@blp.doc(responses=CATALOG_REFUSALS)
def diff_versions(args, key: str):
    """What changed in the process model from version `from` to version `to`: elements and flows added, removed
    and changed (matched by id; for a changed one, each attribute, documentation or extension such as
    camunda:formData with its short text before and after), and the deployments' files that differ."""
    return diff_view(engine().process_catalog.diff(actor(), key, args["from_"], args["to"]))
