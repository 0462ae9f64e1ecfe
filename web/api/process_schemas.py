"""marshmallow schemas of the process catalog's API: a process's versions with their case counts, and the
changes between two versions."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

VERSION_RANGE = validate.Range(min=1, max=2**31 - 1)


class CaseCountsSchema(Schema):
    running = fields.Integer()
    suspended = fields.Integer()
    completed = fields.Integer()
    cancelled = fields.Integer()
    withOpenIncidents = fields.Integer(attribute="with_open_incidents",
                                       metadata={"description": "cases with at least one unresolved incident"})


class VersionSummarySchema(Schema):
    definitionId = fields.Integer(attribute="definition_id")
    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    deploymentId = fields.Integer(attribute="deployment_id")
    deploymentName = fields.String(attribute="deployment_name")
    deployedBy = fields.String(attribute="deployed_by")
    deployedAt = fields.DateTime(attribute="deployed_at")
    cases = fields.Nested(CaseCountsSchema, attribute="counts")


class DiffArgs(Schema):
    from_ = fields.Integer(data_key="from", required=True, validate=VERSION_RANGE,
                           metadata={"description": "the older version"})
    to = fields.Integer(required=True, validate=VERSION_RANGE, metadata={"description": "the newer version"})


class DetailSchema(Schema):
    what = fields.String(metadata={"description": "where in the element: an attribute (`camunda:dueDate`), "
                                                  "`type`, or a path into its children"})
    before = fields.String(allow_none=True)
    after = fields.String(allow_none=True)


class ElementChangeSchema(Schema):
    id = fields.String()
    change = fields.String(validate=validate.OneOf(["added", "removed", "changed"]))
    type = fields.String(metadata={"description": "BPMN element type, e.g. userTask"})
    name = fields.String(allow_none=True)
    details = fields.List(fields.Nested(DetailSchema))


class ChangedFileSchema(Schema):
    name = fields.String()
    change = fields.String(validate=validate.OneOf(["added", "removed", "changed"]))


class VersionDiffSchema(Schema):
    key = fields.String()
    fromVersion = fields.Integer(attribute="from_version")
    toVersion = fields.Integer(attribute="to_version")
    elements = fields.List(fields.Nested(ElementChangeSchema))
    flows = fields.List(fields.Nested(ElementChangeSchema))
    files = fields.List(fields.Nested(ChangedFileSchema), metadata={
        "description": "files of the two deployments that differ (the process's BPMN file, its DMN files, "
                       "translations)"})


def diff_view(diff) -> dict:
    """The API's reading of a VersionDiff."""
    return {"key": diff.new.key, "from_version": diff.old.version, "to_version": diff.new.version,
            "elements": diff.changes.elements, "flows": diff.changes.flows,
            "files": [{"name": name, "change": change} for name, change in diff.changed_files]}
