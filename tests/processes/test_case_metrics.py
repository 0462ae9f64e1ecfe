"""The management figures are kept by the commands: a return's metric row and the elements' time histograms,
as the bundled models declare them (metric.* properties, user-task stages), checked against the steps taken."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator.definitions import ModelFile
from orchestrator.element_stats import FLOW_BUCKET, bucket_of, merged, quantile
from orchestrator.errors import InvalidModel
from orchestrator.metric_models import CaseMetric, ElementStat
from orchestrator.models import InstanceStatus
from tests.conftest import ADMIN
from tests.processes.test_returns import LABEL, RECEIPT, start


def metric(engine, instance_id: str) -> CaseMetric:
    with engine.db.transaction() as session:
        row = session.get(CaseMetric, instance_id)
        session.expunge_all()
        return row


def stats(engine, element_id: str) -> dict[int, tuple[int, int, float]]:
    """{bucket: (passes, overdue, seconds)} of an element (or a flow) over every shard and version."""
    with engine.db.transaction() as session:
        rows = session.execute(select(ElementStat.bucket, ElementStat.passes, ElementStat.overdue,
                                      ElementStat.seconds).where(ElementStat.element_id == element_id)).all()
    summed: dict[int, list] = {}
    for bucket, passes, overdue, seconds in rows:
        total = summed.setdefault(bucket, [0, 0, 0.0])
        total[0] += passes
        total[1] += overdue
        total[2] += seconds
    return {bucket: tuple(values) for bucket, values in summed.items()}


def test_a_return_keeps_its_metric_row_and_the_time_each_step_took(models_engine, clock):
    engine = models_engine
    started = clock.now()
    run = start(engine, returnReason="no_reason", requestedOutcome="exchange", returnValue=120.0, region="east",
                quantity=2)
    row = metric(engine, run.id)
    assert (row.process_key, row.business_key, row.status, row.started_at) == (
        "returns", "RMA-1001", InstanceStatus.RUNNING, started)
    assert (row.sku, row.lot, row.reason, row.region, row.channel, row.outcome, row.value, row.quantity) == (
        "KETTLE-2", "L-7", "no_reason", "east", "carrier_parcel", "exchange", 120.0, 2.0)
    assert (row.grade, row.received_at, row.resolved_at, row.ended_at) == (None, None, None, None)

    clock.advance(hours=3)
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    run.correlate("ParcelReceived", {"parcelScannedAt": "2026-01-07T10:00:00Z"}, rmaNumber="RMA-1001")
    clock.advance(hours=30)  # the receipt is due 24 h after the parcel came: this one is late
    received = clock.now()
    run.complete("receive_parcel", {**RECEIPT, "receivedQuantity": 2, "logisticsCost": 6.5})
    run.run_jobs("notify_received")
    assert metric(engine, run.id).received_at == received
    assert metric(engine, run.id).quantity == 2.0

    clock.advance(minutes=90)
    run.complete("inspect_return", {"grade": "A", "faultCode": "none", "responsibility": "customer",
                                    "disposition": "restock", "recoveredValue": 95.0})
    clock.advance(minutes=5)
    resolved = clock.now()
    run.run_jobs("post_stock_movement", "create_replacement_order", "notify_replacement", "log_rma_closed")
    row = metric(engine, run.id)
    assert run.status == InstanceStatus.COMPLETED
    assert (row.status, row.ended_at, row.stage, row.resolved_at) == (
        InstanceStatus.COMPLETED, resolved, "closed", resolved)
    assert (row.grade, row.disposition, row.fault_code, row.recovered_value, row.cost_logistics) == (
        "A", "restock", "none", 95.0, 6.5)

    # time spent: the label waited 3 h, the receipt 30 h (past its due date), the inspection 90 min
    assert stats(engine, "issue_return_label") == {bucket_of(3 * 3600): (1, 0, 3 * 3600.0)}
    assert stats(engine, "receive_parcel") == {bucket_of(30 * 3600): (1, 1, 30 * 3600.0)}
    assert stats(engine, "inspect_return") == {bucket_of(90 * 60): (1, 0, 90 * 60.0)}
    assert stats(engine, "decide_routing") == {0: (1, 0, 0.0)}  # passed within its command
    # flows between elements, counted once per pass
    assert stats(engine, "gw_receipt_ok>notify_received") == {FLOW_BUCKET: (1, 0, 0.0)}
    assert stats(engine, "issue_return_label>send_rma_confirmation") == {FLOW_BUCKET: (1, 0, 0.0)}
    inspect_hist = merged((bucket, values[0]) for bucket, values in stats(engine, "inspect_return").items())
    assert quantile(inspect_hist, 0.5) == pytest.approx(90 * 60, rel=0.1)


def test_suspending_and_cancelling_show_on_the_row_and_a_capa_shows_its_stage(models_engine, clock):
    engine = models_engine
    run = start(engine)
    engine.instances.suspend_instance(run.id, actor=ADMIN)
    assert metric(engine, run.id).status == InstanceStatus.SUSPENDED
    engine.instances.resume_instance(run.id, actor=ADMIN)
    assert metric(engine, run.id).status == InstanceStatus.RUNNING
    engine.instances.cancel_instance(run.id, actor=ADMIN, reason="duplicate request")
    row = metric(engine, run.id)
    assert (row.status, row.stage) == (InstanceStatus.CANCELLED, "closed") and row.ended_at is not None

    capa = engine.instances.start_instance("capa", actor=ADMIN, business_key="CAPA-1", variables={
        "sku": "KETTLE-2", "lotNumber": "L-7", "faultCode": "F-ELEC", "source": "manual",
        "sourceReference": "manual", "problemSummary": "Kettles trip the breaker"})
    row = metric(engine, capa.id)
    assert (row.process_key, row.stage, row.fault_code, row.channel) == ("capa", "D0", "F-ELEC", "manual")


def test_a_model_with_a_metric_that_cannot_be_used_is_refused_naming_the_property(engine):
    bad = open("tests/fixtures/two_reviews.bpmn").read()
    properties = ('<bpmn:extensionElements><camunda:properties>'
                  '<camunda:property name="metric.colour" value="colour" />'
                  '<camunda:property name="metric.value" value="amount +" />'
                  '</camunda:properties></bpmn:extensionElements>')
    head, rest = bad.split("<bpmn:process ", 1)
    tag, body = rest.split(">", 1)
    model = f"{head}<bpmn:process {tag}>{properties}{body}"
    with pytest.raises(InvalidModel) as refused:
        engine.deployments.deploy([ModelFile("two_reviews.bpmn", model)], actor=ADMIN)
    text = str(refused.value)
    assert "metric.colour" in text and "unknown metric 'colour'" in text and "metric.value" in text



def test_a_rebuild_recounts_the_figures_the_commands_kept(models_engine, clock):
    engine = models_engine
    run = start(engine, region="west")
    clock.advance(hours=2)
    run.complete("review_return", {"reviewDecision": "accept"})
    clock.advance(hours=5)
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    other = start(engine, rmaNumber="RMA-1002")
    engine.instances.cancel_instance(other.id, actor=ADMIN, reason="duplicate")

    def snapshot():
        with engine.db.transaction() as session:
            rows = {r.instance_id: {c: getattr(r, c) for c in CaseMetric.__table__.columns.keys()}
                    for r in session.scalars(select(CaseMetric))}
            elements = sorted(session.execute(
                select(ElementStat.element_id, ElementStat.bucket, ElementStat.passes, ElementStat.overdue,
                       ElementStat.seconds).where(ElementStat.bucket != FLOW_BUCKET)).all())
        return rows, _summed(elements)

    kept = snapshot()
    with engine.db.transaction() as session:
        session.execute(CaseMetric.__table__.delete())
        session.execute(ElementStat.__table__.delete())
    report = engine.metric_rebuild.rebuild(batch=1)
    assert report.cases == 2
    assert snapshot() == kept
    assert kept[0][run.id]["region"] == "west" and kept[0][other.id]["stage"] == "closed"


def _summed(rows):
    """Shards summed away: {(element, bucket): (passes, overdue, seconds)}."""
    total: dict = {}
    for element, bucket, passes, overdue, seconds in rows:
        old = total.get((element, bucket), (0, 0, 0.0))
        total[(element, bucket)] = (old[0] + passes, old[1] + overdue, round(old[2] + seconds, 3))
    return total
