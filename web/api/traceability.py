"""Traceability events in (from an ERP/MES), recall scope out."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from integrations.traceability.backward import parse_start, trace_back
from integrations.traceability.models import TraceEvent
from integrations.traceability.scope import recall_scope
from integrations.traceability.suspects import InvalidSuspects, parse_suspects
from orchestrator.authorization import Permission, require
from web.api.context import actor
from web.api.idempotency import command, writing_through
from web.api.problems import problem
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
    source = fields.String(validate=validate.Length(max=100), allow_none=True,
                           metadata={"description": "receiving: the supplier's id (GLN, ERP vendor number)"})
    sourceName = fields.String(attribute="source_name", validate=validate.Length(max=200), allow_none=True)


class TraceBatchSchema(Schema):
    events = fields.List(fields.Nested(TraceEventSchema), required=True, validate=validate.Length(min=1, max=5000))


class StoredSchema(Schema):
    stored = fields.Integer()


SerialRangeSchema = Schema.from_dict({
    "sku": fields.String(required=True, validate=validate.Length(min=1, max=100)),
    "from": fields.String(required=True, validate=validate.Length(min=1, max=100),
                          metadata={"example": "K2-000100"}),
    "to": fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={"example": "K2-000199"}),
}, name="SerialRange")


NOT_BLANK = validate.Regexp(r"^\s*\S.{0,99}$", error="must hold a character other than a space")
SuspectLotSchema = Schema.from_dict({
    "sku": fields.String(required=True, validate=[validate.Length(min=1, max=100), NOT_BLANK]),
    "lot": fields.String(required=True, validate=[validate.Length(min=1, max=100), NOT_BLANK]),
}, name="SuspectLot")


class ScopeArgs(Schema):
    """At least one suspect in any of the three lists (checked with the suspects: 422 naming the field)."""

    suspectLots = fields.List(fields.Nested(SuspectLotSchema), load_default=list, validate=validate.Length(max=1000))
    suspectSerials = fields.List(fields.String(validate=[validate.Length(min=1, max=100), NOT_BLANK]),
                                 load_default=list, validate=validate.Length(max=10_000))
    serialRanges = fields.List(fields.Nested(SerialRangeSchema), load_default=list, validate=validate.Length(max=100),
                               metadata={"description": "serials commissioned under `sku` from `from` to `to`: same "
                                                        "prefix, same length, trailing digits compared as numbers"})


class ConsigneeSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    kind = fields.String()
    contact = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), allow_none=True)
    quantity = fields.Float()
    firstShipped = fields.String()
    lastShipped = fields.String()
    lots = fields.List(fields.String())


class ScopeSchema(Schema):
    lots = fields.List(fields.String())
    lotCount = fields.Integer()
    units = fields.List(fields.String())
    unitCount = fields.Integer()
    destroyedUnits = fields.Integer()
    shippedUnits = fields.Integer()
    quantity = fields.Float()
    consignees = fields.List(fields.Nested(ConsigneeSchema))
    consigneeCount = fields.Integer()
    consigneesByKind = fields.Dict(keys=fields.String(), values=fields.Integer())
    identifiableCustomers = fields.Integer()
    unknownSuspects = fields.List(fields.String())
    warnings = fields.List(fields.String(), metadata={"description": "what to check before notifying, in words"})


class TraceBackArgs(Schema):
    serial = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "a unit, case or pallet"})
    sku = fields.String(validate=validate.Length(max=100))
    lot = fields.String(validate=validate.Length(min=1, max=100))


class ReceiptSchema(Schema):
    id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    receivedAt = fields.String()
    quantity = fields.Float(allow_none=True)


class ComponentLotSchema(Schema):
    sku = fields.String()
    lot = fields.String()
    label = fields.String()
    depth = fields.Integer()
    usedIn = fields.List(fields.String())
    leaf = fields.Boolean()
    suppliers = fields.List(fields.Nested(ReceiptSchema))


class SupplierSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    lots = fields.List(fields.String())


class TraceBackSchema(Schema):
    start = fields.Raw(metadata={"description": "the tree: type, label, sku/lot or serial, via, suppliers, "
                                                "components (nested); `repeated` where a node was shown above"})
    componentLots = fields.List(fields.Nested(ComponentLotSchema))
    suppliers = fields.List(fields.Nested(SupplierSchema))
    warnings = fields.List(fields.String())


def _unprocessable(field: str, message: str):
    return problem(422, "Unprocessable Content", f"{field}: {message}", errors={field: message})


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
    """Preview the recall scope of suspect lots, serials and serial ranges (what trace.recall_scope computes),
    with counts and warnings."""
    require(actor(), Permission.READ_ALL)
    try:
        suspects = parse_suspects(args["suspectLots"], args["suspectSerials"], args["serialRanges"])
    except InvalidSuspects as exc:
        return _unprocessable(exc.field, exc.message)
    if not suspects:
        return _unprocessable("suspectLots", "name at least one suspect lot, serial or serial range")
    return recall_scope(db.session(), suspects)


@blp.route("/trace-back", methods=["GET"])
@blp.arguments(TraceBackArgs, location="query")
@blp.response(200, TraceBackSchema)
def trace_back_view(args):
    """Trace a unit, container or lot back to its component lots and their suppliers (root cause)."""
    require(actor(), Permission.READ_ALL)
    try:
        start = parse_start(args.get("serial"), args.get("sku"), args.get("lot"))
    except InvalidSuspects as exc:
        return _unprocessable(exc.field, exc.message)
    return trace_back(db.session(), start)
