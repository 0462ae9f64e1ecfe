"""REST API: KPIs of returns, recalls and CAPA."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from orchestrator.dashboard_queries import DashboardFilter
from web.api.context import actor, engine
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema

blp = Blueprint("dashboards", __name__, url_prefix="/api/v1", description="KPIs of returns, recalls and CAPA")

FORBIDDEN = "The role may not read dashboards (managers, process owners, auditors and admins may)"
TEXT = validate.Length(max=200)


class DashboardArgs(Schema):
    from_ = fields.Date(data_key="from", metadata={"description": "first day of the period (cases by start); "
                                                                  "default: the first of the month a year back"})
    to = fields.Date(metadata={"description": "last day of the period, included; default: today"})
    sku = fields.String(validate=TEXT)
    reason = fields.String(validate=TEXT)
    region = fields.String(validate=TEXT)
    channel = fields.String(validate=TEXT)
    supplier = fields.String(validate=TEXT)
    fault_code = fields.String(data_key="faultCode", validate=TEXT)


def _filter(args: dict) -> DashboardFilter:
    return DashboardFilter(start=args.get("from_"), end=args.get("to"),
                           **{name: args.get(name) or None for name in
                              ("sku", "reason", "region", "channel", "supplier", "fault_code")})


class FilterSchema(Schema):
    from_ = fields.Date(data_key="from", attribute="start")
    to = fields.Date(attribute="end")
    sku = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    supplier = fields.String(allow_none=True)
    faultCode = fields.String(attribute="fault_code", allow_none=True)


class RateRowSchema(Schema):
    key = fields.String(allow_none=True, metadata={"description": "the SKU, reason, region or month; null: not recorded"})
    cases = fields.Integer()
    units = fields.Float(metadata={"description": "returned units"})
    sold = fields.Float(allow_none=True, metadata={"description": "units sold; null: not known"})
    rate = fields.Float(allow_none=True, metadata={"description": "units ÷ sold"})


class MixRowSchema(Schema):
    key = fields.String(allow_none=True)
    cases = fields.Integer()
    share = fields.Float(allow_none=True)


class StepSpreadSchema(Schema):
    step = fields.String(metadata={"description": "to_received | to_resolved | total, or a month YYYY-MM"})
    count = fields.Integer()
    medianDays = fields.Float(attribute="median_days", allow_none=True)
    p90Days = fields.Float(attribute="p90_days", allow_none=True)


class ElementTimeSchema(Schema):
    elementId = fields.String(attribute="element_id")
    name = fields.String(allow_none=True)
    passes = fields.Integer()
    medianSeconds = fields.Float(attribute="median_seconds", allow_none=True)
    p90Seconds = fields.Float(attribute="p90_seconds", allow_none=True)
    overdueShare = fields.Float(attribute="overdue_share", allow_none=True)


class CostSchema(Schema):
    costedCases = fields.Integer(attribute="costed_cases")
    logistics = fields.Float(allow_none=True)
    parts = fields.Float(allow_none=True)
    labour = fields.Float(allow_none=True)
    total = fields.Float(allow_none=True, metadata={"description": "average total cost per return"})
    totalCost = fields.Float(attribute="total_cost")


class ReuseSchema(Schema):
    cases = fields.Integer(metadata={"description": "returns with a disposition"})
    reuse = fields.Integer()
    recycle = fields.Integer()
    toSupplier = fields.Integer(attribute="to_supplier")
    reuseRate = fields.Float(attribute="reuse_rate", allow_none=True)
    recycleRate = fields.Float(attribute="recycle_rate", allow_none=True)
    toSupplierRate = fields.Float(attribute="to_supplier_rate", allow_none=True)


class ParetoRowSchema(Schema):
    faultCode = fields.String(attribute="fault_code")
    cases = fields.Integer()
    share = fields.Float()
    cumulativeShare = fields.Float(attribute="cumulative_share")


class ReturnsDashboardSchema(Schema):
    filter = fields.Nested(FilterSchema, attribute="criteria")
    total = fields.Nested(RateRowSchema)
    valueRecovered = fields.Float(attribute="value_recovered")
    cost = fields.Nested(CostSchema)
    bySku = fields.List(fields.Nested(RateRowSchema), attribute="by_sku")
    byReason = fields.List(fields.Nested(RateRowSchema), attribute="by_reason")
    byRegion = fields.List(fields.Nested(RateRowSchema), attribute="by_region")
    byMonth = fields.List(fields.Nested(RateRowSchema), attribute="by_month")
    turnaround = fields.List(fields.Nested(StepSpreadSchema))
    turnaroundByMonth = fields.List(fields.Nested(StepSpreadSchema), attribute="turnaround_by_month")
    grades = fields.List(fields.Nested(MixRowSchema))
    dispositions = fields.List(fields.Nested(MixRowSchema))
    outcomes = fields.List(fields.Nested(MixRowSchema))
    reuse = fields.Nested(ReuseSchema)
    pareto = fields.List(fields.Nested(ParetoRowSchema))
    stepTimes = fields.List(fields.Nested(ElementTimeSchema), attribute="step_times")


class SpreadSchema(Schema):
    count = fields.Integer()
    medianDays = fields.Float(attribute="median", allow_none=True)
    p90Days = fields.Float(attribute="p90", allow_none=True)


class StageRowSchema(Schema):
    stage = fields.String(allow_none=True, metadata={"description": "D1..D8; null: not yet in a D-step"})
    cases = fields.Integer()


class OverdueRowSchema(Schema):
    elementId = fields.String(attribute="element_id")
    name = fields.String(allow_none=True)
    tasks = fields.Integer()
    cases = fields.Integer()


class GroupRowSchema(Schema):
    key = fields.String(allow_none=True)
    cases = fields.Integer()
    open = fields.Integer()
    closed = fields.Integer()


class RecurrenceSchema(Schema):
    checks = fields.Integer(metadata={"description": "effectiveness checks completed"})
    notEffective = fields.Integer(attribute="not_effective")
    notEffectiveShare = fields.Float(attribute="not_effective_share", allow_none=True)
    closed = fields.Integer(metadata={"description": "closed CAPAs with a fault code"})
    recurred = fields.Integer(metadata={"description": "of them, with a return of that fault code since closing"})
    recurredShare = fields.Float(attribute="recurred_share", allow_none=True)
    returnsAfter = fields.Integer(attribute="returns_after")


class CapaDashboardSchema(Schema):
    filter = fields.Nested(FilterSchema, attribute="criteria")
    cases = fields.Integer()
    open = fields.Integer()
    closed = fields.Integer()
    byStage = fields.List(fields.Nested(StageRowSchema), attribute="by_stage")
    overdue = fields.List(fields.Nested(OverdueRowSchema))
    overdueTasks = fields.Integer(attribute="overdue_tasks")
    overdueCases = fields.Integer(attribute="overdue_cases")
    cycle = fields.Nested(SpreadSchema)
    recurrence = fields.Nested(RecurrenceSchema)
    bySupplier = fields.List(fields.Nested(GroupRowSchema), attribute="by_supplier")
    byFaultCode = fields.List(fields.Nested(GroupRowSchema), attribute="by_fault_code")
    stepTimes = fields.List(fields.Nested(ElementTimeSchema), attribute="step_times")


class AudienceRowSchema(Schema):
    audience = fields.String(metadata={"description": "trade | consumers | total"})
    scope = fields.Float(metadata={"description": "units in scope"})
    consignees = fields.Integer()
    notified = fields.Integer()
    delivered = fields.Integer()
    opened = fields.Integer()
    acknowledged = fields.Integer()
    returned = fields.Float()
    corrected = fields.Float()
    destroyed = fields.Float()
    accountedShare = fields.Float(attribute="accounted_share", allow_none=True)
    acknowledgedShare = fields.Float(attribute="acknowledged_share", allow_none=True)


class RecallRowSchema(Schema):
    instanceId = fields.String(attribute="instance_id")
    businessKey = fields.String(attribute="business_key", allow_none=True)
    status = fields.String()
    startedAt = fields.DateTime(attribute="started_at")
    daysSinceStart = fields.Integer(attribute="days_since_start")
    requiredLevel = fields.String(attribute="required_level", allow_none=True)
    levelReached = fields.String(attribute="level_reached", allow_none=True)
    scopeKnown = fields.Boolean(attribute="scope_known")
    audiences = fields.List(fields.Nested(AudienceRowSchema))


class RecallDashboardSchema(Schema):
    filter = fields.Nested(FilterSchema, attribute="criteria")
    recalls = fields.List(fields.Nested(RecallRowSchema))
    capped = fields.Boolean()


def _documented(view):
    view = blp.alt_response(403, description=FORBIDDEN, schema=ProblemSchema, content_type=PROBLEM)(view)
    view = blp.alt_response(400, description="A filter value is not a date or too long; `errors` names it",
                            schema=ProblemSchema, content_type=PROBLEM)(view)
    view = blp.alt_response(422, description="The period ends before it starts, spans more than 20 years or lies "
                                             "outside 1900–9998; `errors` names the field",
                            schema=ProblemSchema, content_type=PROBLEM)(view)
    return blp.arguments(DashboardArgs, location="query", error_status_code=400)(view)


@blp.route("/dashboards/returns", methods=["GET"])
@blp.response(200, ReturnsDashboardSchema)
@_documented
def returns_dashboard(args):
    """Return rates, turnaround, mixes, value recovered, cost per return, reuse / recycling and the fault Pareto
    of the returns started in the period."""
    return engine().dashboards.returns(actor(), _filter(args))


@blp.route("/dashboards/recall", methods=["GET"])
@blp.response(200, RecallDashboardSchema)
@_documented
def recall_dashboard(args):
    """Each recall started in the period, per audience: scope, reach, acknowledgements and units accounted for."""
    return engine().dashboards.recall(actor(), _filter(args))


@blp.route("/dashboards/capa", methods=["GET"])
@blp.response(200, CapaDashboardSchema)
@_documented
def capa_dashboard(args):
    """Open CAPAs by discipline, overdue tasks, cycle time, recurrence, by supplier and fault code."""
    return engine().dashboards.capa(actor(), _filter(args))
