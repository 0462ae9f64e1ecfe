"""Every path of bpmn/returns.bpmn through the engine: each gateway branch, timer and error boundary.

The first path runs on SQLite and PostgreSQL; the others on SQLite. Time moves with the injected clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.models import InstanceStatus
from tests.processes.driver import Run, staff

INTAKE = dict(
    rmaNumber="RMA-1001",
    intakeSource="web_form",
    orderReference="SO-5531",
    customerName="Ada Lovelace",
    customerEmail="ada@example.com",
    customerPhone="+447700900123",
    customerAddress="12 Analytical Row, London",
    customerSegment="consumer",
    sku="KETTLE-2",
    serialNumber="K2-000913",
    lotNumber="L-7",
    purchaseDate="2026-01-02",
    quantity=1,
    returnValue=80.0,
    returnReason="quality_defect",
    requestedOutcome="refund",
    returnChannel="carrier_parcel",
)
RECEIPT = {"parcelCondition": "intact", "receivedQuantity": 1, "serialNumberMatches": True}
LABEL = {"carrier": "dhl", "trackingNumber": "JD0140000001"}


def start(engine, **changes) -> Run:
    variables = {**INTAKE, **changes}
    return Run.start(engine, "returns", variables, business_key=variables["rmaNumber"])


def grade_return(run: Run, element="inspect_return", **values):
    grade = {"grade": "C", "faultCode": "F-ELEC", "responsibility": "supplier", "disposition": "scrap"}
    run.complete(element, {**grade, **values})


def receive_parcel(run: Run, rma="RMA-1001"):
    """The carrier's scan, correlated by RMA number, then the warehouse's receipt."""
    run.correlate("ParcelReceived", {"parcelScannedAt": "2026-01-07T10:00:00Z"}, rmaNumber=rma)
    run.complete("receive_parcel", RECEIPT)
    [(element, topic, job_input, _)] = run.run_jobs("notify_received")
    assert (topic, job_input["template"], job_input["variables"]["rmaNumber"]) == (
        "notify.email",
        "return_received",
        rma,
    )
    assert run.variables["rmaState"] == "received"


def _after(path, element):
    return path[path.index(element) + 1]


def test_quality_defect_refund_requests_capa_and_scraps_with_approval(models_engine, clock, ledger):
    run = start(models_engine)
    assert run.variables["reviewGroup"] == "customer_service" and run.variables["inspectionGroup"] == "qa"
    review = run.task("review_return")
    assert (review.candidate_groups, review.due_at) == (["customer_service"], clock.now() + timedelta(days=1))
    run.complete("review_return", {"reviewDecision": "accept"})
    label = run.task("issue_return_label")
    assert [f["id"] for f in label.form] == ["carrier", "trackingNumber", "returnLabel"]
    run.complete("issue_return_label", LABEL)
    [(_, topic, confirmation, _)] = run.run_jobs("send_rma_confirmation")
    assert topic == "notify.email" and confirmation == {
        "to": "ada@example.com",
        "name": "Ada Lovelace",
        "template": "return_confirmed",
        "language": None,  # no customerLanguage given: the notice goes out in English
        "variables": {
            "name": "Ada Lovelace",
            "product": "KETTLE-2",
            "rmaNumber": "RMA-1001",
            "carrier": "dhl",
            "description": None,
        },
    }
    assert run.variables["rmaState"] == "confirmed"

    receive_parcel(run)
    inspection = run.task("inspect_return")
    assert (inspection.candidate_groups, inspection.due_at) == (["qa"], clock.now() + timedelta(hours=24))
    grade_return(run)
    [(_, topic, capa, _)] = run.run_jobs("request_capa")
    assert topic == "loopline.send_message" and capa == {
        "messageName": "CapaRequested",
        "businessKey": "CAPA-RMA-1001",
        "variables": {
            "source": "return",
            "sourceReference": "RMA-1001",
            "sku": "KETTLE-2",
            "lotNumber": "L-7",
            "faultCode": "F-ELEC",
            "responsibleParty": "supplier",
            "customerDescription": None,
        },
    }
    assert run.task("approve_scrap").candidate_groups == ["asset_management"]
    run.complete("approve_scrap", {"scrapApproved": True, "bookValue": 12.5})
    jobs = run.run_jobs("post_stock_movement", "create_credit_note", "notify_refund", "log_rma_closed")
    assert jobs[0][1:3] == (
        "erp.adjust_stock",
        {
            "sku": "KETTLE-2",
            "lot": "L-7",
            "quantity": 1,
            "location": "scrap",
            "reason": "RMA RMA-1001: scrap",
        },
    )
    assert jobs[1][1:3] == (
        "erp.create_credit_note",
        {"orderNumber": "SO-5531", "amount": 80.0, "currency": "EUR", "customer": "Ada Lovelace"},
    )
    assert jobs[2][2]["template"] == "refund_issued" and jobs[2][2]["variables"]["amount"] == 80.0
    assert jobs[3][1:3] == (
        "crm.log_activity",
        {
            "customer": "ada@example.com",
            "kind": "rma_closed",
            "text": "RMA RMA-1001 closed: quality_defect, refund",
        },
    )
    assert run.status == InstanceStatus.COMPLETED
    assert run.path == [
        "start_return",
        "decide_routing",
        "gw_review_needed",
        "gw_review_merge",
        "review_return",
        "gw_review_decision",
        "gw_review_done",
        "gw_keep_item",
        "issue_return_label",
        "send_rma_confirmation",
        "parcel_expected",
        "parcel_received",
        "parcel_arrived",
        "await_parcel",
        "receive_parcel",
        "gw_receipt_check",
        "gw_receipt_ok",
        "notify_received",
        "inspect_return",
        "gw_inspection_done",
        "gw_capa_needed",
        "request_capa",
        "gw_capa_done",
        "gw_customer_fault",
        "gw_disposition",
        "approve_scrap",
        "gw_scrap_approved",
        "gw_disposition_done",
        "post_stock_movement",
        "gw_stock_done",
        "gw_settlement_merge",
        "gw_settlement",
        "gw_refund_merge",
        "create_credit_note",
        "gw_refunded",
        "notify_refund",
        "gw_settlement_done",
        "log_rma_closed",
        "gw_recall_remedy",
        "end_return_closed",
    ]
    final = run.variables
    assert (final["rmaState"], final["creditNoteId"], final["refundedAmount"], final["capaRequested"]) == (
        "closed",
        "CN-00005",
        80.0,
        True,
    )
    assert final["stockMovementId"] == "SM-00004" and final["parcelScannedAt"] == "2026-01-07T10:00:00Z"
    assert len(ledger.effects("erp.create_credit_note")) == 1


def test_no_reason_exchange_skips_review_reminds_after_14_days_and_restocks(fast_engine, clock):
    run = start(fast_engine, returnReason="no_reason", requestedOutcome="exchange", returnValue=120.0)
    assert run.variables["reviewGroup"] == "none" and run.variables["routingRule"] == "no-reason return"
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    clock.advance(days=14, seconds=1)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    [(_, topic, reminder, _)] = run.run_jobs("notify_parcel_reminder")
    assert (topic, reminder["to"], reminder["template"]) == (
        "notify.sms",
        "+447700900123",
        "return_parcel_reminder",
    )
    assert "end_parcel_reminded" in run.path and run.status == InstanceStatus.RUNNING  # still waiting
    receive_parcel(run)
    assert run.task("inspect_return").candidate_groups == ["warehouse"]
    grade_return(run, grade="A", faultCode="none", responsibility="customer", disposition="restock")
    jobs = run.run_jobs(
        "post_stock_movement", "create_replacement_order", "notify_replacement", "log_rma_closed"
    )
    assert jobs[0][2]["location"] == "main"
    assert jobs[1][1:3] == (
        "erp.create_replacement_order",
        {"orderNumber": "SO-5531", "sku": "KETTLE-2", "quantity": 1, "customer": "Ada Lovelace"},
    )
    assert jobs[2][2]["variables"]["order"] == "RO-00005"
    path = run.path
    assert "review_return" not in path and "request_capa" not in path
    assert _after(path, "gw_review_needed") == "gw_review_done"
    assert _after(path, "gw_capa_needed") == "gw_capa_done"
    assert _after(path, "gw_disposition") == "gw_disposition_done"
    assert run.status == InstanceStatus.COMPLETED and run.variables["rmaState"] == "closed"


def test_low_value_item_is_kept_and_a_rejected_refund_is_paid_by_hand(fast_engine, ledger):
    ledger.script("erp.create_credit_note", "business:E_REFUND_REJECTED")
    run = start(fast_engine, returnReason="wrong_item", returnValue=20.0)
    assert (run.variables["keepItem"], run.variables["inspectionGroup"]) == (True, "none")
    run.complete("review_return", {"reviewDecision": "accept"})
    [(_, _, _, outcome)] = run.run_jobs("create_credit_note")
    assert outcome == "failed"
    refund = run.task("refund_manually")
    assert refund.candidate_groups == ["finance"]
    run.complete("refund_manually", {"refundReference": "BANK-77", "refundedAmount": 20.0})
    [(_, _, notice, _)] = run.run_jobs("notify_refund", "log_rma_closed")[:1]
    assert notice["variables"]["amount"] == 20.0
    path = run.path
    assert _after(path, "gw_keep_item") == "gw_settlement_merge"
    assert "issue_return_label" not in path and "await_parcel" not in path
    assert "create_credit_note" not in path  # cancelled by its error boundary
    assert _after(path, "gw_refund_merge") == "credit_note_rejected"
    assert _after(path, "credit_note_rejected") == "refund_manually"
    assert _after(path, "refund_manually") == "gw_refunded"
    assert run.status == InstanceStatus.COMPLETED


def test_rejected_request_ends_after_telling_the_customer(fast_engine):
    run = start(fast_engine, returnReason="transit_damage", returnValue=500.0)
    run.complete(
        "review_return",
        {"reviewDecision": "reject", "rejectionReason": "out_of_period", "reviewNote": "Bought 2024"},
    )
    [(_, _, notice, _)] = run.run_jobs("notify_rejection")
    assert notice["template"] == "return_rejected" and notice["variables"]["note"] == "Bought 2024"
    assert run.path[-3:] == ["gw_review_decision", "notify_rejection", "end_rejected"]
    assert (run.status, run.variables["rmaState"]) == (InstanceStatus.COMPLETED, "rejected")


def test_customer_reply_reopens_review_and_silence_cancels_after_7_days(fast_engine, clock):
    run = start(fast_engine, returnReason="transit_damage", returnValue=500.0)
    run.complete("review_return", {"reviewDecision": "need_info", "reviewNote": "Please send a photo"})
    [(_, _, question, _)] = run.run_jobs("request_customer_info")
    assert question["template"] == "return_need_info" and question["variables"]["note"] == "Please send a photo"
    run.correlate("CustomerInfoProvided", {"customerReply": "photo attached"}, rmaNumber="RMA-1001")
    assert run.open_task_ids() == ["review_return"] and run.variables["customerReply"] == "photo attached"
    with pytest.raises(InvalidInput) as refused:  # a question needs its text
        run.complete("review_return", {"reviewDecision": "need_info"})
    assert refused.value.errors == {"reviewNote": "is required when reviewDecision is need_info"}
    run.complete("review_return", {"reviewDecision": "need_info", "reviewNote": "Which plug does it have?"})
    [(_, _, again, _)] = run.run_jobs("request_customer_info")
    assert again["variables"]["note"] == "Which plug does it have?"
    clock.advance(days=7, seconds=1)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    [(_, _, notice, _)] = run.run_jobs("notify_cancel_no_reply")
    assert notice["template"] == "return_cancelled_no_reply"
    path = run.path
    assert path.count("review_return") == 2 and path.count("request_customer_info") == 2
    assert ["reply_received", "reply_in", "await_reply", "gw_review_merge"] == path[
        path.index("reply_received") : path.index("reply_received") + 4
    ]
    assert path[-3:] == ["reply_overdue", "notify_cancel_no_reply", "end_cancelled_no_reply"]
    assert (run.status, run.variables["rmaState"]) == (InstanceStatus.COMPLETED, "cancelled")


def test_parcel_that_never_comes_closes_the_rma_after_30_days(fast_engine, clock):
    run = start(fast_engine, returnReason="wrong_item", requestedOutcome="exchange", returnValue=45.0)
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    clock.advance(days=14, seconds=1)
    fast_engine.timers.fire_due_timers()
    run.run_jobs("notify_parcel_reminder")
    clock.advance(days=16)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    [(_, _, notice, _)] = run.run_jobs("notify_rma_closed_no_parcel")
    assert notice["template"] == "return_closed_no_parcel"
    assert run.path[-3:] == ["parcel_overdue", "notify_rma_closed_no_parcel", "end_closed_no_parcel"]
    assert (run.status, run.variables["rmaState"]) == (InstanceStatus.COMPLETED, "cancelled")
    with pytest.raises(NotFound):  # nothing waits for the parcel any more
        run.correlate("ParcelReceived", {}, rmaNumber="RMA-1001")


def test_late_inspection_reminds_then_escalates_and_a_repair_is_shipped_back(fast_engine, clock, ledger):
    """High-value defect: sales manager reviews; inspection SLA; refurbish; ERP refuses the posting."""
    ledger.script("erp.adjust_stock", "business:E_STOCK_POSTING")
    run = start(fast_engine, returnValue=6200.0, requestedOutcome="repair")
    assert run.task("review_return").candidate_groups == ["sales_manager"]
    run.complete("review_return", {"reviewDecision": "accept"}, actor=staff("sales_manager", "mia"))
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run)
    late = run.task("inspect_return")
    clock.advance(hours=24, seconds=1)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    [(_, _, reminder, _)] = run.run_jobs("remind_inspection_supervisor")
    assert (reminder["to"], reminder["template"]) == (
        "returns-supervisors@loopline.local",
        "inspection_overdue",
    )
    assert run.task("inspect_return").id == late.id  # the reminder does not interrupt
    clock.advance(hours=24)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    escalated = run.task("inspect_return_escalated")
    assert (escalated.candidate_groups, escalated.priority) == (["qa"], 90)
    assert escalated.due_at == clock.now() + timedelta(hours=8)
    with pytest.raises(Conflict):
        fast_engine.tasks.complete_user_task(late.id, {}, actor=staff("qa"))
    grade_return(run, "inspect_return_escalated", disposition="refurbish", escalationNote="sick leave")
    run.run_jobs("request_capa")
    run.complete(
        "refurbish_item",
        {"repairAction": "replaced relay", "partsCost": 4.2, "labourMinutes": 25, "refurbishedGrade": "B"},
    )
    [(_, _, posting, outcome)] = run.run_jobs("post_stock_movement")
    assert (posting["location"], outcome) == ("refurbishment", "failed")
    run.complete("post_stock_manually", {"erpDocumentNumber": "WH-2231"})
    run.complete(
        "ship_repaired_item",
        {"returnCarrier": "ups", "returnTrackingNumber": "1Z999", "shippedOn": "2026-01-07"},
    )
    [(_, _, notice, _), _] = run.run_jobs("notify_repaired", "log_rma_closed")
    assert notice["variables"]["trackingNumber"] == "1Z999"
    path = run.path
    for element in (
        "inspection_reminder",
        "end_supervisor_reminded",
        "inspection_escalation",
        "stock_posting_rejected",
        "post_stock_manually",
    ):
        assert element in path
    assert path.index("inspect_return_escalated") < path.index("gw_inspection_done")
    assert path[path.index("gw_disposition") + 1 :][:2] == ["gw_refurbish_merge", "refurbish_item"]
    assert _after(path, "gw_settlement") == "ship_repaired_item"
    assert run.status == InstanceStatus.COMPLETED


def test_take_back_goes_back_to_the_supplier_without_settlement(fast_engine):
    run = start(fast_engine, returnReason="take_back", requestedOutcome="recycle", returnValue=300.0)
    assert run.variables["routingRule"] == "take-back"
    run.complete("issue_return_label", {"carrier": "own_fleet"})
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run)
    assert run.task("inspect_return").candidate_groups == ["warehouse"]
    grade_return(
        run, grade="B", faultCode="none", responsibility="customer", disposition="return_to_supplier"
    )
    run.complete(
        "prepare_supplier_return",
        {"supplierName": "Heatwell Ltd", "supplierRmaNumber": "HW-88", "shippingDate": "2026-01-09"},
    )
    jobs = run.run_jobs("post_stock_movement", "log_rma_closed")
    assert jobs[0][2]["location"] == "supplier_returns"
    path = run.path
    assert _after(path, "gw_disposition") == "prepare_supplier_return"
    assert _after(path, "gw_settlement") == "gw_settlement_done"
    assert run.status == InstanceStatus.COMPLETED


def test_refused_scrap_is_refurbished_and_an_out_of_stock_exchange_is_refunded(fast_engine, ledger):
    ledger.script("erp.create_replacement_order", "business:E_OUT_OF_STOCK")
    run = start(fast_engine, returnReason="wrong_item", requestedOutcome="exchange", returnValue=5400.0)
    assert (run.variables["reviewGroup"], run.variables["routingRule"]) == ("sales_manager", "high value")
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run)
    grade_return(run, faultCode="F-COSM", responsibility="logistics", disposition="scrap")
    assert "request_capa" not in run.path  # not a quality-defect return
    run.complete("approve_scrap", {"scrapApproved": False, "assetNote": "repairable"})
    run.complete("refurbish_item", {"repairAction": "new housing", "refurbishedGrade": "A"})
    jobs = run.run_jobs(
        "post_stock_movement",
        "create_replacement_order",
        "create_credit_note",
        "notify_refund",
        "log_rma_closed",
    )
    assert jobs[1][3] == "failed"
    path = run.path
    assert path[path.index("gw_scrap_approved") + 1 :][:2] == ["gw_refurbish_merge", "refurbish_item"]
    assert _after(path, "replacement_out_of_stock") == "gw_refund_merge"
    assert run.variables["rmaState"] == "closed" and run.variables["creditNoteId"]
    assert run.status == InstanceStatus.COMPLETED


def _received_and_inspected(run: Run, receipt=None, **inspection):
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    run.correlate("ParcelReceived", {}, rmaNumber="RMA-1001")
    run.complete("receive_parcel", receipt or RECEIPT)
    if receipt is None:
        run.run_jobs("notify_received")
    if inspection:
        grade_return(run, **inspection)


CUSTOMER_FAULT = dict(grade="B", faultCode="F-MECH", responsibility="customer", disposition="refurbish")


def test_customer_caused_damage_gets_a_quote_and_an_accepted_repair_is_shipped_back(fast_engine, ledger):
    run = start(fast_engine, returnReason="transit_damage", returnValue=150.0, customerLanguage="zh",
                description="Dropped it, the lid broke")
    _received_and_inspected(run, **CUSTOMER_FAULT)
    quote = run.task("prepare_repair_quote")
    assert quote.candidate_groups == ["customer_service"] and run.pending_jobs() == []  # nothing refunded
    run.complete("prepare_repair_quote", {"quoteOffer": "repair", "quoteAmount": "45", "quoteNote": "New lid"})
    [(_, topic, offer, _)] = run.run_jobs("send_repair_quote")
    assert (topic, offer["template"], offer["language"]) == ("notify.email", "return_repair_quote", "zh")
    assert offer["variables"] == {"name": "Ada Lovelace", "product": "KETTLE-2", "rmaNumber": "RMA-1001",
                                  "offer": "repair", "amount": 45.0, "currency": "EUR", "note": "New lid"}
    assert run.variables["rmaState"] == "waiting_quote_answer"
    with pytest.raises(InvalidInput) as refused:  # an accepted quote is paid first
        run.complete("record_quote_answer", {"quoteAnswer": "accepted"})
    assert refused.value.errors == {"quotePaymentReference": "is required when quoteAnswer is accepted"}
    run.complete("record_quote_answer", {"quoteAnswer": "accepted", "quotePaymentReference": "PAY-991"})
    run.complete("refurbish_item", {"repairAction": "new lid fitted", "refurbishedGrade": "A"})
    [(_, _, posting, _)] = run.run_jobs("post_stock_movement")
    assert (posting["location"], posting["quantity"]) == ("refurbishment", 1)
    run.complete("ship_repaired_item",
                 {"returnCarrier": "dpd", "returnTrackingNumber": "DPD-1", "shippedOn": "2026-01-05"})
    [(_, _, shipped, _), _] = run.run_jobs("notify_repaired", "log_rma_closed")
    assert (shipped["template"], shipped["language"]) == ("repair_shipped", "zh")
    assert not ledger.effects("erp.create_credit_note") and "create_credit_note" not in run.path
    path = run.path
    assert _after(path, "gw_customer_fault") == "prepare_repair_quote"
    assert _after(path, "gw_quote_answer") == "gw_refurbish_merge"
    assert _after(path, "gw_settlement") == "ship_repaired_item"
    assert run.status == InstanceStatus.COMPLETED and run.variables["rmaState"] == "closed"


def test_a_declined_quote_sends_the_item_back_as_it_is_without_booking_or_refund(fast_engine, ledger):
    run = start(fast_engine, returnReason="transit_damage", returnValue=150.0)
    _received_and_inspected(run, **CUSTOMER_FAULT)
    run.complete("prepare_repair_quote", {"quoteOffer": "replacement", "quoteAmount": 99.0})
    run.run_jobs("send_repair_quote")
    run.complete("record_quote_answer", {"quoteAnswer": "send_back", "quoteAnswerNote": "too dear"})
    assert run.open_task_ids() == ["ship_repaired_item"] and run.pending_jobs() == []  # no stock posting
    run.complete("ship_repaired_item",
                 {"returnCarrier": "ups", "returnTrackingNumber": "1Z-BACK", "shippedOn": "2026-01-05"})
    [(_, _, notice, _), _] = run.run_jobs("notify_repaired", "log_rma_closed")
    assert notice["template"] == "return_sent_back" and notice["variables"]["trackingNumber"] == "1Z-BACK"
    path = run.path
    assert _after(path, "gw_quote_answer") == "gw_stock_done" and "post_stock_movement" not in path
    assert not ledger.effects("erp.create_credit_note") and not ledger.effects("erp.adjust_stock")
    assert run.status == InstanceStatus.COMPLETED


def test_a_declined_quote_with_scrapping_needs_the_asset_approval_and_refunds_nothing(fast_engine, ledger):
    run = start(fast_engine, returnReason="quality_defect", requestedOutcome="exchange", returnValue=150.0)
    _received_and_inspected(run, **{**CUSTOMER_FAULT, "disposition": "restock"})
    run.run_jobs("request_capa")  # a quality-defect return with a fault code still feeds CAPA
    run.complete("prepare_repair_quote", {"quoteOffer": "repair", "quoteAmount": 60.0})
    run.run_jobs("send_repair_quote")
    run.complete("record_quote_answer", {"quoteAnswer": "scrap"})
    run.complete("approve_scrap", {"scrapApproved": True})
    [(_, _, posting, _), _] = run.run_jobs("post_stock_movement", "log_rma_closed")
    assert posting["location"] == "scrap"
    path = run.path
    assert _after(path, "gw_quote_answer") == "approve_scrap"
    assert _after(path, "gw_settlement") == "gw_settlement_done"
    assert not ledger.effects("erp.create_credit_note") and not ledger.effects("erp.create_replacement_order")
    assert run.status == InstanceStatus.COMPLETED


def test_more_units_than_requested_wait_for_a_decision_and_only_the_accepted_are_booked(fast_engine, ledger):
    run = start(fast_engine)
    _received_and_inspected(run, {"parcelCondition": "intact", "receivedQuantity": 99, "serialNumberMatches": False})
    decision = run.task("resolve_receipt")
    assert decision.candidate_groups == ["customer_service"] and run.pending_jobs() == []  # nothing booked
    with pytest.raises(InvalidInput) as refused:
        run.complete("resolve_receipt", {"receiptDecision": "proceed", "receiptDecisionNote": "one is ours"})
    assert refused.value.errors == {"acceptedQuantity": "is required when receiptDecision is proceed"}
    run.complete("resolve_receipt", {"receiptDecision": "proceed", "acceptedQuantity": 1,
                                     "receiptDecisionNote": "98 units are not from this order"})
    run.run_jobs("notify_received")
    grade_return(run)
    run.run_jobs("request_capa")
    run.complete("approve_scrap", {"scrapApproved": True})
    jobs = run.run_jobs("post_stock_movement", "create_credit_note", "notify_refund", "log_rma_closed")
    assert jobs[0][2]["quantity"] == 1 and jobs[1][2]["amount"] == 80.0
    assert _after(run.path, "gw_receipt_check") == "resolve_receipt"
    assert run.status == InstanceStatus.COMPLETED


def test_fewer_units_than_requested_are_refunded_pro_rata(fast_engine, ledger):
    run = start(fast_engine, quantity=2, returnValue=160.0, requestedOutcome="refund")
    _received_and_inspected(run, {"parcelCondition": "packaging_damaged", "receivedQuantity": 1,
                                  "serialNumberMatches": True})
    run.complete("resolve_receipt", {"receiptDecision": "proceed", "acceptedQuantity": 1,
                                     "receiptDecisionNote": "only one kettle in the parcel"})
    run.run_jobs("notify_received")
    grade_return(run, disposition="restock")
    jobs = run.run_jobs("request_capa", "post_stock_movement", "create_credit_note", "notify_refund", "log_rma_closed")
    assert jobs[1][2]["quantity"] == 1 and jobs[2][2]["amount"] == 80.0  # half the value: half the units
    assert len(ledger.effects("erp.create_credit_note")) == 1


def test_a_serial_number_that_does_not_match_can_be_refused_before_any_booking(fast_engine, ledger):
    run = start(fast_engine)
    _received_and_inspected(run, {"parcelCondition": "intact", "receivedQuantity": 1, "serialNumberMatches": False})
    assert run.open_task_ids() == ["resolve_receipt"] and "notify_received" not in run.path
    run.complete("resolve_receipt", {"receiptDecision": "refuse",
                                     "receiptDecisionNote": "The serial number K2-999 is not the one sold to you."})
    [(_, _, notice, _)] = run.run_jobs("notify_receipt_refused")
    assert (notice["template"], notice["variables"]["note"]) == (
        "return_rejected", "The serial number K2-999 is not the one sold to you.")
    assert run.path[-2:] == ["notify_receipt_refused", "end_receipt_refused"]
    assert (run.status, run.variables["rmaState"]) == (InstanceStatus.COMPLETED, "rejected")
    assert not ledger.effects("erp.adjust_stock") and not ledger.effects("erp.create_credit_note")


def test_a_start_with_values_later_steps_would_refuse_is_refused_by_field(fast_engine):
    with pytest.raises(InvalidInput) as refused:
        start(fast_engine, customerEmail="x(at)example", customerPhone="12", purchaseDate="2030-01-01")
    assert refused.value.errors == {
        "variables.customerEmail": "must be an e-mail address such as name@example.com",
        "variables.customerPhone": "must be a phone number in international format (E.164), e.g. +447700900123",
        "variables.purchaseDate": "must not be in the future",
    }
    run = start(fast_engine, customerPhone="+44 7700-900 123")
    assert run.variables["customerPhone"] == "+447700900123"
    with pytest.raises(InvalidInput) as refused:  # a rejection needs its reason
        run.complete("review_return", {"reviewDecision": "reject"})
    assert refused.value.errors == {"rejectionReason": "is required when reviewDecision is reject"}
    assert run.open_task_ids() == ["review_return"]
