"""marshmallow schemas of the REST API: parsed at the edge, plain values inside."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from orchestrator.authorization import KNOWN_ROLES
from orchestrator.instances import VARIABLE_NAME
from orchestrator.models import HumanTaskState, InstanceStatus, JobStatus
from orchestrator.query_filters import MAX_PAGE
from web.api.strict_json import JSON_VALUE_REF

JSON_VALUE = fields.Raw(allow_none=True)
# what a request may carry: the JSON the strict reading accepts (web/api/strict_json.py), so says the document
JSON_INPUT = fields.Raw(allow_none=True, metadata={"allOf": [JSON_VALUE_REF]})


def variables_field(**options) -> fields.Dict:
    """Process variables sent in: names an expression can use (the engine checks them), JSON values."""
    return fields.Dict(keys=fields.String(), values=JSON_INPUT,
                       metadata={"propertyNames": {"pattern": VARIABLE_NAME.pattern}, **options.pop("metadata", {})},
                       **options)


class ProblemSchema(Schema):
    """RFC 9457 problem details; `errors` maps each bad field to what is wrong."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page of results: the items plus what is needed to ask for the next page."""
    return Schema.from_dict({"items": fields.List(fields.Nested(item)), "total": fields.Integer(),
                             "limit": fields.Integer(), "offset": fields.Integer()}, name=name)


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10_000_000))


class DeployedSchema(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    deploymentId = fields.Integer(attribute="deployment_id")
    new = fields.Boolean()


class DefinitionVersionSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    deploymentId = fields.Integer(attribute="deployment_id")


class DefinitionSchema(Schema):
    key = fields.String()
    name = fields.String(allow_none=True)
    latestVersion = fields.Integer(attribute="latest_version")
    startMessages = fields.List(fields.String(), attribute="start_messages")
    versions = fields.List(fields.Nested(DefinitionVersionSchema))


class StartArgs(Schema):
    businessKey = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    variables = variables_field(load_default=dict)
    version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))


class InstanceSchema(Schema):
    id = fields.String()
    definitionKey = fields.String()
    definitionVersion = fields.Integer()
    businessKey = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf([s.value for s in InstanceStatus]))
    startedBy = fields.String()
    startedAt = fields.DateTime()
    endedAt = fields.DateTime(allow_none=True)
    nextTimerAt = fields.DateTime(allow_none=True)
    variables = fields.Dict(keys=fields.String(), values=JSON_VALUE)


InstancePageSchema = page_of(InstanceSchema, "InstancePage")


class CaseFilterFields(Schema):
    """The case list's filter fields, shared by the list and the batch operations that take a filter."""

    definitionKey = fields.String(validate=validate.Length(max=200))
    status = fields.String(validate=validate.OneOf([s.value for s in InstanceStatus]))
    businessKey = fields.String(validate=validate.Length(max=200))
    startedAfter = fields.AwareDateTime(default_timezone=None)
    startedBefore = fields.AwareDateTime(default_timezone=None)
    variable = fields.String(validate=validate.Regexp(r"^[A-Za-z][A-Za-z0-9_]{0,99}$"))
    equals = fields.String(validate=validate.Length(max=500))
    contains = fields.String(validate=validate.Length(max=500))


class InstanceListArgs(PageArgs, CaseFilterFields):
    pass


class HistoryEventSchema(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    type = fields.String()
    actor = fields.String()
    elementId = fields.String(attribute="element_id", allow_none=True)
    taskId = fields.String(attribute="task_id", allow_none=True)
    payload = fields.Dict(keys=fields.String(), values=JSON_VALUE)
    hash = fields.String()
    prevHash = fields.String(attribute="prev_hash")


class FieldDescriptionSchema(Schema):
    """A form field: its type, whether it is required, its enum values and the constraints a value must meet."""

    id = fields.String()
    label = fields.String(allow_none=True)
    type = fields.String(metadata={"description": "string, textarea, long, double, boolean, date, enum or file"})
    required = fields.Boolean()
    readonly = fields.Boolean()
    default = JSON_VALUE
    options = fields.List(fields.Dict(keys=fields.String(), values=fields.String(allow_none=True)),
                          metadata={"description": "for enum fields: each allowed value (id) and its name"})
    constraints = fields.Dict(keys=fields.String(), values=JSON_VALUE,
                              metadata={"description": "minlength, maxlength, min, max, pattern"})
    properties = fields.Dict(keys=fields.String(), values=JSON_VALUE)


class FormFieldSchema(FieldDescriptionSchema):
    value = JSON_VALUE


class StartFormSchema(Schema):
    """What a start of this version checks: `variables` named by the field ids of `form`, typed and constrained."""

    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    form = fields.List(fields.Nested(FieldDescriptionSchema))


class StartFormArgs(Schema):
    version = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class TaskSchema(Schema):
    id = fields.String()
    instanceId = fields.String()
    definitionKey = fields.String()
    businessKey = fields.String(allow_none=True)
    elementId = fields.String()
    name = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf([s.value for s in HumanTaskState]))
    candidateGroups = fields.List(fields.String())
    assignee = fields.String(allow_none=True)
    priority = fields.Integer()
    dueAt = fields.DateTime(allow_none=True)
    createdAt = fields.DateTime()
    completedAt = fields.DateTime(allow_none=True)
    completedBy = fields.String(allow_none=True)


