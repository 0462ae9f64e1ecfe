"""Camunda 7 external-task REST API at /engine-rest, so existing external-task clients work against Loopline.

Only the external-task resource is served, for the topics in LOOPLINE_EXTERNAL_TOPICS, and `POST /signal`
(a signal to every case waiting for it), which Camunda clients and scripts send beside it. Requests and errors
follow Camunda's protocol (`{"type": …, "message": …}`), not Loopline's problem+json, and the resource is kept
out of Loopline's own OpenAPI document: Camunda documents it. Clients authenticate with a Loopline API key
as `Authorization: Bearer <key>` or as the password of `Authorization: Basic` (any user name); a session
cookie is not accepted, so no page can be made to post here.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from orchestrator.actors import Actor
from orchestrator.camunda_variables import from_camunda
from orchestrator.errors import EngineError, Forbidden, InvalidInput, NotFound, ProcessError
from orchestrator.external_tasks import FetchRequest, TopicRequest, WrongWorker
from web.api.idempotency import command
from web.api.strict_json import JsonRefused, strict_loads
from web.auth.apikeys import actor_for_token
from web.auth.current import Unauthenticated
from web.extensions import ENGINE_KEY, db
from web.webhooks import exempt_from_csrf

bp = Blueprint("engine_rest", __name__, url_prefix="/engine-rest")
exempt_from_csrf(bp)

WORKER_ID = fields.Str(required=True, validate=validate.Length(1, 170))
MAX_LOCK_MS = 7 * 24 * 3600 * 1000

# A report on a task may carry an Idempotency-Key: its retry hears 204 again and changes nothing. A fetch
# needs none: what a lost answer locked is fetched again when the lock runs out, as Camunda does.
report = command(lambda *_args, **_kwargs: Response(status=204), caller=lambda: _actor())


class Body(Schema):
    class Meta:
        unknown = EXCLUDE  # clients send options Loopline has no use for (sorting, deserializeValues, …)


class TopicSchema(Body):
    topicName = fields.Str(required=True, validate=validate.Length(1, 200))
    lockDuration = fields.Int(required=True, strict=True, validate=validate.Range(1, MAX_LOCK_MS))
    variables = fields.List(fields.Str(validate=validate.Length(1, 200)), allow_none=True)
    businessKey = fields.Str(allow_none=True)
    processDefinitionKey = fields.Str(allow_none=True)
    processDefinitionKeyIn = fields.List(fields.Str(), allow_none=True)
    processVariables = fields.Dict(allow_none=True)
    processDefinitionId = fields.Str(allow_none=True)
    processDefinitionIdIn = fields.List(fields.Str(), allow_none=True)
    processDefinitionVersionTag = fields.Str(allow_none=True)
    tenantIdIn = fields.List(fields.Str(), allow_none=True)
    withoutTenantId = fields.Bool(allow_none=True)

    @validates_schema
    def _refuse_unsupported_filters(self, data, **kwargs):
        """A filter Loopline ignored would hand the client tasks it did not ask for: refuse it instead."""
        for name in ("processVariables", "processDefinitionId", "processDefinitionIdIn",
                     "processDefinitionVersionTag", "tenantIdIn", "withoutTenantId"):
            if data.get(name):
                raise ValidationError(f"the {name} filter is not supported by Loopline", name)


class FetchSchema(Body):
    workerId = WORKER_ID
    maxTasks = fields.Int(required=True, strict=True, validate=validate.Range(0, 100))
    usePriority = fields.Bool(allow_none=True)
    asyncResponseTimeout = fields.Int(allow_none=True, strict=True, validate=validate.Range(0, 1_800_000))
    topics = fields.List(fields.Nested(TopicSchema), required=True, validate=validate.Length(1, 100))


class CompleteSchema(Body):
    workerId = WORKER_ID
    variables = fields.Dict(allow_none=True)
    localVariables = fields.Dict(allow_none=True)


class FailureSchema(Body):
    workerId = WORKER_ID
    errorMessage = fields.Str(allow_none=True, validate=validate.Length(max=4000))
    errorDetails = fields.Str(allow_none=True, validate=validate.Length(max=100_000))
    retries = fields.Int(required=True, strict=True, validate=validate.Range(0, 1000))
    retryTimeout = fields.Int(load_default=0, allow_none=True, strict=True, validate=validate.Range(0, MAX_LOCK_MS))


class BpmnErrorSchema(Body):
    workerId = WORKER_ID
    errorCode = fields.Str(required=True, validate=validate.Length(1, 200))
    errorMessage = fields.Str(allow_none=True, validate=validate.Length(max=4000))
    variables = fields.Dict(allow_none=True)


class ExtendLockSchema(Body):
    workerId = WORKER_ID
    newDuration = fields.Int(required=True, strict=True, validate=validate.Range(1, MAX_LOCK_MS))


@bp.post("/external-task/fetchAndLock")
def fetch_and_lock():
    actor = _actor()
    body = _body(FetchSchema())
    topics = tuple(TopicRequest(
        name=topic["topicName"], lock_duration=topic["lockDuration"],
        variables=None if topic.get("variables") is None else tuple(topic["variables"]),
        business_key=topic.get("businessKey"),
        process_definition_keys=_definition_keys(topic)) for topic in body["topics"])
    request_ = FetchRequest(body["workerId"], body["maxTasks"], topics, body.get("asyncResponseTimeout"))
    locked = _engine().external_tasks.fetch_and_lock(request_, actor=actor)
    return jsonify([task.as_camunda() for task in locked])


@bp.post("/external-task/<task_id>/complete")
@report
def complete(task_id: str):
    actor = _actor()
    body = _body(CompleteSchema())
    _engine().external_tasks.complete(task_id, body["workerId"], body.get("variables"), body.get("localVariables"),
                                      actor=actor)
    return Response(status=204)


@bp.post("/external-task/<task_id>/failure")
@report
def failure(task_id: str):
    actor = _actor()
    body = _body(FailureSchema())
    _engine().external_tasks.failure(task_id, body["workerId"], body.get("errorMessage"), body.get("errorDetails"),
                                     body["retries"], body.get("retryTimeout") or 0, actor=actor)
    return Response(status=204)


@bp.post("/external-task/<task_id>/bpmnError")
@report
def bpmn_error(task_id: str):
    actor = _actor()
    body = _body(BpmnErrorSchema())
    _engine().external_tasks.bpmn_error(task_id, body["workerId"], body["errorCode"], body.get("errorMessage"),
                                        body.get("variables"), actor=actor)
    return Response(status=204)


@bp.post("/external-task/<task_id>/extendLock")
@report
def extend_lock(task_id: str):
    actor = _actor()
    body = _body(ExtendLockSchema())
    _engine().external_tasks.extend_lock(task_id, body["workerId"], body["newDuration"], actor=actor)
    return Response(status=204)


@bp.post("/external-task/<task_id>/unlock")
@report
def unlock(task_id: str):
    _engine().external_tasks.unlock(task_id, actor=_actor())
    return Response(status=204)


class SignalSchema(Body):
    name = fields.Str(required=True, validate=validate.Length(1, 200))
    variables = fields.Dict(allow_none=True)


@bp.post("/signal")
@report
def signal():
    actor = _actor()
    body = _body(SignalSchema())
    _engine().bpmn_signals.send_signal(body["name"], from_camunda(body.get("variables"), "variables"), actor=actor)
    return Response(status=204)


@bp.errorhandler(EngineError)
def _engine_error(exc: EngineError):
    """Camunda's error shape: InvalidRequestException for bad input, unknown or foreign tasks."""
    body = {"type": _TYPES.get(type(exc), "RestException"), "message": exc.message}
    status = 400 if isinstance(exc, InvalidInput) else (500 if isinstance(exc, ProcessError) else exc.status)
    if isinstance(exc, Forbidden):
        body.update(userId=exc.details.get("user"), missingAuthorizations=[])
    response = jsonify(body)
    response.status_code = status
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Basic realm="loopline", Bearer realm="loopline"'
    return response


