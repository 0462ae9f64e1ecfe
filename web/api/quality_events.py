"""Complaints, repairs and outside returns in (from a CRM, a service desk, a shop): they count for the recall
signal and a CAPA's recurrence, and join the open CAPA of their fault code and lot."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from orchestrator.quality_events import QualityEventInput
from web.api.context import actor, engine
from web.api.idempotency import command
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema

blp = Blueprint("quality_events", __name__, url_prefix="/api/v1",
                description="Quality events (complaints, repairs, returns handled elsewhere)")

TEXT = validate.Length(min=1, max=100)


class QualityEventArgs(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["return", "complaint", "repair"]))
    reference = fields.String(required=True, validate=TEXT,
                              metadata={"description": "The reporting system's number; recorded once per kind"})
    sku = fields.String(required=True, validate=TEXT)
    model = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100),
                          metadata={"description": "Product model (SKU family); derived from the SKU when absent"})
    lot = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    faultCode = fields.String(required=True, validate=TEXT)
    occurredAt = fields.AwareDateTime(required=True, default_timezone=None)
    requestCapa = fields.Boolean(load_default=False, metadata={
        "description": "Open a CAPA when the fault code and lot have none open (one open joins in any case)"})


class QualityEventSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    reference = fields.String()
    sku = fields.String()
    model = fields.String()
    lot = fields.String(allow_none=True)
    faultCode = fields.String()
    occurredAt = fields.DateTime()
    capaInstanceId = fields.String(allow_none=True, metadata={
        "description": "The CAPA the event joined or opened, if any"})


@blp.route("/quality-events", methods=["POST"])
@blp.arguments(QualityEventArgs)
@blp.response(201, QualityEventSchema)
@blp.alt_response(409, description="This reference is already recorded for the kind", schema=ProblemSchema,
                  content_type=PROBLEM)
@blp.alt_response(422, description="Invalid values; `errors` names each field", schema=ProblemSchema,
                  content_type=PROBLEM)
@command()
def record_quality_event(args):
    """Record one complaint, repair or return reported by another system."""
    event = QualityEventInput(args["kind"], args["reference"], args["sku"], args["faultCode"], args["occurredAt"],
                              args["lot"], args["model"])
    recorded = engine().signals.quality_events.record_event(event, actor=actor(), request_capa=args["requestCapa"])
    case = recorded.case
    return {"id": recorded.id, "kind": case.kind, "reference": case.reference, "sku": case.sku, "model": case.model,
            "lot": case.lot or None, "faultCode": case.fault_code, "occurredAt": case.at,
            "capaInstanceId": recorded.capa_instance_id}