class TaskDetailSchema(TaskSchema):
    form = fields.List(fields.Nested(FormFieldSchema))
    variables = fields.Dict(keys=fields.String(), values=JSON_VALUE)


TaskPageSchema = page_of(TaskSchema, "TaskPage")


class TaskListArgs(PageArgs):
    assignedToMe = fields.Boolean(load_default=False)
    myGroups = fields.Boolean(load_default=False)
    unassigned = fields.Boolean(load_default=False)
    group = fields.String(validate=validate.Length(max=100))
    instanceId = fields.String(validate=validate.Length(max=36))
    businessKey = fields.String(validate=validate.Length(max=200))
    definitionKey = fields.String(validate=validate.Length(max=200))
    variable = fields.String(validate=validate.Regexp(r"^[A-Za-z][A-Za-z0-9_]{0,99}$"))
    equals = fields.String(validate=validate.Length(max=500))
    contains = fields.String(validate=validate.Length(max=500))
    dueBefore = fields.AwareDateTime(default_timezone=None)
    state = fields.String(load_default=HumanTaskState.READY.value,
                          validate=validate.OneOf([s.value for s in HumanTaskState]))
    sort = fields.String(load_default="created", validate=validate.OneOf(["created", "due", "priority", "name"]))
    descending = fields.Boolean(load_default=False)


class CompleteArgs(Schema):
    variables = variables_field(load_default=dict)


class AssignArgs(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=200))


class MessageArgs(Schema):
    messageName = fields.String(required=True, validate=validate.Length(min=1, max=200))
    businessKey = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    correlationKeys = variables_field(load_default=None, allow_none=True, metadata={
        "minProperties": 1, "maxProperties": 1, "description": "exactly one variable name → value"})
    variables = variables_field(load_default=dict)


class SignalArgs(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"description": "the signal's name (the `name` of the model's <signal>)"})
    variables = variables_field(load_default=dict, metadata={"description": "set in every case that catches it"})


class SignalDeliverySchema(Schema):
    delivered = fields.List(fields.String(), metadata={"description": "the cases that received the signal"})
    refused = fields.Dict(keys=fields.String(), values=fields.String(),
                          metadata={"description": "case id → why that case could not take the signal"})


class CorrelationSchema(Schema):
    instanceId = fields.String(attribute="instance_id")
    started = fields.Boolean()


class CancelArgs(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


class VariableEditArgs(Schema):
    comment = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=4000),
                  validate.Regexp(r"[\s\S]*\S", error="is required: say why the case's data is changed")],
        metadata={"description": "Why the data is changed (required, not blank); kept in the case's history"})
    values = variables_field(load_default=dict, metadata={
        "description": "Variables to add or change: name → new value (a JSON value)"})
    remove = fields.List(fields.String(validate=validate.Regexp(VARIABLE_NAME.pattern)), load_default=list,
                         validate=validate.Length(max=500),
                         metadata={"description": "Names of variables to remove from the case"})


class JobSchema(Schema):
    id = fields.Integer()
    instanceId = fields.String(attribute="instance_id")
    elementId = fields.String(attribute="element_id")
    topic = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in JobStatus]))
    attempts = fields.Integer()
    nextAttemptAt = fields.DateTime(attribute="next_attempt_at")
    lastError = fields.String(attribute="last_error", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    finishedAt = fields.DateTime(attribute="finished_at", allow_none=True)


JobPageSchema = page_of(JobSchema, "JobPage")


class JobListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in JobStatus]))


class IncidentSchema(Schema):
    id = fields.Integer()
    instanceId = fields.String(attribute="instance_id")
    jobId = fields.Integer(attribute="job_id", allow_none=True)
    elementId = fields.String(attribute="element_id", allow_none=True)
    message = fields.String()
    createdAt = fields.DateTime(attribute="created_at")
    resolvedAt = fields.DateTime(attribute="resolved_at", allow_none=True)
    resolvedBy = fields.String(attribute="resolved_by", allow_none=True)