_TYPES = {NotFound: "InvalidRequestException", WrongWorker: "InvalidRequestException",
          InvalidInput: "InvalidRequestException", Forbidden: "AuthorizationException",
          Unauthenticated: "AuthenticationException", ProcessError: "ProcessEngineException"}


def _engine():
    return current_app.extensions[ENGINE_KEY]


def _body(schema: Schema) -> dict:
    """The JSON body read strictly and checked; every bad field is named, nothing has changed yet."""
    raw = request.get_data(cache=True)
    try:
        data = strict_loads(raw) if raw.strip() else {}
    except (JsonRefused, ValueError) as exc:
        raise InvalidInput(f"the JSON body was refused: {exc}", {"_body": str(exc)}) from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", {"_body": "must be a JSON object"})
    try:
        return schema.load(data)
    except ValidationError as exc:
        errors = _flatten(exc.messages)
        raise InvalidInput("; ".join(f"{field}: {message}" for field, message in errors.items()), errors) from None


def _flatten(messages, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    items = messages.items() if isinstance(messages, dict) else [("", messages)]
    for key, value in items:
        where = f"{prefix}.{key}" if prefix and key != "" else (str(key) or prefix)
        if isinstance(value, dict):
            flat.update(_flatten(value, where))
        else:
            flat[where] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return flat


def _definition_keys(topic: dict) -> tuple[str, ...] | None:
    keys = [*(topic.get("processDefinitionKeyIn") or []),
            *([topic["processDefinitionKey"]] if topic.get("processDefinitionKey") else [])]
    return tuple(keys) or None


def _actor() -> Actor:
    """The API key in `Authorization: Bearer <key>` or as the Basic password; sessions are not accepted."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else _basic_password(credentials) \
        if scheme.lower() == "basic" else None
    if not token:
        raise Unauthenticated("send a Loopline API key as 'Authorization: Bearer <key>' or as the Basic password")
    actor = actor_for_token(db.session, token, _engine().now())
    db.session.close()  # a held long poll must not keep a connection (or SQLite's read lock) open
    if actor is None:
        raise Unauthenticated("the API key is unknown, revoked or expired")
    return actor


def _basic_password(credentials: str) -> str | None:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return password or user
