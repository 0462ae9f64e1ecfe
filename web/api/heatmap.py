"""REST API: Time spent per element and predicted SLA breaches."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from web.api.context import actor, engine
from web.api.problems import PROBLEM
from web.api.schemas import PageArgs, ProblemSchema, page_of

blp = Blueprint("heatmap", __name__, url_prefix="/api/v1", description="Time spent per element and predicted SLA breaches")

FORBIDDEN = "The role may not read dashboards and reports (managers, process owners and auditors may)"


class HeatmapElementSchema(Schema):
    elementId = fields.String(attribute="element_id")
    name = fields.String(allow_none=True)
    passes = fields.Integer(metadata={"description": "times a case finished the element"})
    medianSeconds = fields.Float(attribute="median_seconds", allow_none=True,
                                 metadata={"description": "median time spent, within a histogram bucket (±10 %)"})
    p90Seconds = fields.Float(attribute="p90_seconds", allow_none=True)
    overdueShare = fields.Float(attribute="overdue_share", allow_none=True,
                                metadata={"description": "passes finished after the task's due date ÷ passes"})


class HeatmapFlowSchema(Schema):
    flowId = fields.String(attribute="element_id", metadata={"description": "source>target"})
    source = fields.String()
    target = fields.String()
    passes = fields.Integer()
    share = fields.Float(allow_none=True,
                         metadata={"description": "passes ÷ cases started on the version (above 1 in a loop)"})


class HeatmapSchema(Schema):
    definitionId = fields.Integer(attribute="definition_id")
    key = fields.String()
    version = fields.Integer()
    name = fields.String(allow_none=True)
    instances = fields.Integer(metadata={"description": "cases started on the version"})
    elements = fields.List(fields.Nested(HeatmapElementSchema))
    flows = fields.List(fields.Nested(HeatmapFlowSchema))


class TaskAtRiskSchema(Schema):
    taskId = fields.String(attribute="task_id")
    instanceId = fields.String(attribute="instance_id")
    businessKey = fields.String(attribute="business_key", allow_none=True)
    processKey = fields.String(attribute="process_key")
    elementId = fields.String(attribute="element_id")
    name = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    candidateGroups = fields.List(fields.String(), attribute="candidate_groups")
    createdAt = fields.DateTime(attribute="created_at")
    dueAt = fields.DateTime(attribute="due_at")
    predictedAt = fields.DateTime(attribute="predicted_at", allow_none=True,
                                  metadata={"description": "created + the p75 of the element's past time spent; "
                                                           "null with fewer than 20 past passes"})
    overdue = fields.Boolean()
    atRisk = fields.Boolean(attribute="at_risk", metadata={"description": "not yet overdue, predicted late"})


@blp.route("/processes/<string:key>/versions/<int:version>/heatmap", methods=["GET"])
@blp.response(200, HeatmapSchema)
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(404, description="The process or version is not deployed", schema=ProblemSchema,
                  content_type=PROBLEM)
def version_heatmap(key: str, version: int):
    """Per element of one version: passes, median and p90 time spent, overdue share; per flow: its share of the
    version's cases."""
    return engine().heatmaps.version(actor(), key, version)


@blp.route("/tasks/at-risk", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(TaskAtRiskSchema, "TaskAtRiskPage"))
@blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)
def tasks_at_risk(args):
    """One page of the open tasks that are overdue or predicted to miss their due date, soonest due first."""
    page = engine().heatmaps.at_risk(actor(), limit=args["limit"], offset=args["offset"])
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}