IncidentPageSchema = page_of(IncidentSchema, "IncidentPage")


class IncidentListArgs(PageArgs):
    open = fields.Boolean(load_default=True)


class ApiKeyArgs(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(KNOWN_ROLES))
    groups = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list)
    expiresAt = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)


class ApiKeySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    groups = fields.List(fields.String())
    prefix = fields.String()
    createdBy = fields.String(attribute="created_by")
    createdAt = fields.DateTime(attribute="created_at")
    expiresAt = fields.DateTime(attribute="expires_at", allow_none=True)
    revokedAt = fields.DateTime(attribute="revoked_at", allow_none=True)
    lastUsedAt = fields.DateTime(attribute="last_used_at", allow_none=True)


class IssuedApiKeySchema(ApiKeySchema):
    token = fields.String()


class CircuitSchema(Schema):
    system = fields.String()
    state = fields.String()
    consecutiveFailures = fields.Integer(attribute="consecutive_failures")
    openedAt = fields.DateTime(attribute="opened_at", allow_none=True)
    probeAt = fields.DateTime(attribute="probe_at", allow_none=True)
    lastError = fields.String(attribute="last_error", allow_none=True)


class EventExportArgs(Schema):
    """Which history events to export (every condition given must hold) and as what."""

    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))
    processKey = fields.String(validate=validate.Length(min=1, max=200))
    after = fields.AwareDateTime(default_timezone=None, metadata={"description": "event time at or after"})
    before = fields.AwareDateTime(default_timezone=None, metadata={"description": "event time before"})
    type = fields.List(fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=50),
                       metadata={"description": "event types; repeat for several"})
    businessKey = fields.String(validate=validate.Length(min=1, max=200))
    instanceId = fields.String(validate=validate.Length(min=1, max=36))
    actor = fields.String(validate=validate.Length(min=1, max=200))


class PathStepSchema(Schema):
    kind = fields.String(metadata={"description": "element_completed, element_cancelled, element_failed, "
                                                  "instance_completed or instance_cancelled"})
    elementId = fields.String(attribute="element_id", allow_none=True)


class VariableDifferenceSchema(Schema):
    """A variable the recorded step and its re-execution changed differently; a change is set, unset or
    unchanged, and the value is null unless set."""

    name = fields.String()
    recordedChange = fields.String(attribute="recorded_change")
    recorded = JSON_VALUE
    reExecutedChange = fields.String(attribute="re_executed_change")
    reExecuted = fields.Raw(attribute="re_executed", allow_none=True)


class StepComparisonSchema(Schema):
    number = fields.Integer()
    seq = fields.Integer(metadata={"description": "the recorded command's first event"})
    at = fields.DateTime()
    actor = fields.String()
    input = fields.String(metadata={"description": "the recorded input applied again, or timer"})
    elementId = fields.String(attribute="element_id", allow_none=True)
    recordedPath = fields.List(fields.Nested(PathStepSchema), attribute="recorded_path")
    reExecutedPath = fields.List(fields.Nested(PathStepSchema), attribute="re_executed_path")
    recordedWaiting = fields.List(fields.String(), attribute="recorded_waiting", allow_none=True)
    reExecutedWaiting = fields.List(fields.String(), attribute="re_executed_waiting", allow_none=True)
    variableDifferences = fields.List(fields.Nested(VariableDifferenceSchema), attribute="variable_differences")
    error = fields.String(allow_none=True)
    matches = fields.Boolean()


class ReexecutionReportSchema(Schema):
    """A case run again from its recorded inputs on the version it ran on, compared step by step."""

    instanceId = fields.String(attribute="instance_id")
    businessKey = fields.String(attribute="business_key", allow_none=True)
    definitionKey = fields.String(attribute="definition_key")
    definitionVersion = fields.Integer(attribute="definition_version")
    status = fields.String()
    ok = fields.Boolean()
    statesRecorded = fields.Boolean(attribute="states_recorded", metadata={
        "description": "false for a case recorded before commands recorded their state: its steps compare paths "
                       "only"})
    skippedCommands = fields.Integer(attribute="skipped_commands")
    error = fields.String(allow_none=True)
    steps = fields.List(fields.Nested(StepComparisonSchema))
    finalDifferences = fields.List(fields.Nested(VariableDifferenceSchema), attribute="final_differences",
                                   metadata={"description": "the case's stored variables against the re-execution's"})
