"""marshmallow schemas of the modeler API: drafts, their problems and what a deploy made of them."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

SOURCES = ("deployed", "decision", "template")


class DraftCreateArgs(Schema):
    """Where a new draft comes from: a deployed process version, a deployed decision, or the template."""

    source = fields.String(required=True, validate=validate.OneOf(SOURCES),
                           metadata={"description": "deployed: a process version (`key`, optional `version`); "
                                                    "decision: the DMN file deploying decision `key`; "
                                                    "template: a new process `key` named `name`"})
    key = fields.String(required=True, validate=validate.Length(min=1, max=150))
    version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
    name = fields.String(load_default="", validate=validate.Length(max=200))

    @validates_schema
    def _template_has_a_name(self, data, **kwargs):
        if data.get("source") == "template" and not data.get("name", "").strip():
            raise ValidationError("a new process needs a name", "name")


class DraftSaveArgs(Schema):
    content = fields.String(required=True, validate=validate.Length(min=1),
                            metadata={"description": "the whole BPMN or DMN XML"})


class DraftSummarySchema(Schema):
    id = fields.Integer()
    owner = fields.String()
    processKey = fields.String(attribute="process_key", allow_none=True)
    fileName = fields.String(attribute="file_name")
    kind = fields.String(metadata={"enum": ["bpmn", "dmn"]})
    basedOn = fields.Integer(attribute="based_on", allow_none=True,
                             metadata={"description": "the process definition id the draft was opened from"})
    basedOnVersion = fields.Integer(attribute="based_on_version", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")


class DraftSchema(DraftSummarySchema):
    content = fields.String()


class ModelProblemSchema(Schema):
    """One reason a deploy refuses the draft, pinned to its element where the engine knows it."""

    elementId = fields.String(attribute="element_id", allow_none=True)
    file = fields.String(allow_none=True)
    message = fields.String()


class ValidationSchema(Schema):
    valid = fields.Boolean()
    problems = fields.List(fields.Nested(ModelProblemSchema))


class RefusedDeploySchema(Schema):
    """RFC 9457 problem details of a refused deploy, with each problem on its element."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    problems = fields.List(fields.Nested(ModelProblemSchema),
                           metadata={"description": "a model the deploy refused: each problem on its element"})
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(),
                         metadata={"description": "a request refused before the model was read (the draft's file "
                                                  "name, content or size): what is wrong, by field"})
