"""Traceability events in (from an ERP/MES), recall scope out."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integrations.traceability.models import TraceEvent
from integrations.traceability.scope import recall_scope
from orchestrator.authorization import Permission, require
from web.api.context import actor
from web.api.idempotency import command, writing_through
from web.extensions import db

blp = Blueprint("traceability", __name__, url_prefix="/api/v1", description="Traceability (EPCIS-style events)")

LOT = {"sku": fields.String(validate=validate.Length(max=100)), "lot": fields.String(validate=validate.Length(max=100)),
       "quantity": fields.Float(allow_none=True, validate=validate.Range(min=0, max=1e12))}
LotSchema = Schema.from_dict(LOT, name="TraceLot")


class TraceEventSchema(Schema):
    eventId = fields.String(attribute="event_id", validate=validate.Length(min=1, max=100), allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(["object", "aggregation", "transformation",
                                                                 "transaction"]))
    action = fields.String(load_default="OBSERVE", validate=validate.OneOf(["ADD", "OBSERVE", "DELETE"]))
    eventTime = fields.AwareDateTime(attribute="event_time", required=True, default_timezone=None)
    bizStep = fields.String(attribute="biz_step", validate=validate.Length(max=40), allow_none=True)
    disposition = fields.String(validate=validate.Length(max=40), allow_none=True)
    bizLocation = fields.String(attribute="biz_location", validate=validate.Length(max=100), allow_none=True)
    sku = fields.String(validate=validate.Length(max=100), allow_none=True)
    lot = fields.String(validate=validate.Length(max=100), allow_none=True)
    quantity = fields.Float(allow_none=True, validate=validate.Range(min=0, max=1e12))
    epcs = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list,
                       validate=validate.Length(max=10_000))
    parent = fields.String(validate=validate.Length(max=100), allow_none=True)
    inputs = fields.List(fields.Nested(LotSchema), load_default=list)
    outputs = fields.List(fields.Nested(LotSchema), load_default=list)
    destination = fields.String(validate=validate.Length(max=100), allow_none=True)
    destinationName = fields.String(attribute="destination_name", validate=validate.Length(max=200), allow_none=True)
    destinationKind = fields.String(attribute="destination_kind", validate=validate.Length(max=40), allow_none=True)
    contact = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), allow_none=True)


class TraceBatchSchema(Schema):
    events = fields.List(fields.Nested(TraceEventSchema), required=True, validate=validate.Length(min=1, max=5000))


class StoredSchema(Schema):
    stored = fields.Integer()


class ScopeArgs(Schema):
    suspectLots = fields.List(fields.Nested(LotSchema), load_default=list)
    suspectSerials = fields.List(fields.String(validate=validate.Length(max=100)), load_default=list)


class ScopeSchema(Schema):
    lots = fields.List(fields.String())
    units = fields.List(fields.String())
    unitCount = fields.Integer()
    shippedUnits = fields.Integer()
    quantity = fields.Float()
    consignees = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True)))
    consigneeCount = fields.Integer()
    identifiableCustomers = fields.Integer()


@blp.route("/trace-events", methods=["POST"])
@blp.arguments(TraceBatchSchema)
@blp.response(201, StoredSchema)
@command()
def record_events(batch):
    """Record a batch of events; an event id seen before is ignored, so re-sending a file is safe."""
    require(actor(), Permission.RECORD_TRACE)
    ids = [e.get("event_id") for e in batch["events"] if e.get("event_id")]
    seen = set(db.session.scalars(db.select(TraceEvent.event_id).where(TraceEvent.event_id.in_(ids)))) if ids else set()
    fresh = []
    for event in batch["events"]:
        event_id = event.get("event_id")
        if event_id and event_id in seen:
            continue  # already recorded, or repeated within this batch
        seen.add(event_id)
        fresh.append(TraceEvent(**event))
    writing_through(db.session()).add_all(fresh)
    db.session.commit()
    return {"stored": len(fresh)}


@blp.route("/recall-scope", methods=["POST"])
@blp.arguments(ScopeArgs, required=False)
@blp.response(200, ScopeSchema)
def scope(args):
    """Compute the recall scope of suspect lots/serials (the same as the trace.recall_scope service task)."""
    require(actor(), Permission.READ_ALL)
    return recall_scope(list(db.session.scalars(db.select(TraceEvent))), args["suspectLots"], args["suspectSerials"])
