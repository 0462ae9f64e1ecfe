"""Request and response bodies of the migration dry run and the batch operations."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from orchestrator.batch_models import BatchKind, BatchStatus
from orchestrator.batch_operations import MAX_CASES, MAX_REASON
from web.api.schemas import CaseFilterFields, PageArgs

ELEMENT_ID = fields.String(validate=validate.Length(min=1, max=200))
VERSION = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
MAPPING = fields.Dict(keys=ELEMENT_ID, values=ELEMENT_ID, load_default=dict, validate=validate.Length(max=5000),
                      metadata={"description": "Source element id → target element id, for the elements that do not "
                                               "keep their id; every other element maps to the same id"})


class DryRunArgs(Schema):
    processKey = fields.String(required=True, validate=validate.Length(min=1, max=200))
    fromVersion = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    toVersion = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    mapping = MAPPING
    instanceIds = fields.List(fields.String(validate=validate.Length(min=1, max=36)), load_default=None,
                              allow_none=True, validate=validate.Length(max=MAX_CASES),
                              metadata={"description": "Only these cases (default: every running or suspended "
                                                       "case of the source version)"})


class CaseVerdictSchema(Schema):
    instanceId = fields.String(attribute="instance_id")
    businessKey = fields.String(attribute="business_key", allow_none=True)
    waitingIn = fields.List(fields.String(), attribute="waiting_in")
    movable = fields.Boolean()
    reasons = fields.List(fields.String(), metadata={"description": "Why the case cannot move (empty: it can)"})


class DryRunSchema(Schema):
    processKey = fields.String(attribute="key")
    fromVersion = fields.Integer(attribute="from_version")
    toVersion = fields.Integer(attribute="to_version")
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    movable = fields.Function(lambda dry: len(dry.movable), metadata={"type": "integer"})
    unmovable = fields.Function(lambda dry: len(dry.unmovable), metadata={"type": "integer"})
    cases = fields.List(fields.Nested(CaseVerdictSchema))


class CaseFilterArgs(CaseFilterFields):
    """The case list's filter: every case matching it when the batch is created."""

    text = fields.String(validate=validate.Length(max=200))


class BatchParametersArgs(Schema):
    reason = fields.String(validate=validate.Length(max=MAX_REASON),
                           metadata={"description": "cancel: why the cases are cancelled (required)"})
    processKey = fields.String(validate=validate.Length(min=1, max=200),
                               metadata={"description": "migrate: the process (default: the filter's or the cases')"})
    fromVersion = VERSION
    toVersion = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1),
                               metadata={"description": "migrate: the version the cases move to (required)"})
    mapping = MAPPING


class BatchArgs(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in BatchKind]))
    instanceIds = fields.List(fields.String(validate=validate.Length(min=1, max=36)),
                              validate=validate.Length(min=1, max=MAX_CASES),
                              metadata={"description": "The cases (or give `filter`)"})
    filter = fields.Nested(CaseFilterArgs, metadata={"description": "Every case matching it now (or give instanceIds)"})
    parameters = fields.Nested(BatchParametersArgs, load_default=dict)


class BatchSchema(Schema):
    id = fields.Integer()
    kind = fields.String(validate=validate.OneOf([k.value for k in BatchKind]))
    status = fields.String(validate=validate.OneOf([s.value for s in BatchStatus]))
    total = fields.Integer()
    done = fields.Integer()
    failed = fields.Integer()
    failures = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "Instance id → why it failed"})
    parameters = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    requestedBy = fields.String(attribute="requested_by")
    createdAt = fields.DateTime(attribute="created_at")
    finishedAt = fields.DateTime(attribute="finished_at", allow_none=True)


class BatchListArgs(PageArgs):
    pass
