"""Every path of bpmn/recall.bpmn through the engine: each gateway branch, timer and error boundary."""

from __future__ import annotations

import json
from datetime import timedelta

from orchestrator.models import InstanceStatus
from tests.processes.driver import Run
from tests.support.process_connectors import SCOPE_CONSIGNEES

SIGNAL = dict(
    triggerSource="signal",
    sku="KETTLE-2",
    productModel="Kettle 2",
    lotNumber="L-7",
    faultCode="F-ELEC",
    signalWindowDays=30,
    complaintCount=4,
    returnCount=12,
    evidenceSummary="12 returns and 4 complaints with F-ELEC (overheating) on lot L-7 in 30 days",
)
STRATEGY = dict(
    remedy="refund",
    hazardDescription="The base can overheat and cause burns.",
    partnerInstructions="Stop selling, quarantine, return to the DC.",
    consumerInstructions="Stop using the kettle; we refund it.",
    coordinatorContact="recall@loopline.example",
)
REPORT = dict(
    notifiedCount=2,
    respondedCount=2,
    quantityOnHandAtNotice=40.0,
    returnedOrCorrectedQuantity=40.0,
    nonResponderCount=0,
    effectivenessChecksDone=2,
    estimatedCompletion="2026-02-15",
)
PARTNERS = [c for c in SCOPE_CONSIGNEES if c["kind"] != "consumer"]


def start(engine) -> Run:
    return Run.start(engine, "recall", SIGNAL, business_key="RC-L-7-F-ELEC")


def evaluate_hazard(run: Run, severity="serious", likelihood="occasional", injuries=0):
    tasks = {task.element_id: task.candidate_groups for task in run.open_tasks()}
    assert tasks == {
        "assess_hazard_quality": ["qa"],
        "assess_hazard_engineering": ["engineering"],
        "assess_hazard_legal": ["legal"],
    }  # parallel sign-off
    run.complete(
        "assess_hazard_quality",
        {"severity": severity, "populationAtRisk": "general", "exposureNotes": "hot surface"},
    )
    run.complete(
        "assess_hazard_engineering", {"likelihood": likelihood, "failureMode": "thermostat relay welds"}
    )
    run.complete(
        "assess_hazard_legal",
        {
            "injuriesReported": injuries,
            "authorityNotificationRequired": True,
            "authorityEmail": "market-surveillance@authority.example",
        },
    )


def strategy(run: Run, **values):
    proposed = {
        name: run.variables[name]
        for name in ("depth", "publicWarning", "effectivenessLevel", "statusReportInterval")
    }
    run.complete("define_strategy", {**proposed, **STRATEGY, **values})
    return proposed


def status_report(run: Run, clock, days: int, complete: bool):
    clock.advance(days=days, seconds=1)
    assert run.engine.fire_due_timers() == [run.id]
    run.complete("compile_status_report", {**REPORT, "recallEffortComplete": complete})
    [(_, topic, report, _)] = run.run_jobs("send_status_report")
    assert (topic, report["to"], report["template"]) == (
        "notify.email",
        "market-surveillance@authority.example",
        "recall_status_report",
    )
    return report


def _after(path, element):
    return path[path.index(element) + 1]


def test_class_one_recall_notifies_everyone_and_ends_in_a_capa_request(models_engine, clock, ledger):
    run = start(models_engine)
    [(_, topic, ticket, _)] = run.run_jobs("open_recall_case")
    assert (topic, ticket["title"], ticket["severity"]) == (
        "qms.create_ticket",
        "Potential recall: KETTLE-2 lot L-7",
        "critical",
    )
    evaluate_hazard(run)
    assert (run.variables["recallClass"], run.variables["riskLevel"]) == ("I", "serious")
    decision = run.task("decide_recall")
    assert decision.candidate_groups == ["management"] and [f["id"] for f in decision.form] == [
        "recallClass",
        "decisionRationale",
    ]
    run.complete("decide_recall", {"recallClass": "I", "decisionRationale": "Burns are likely"})
    [(_, topic, scope_input, _)] = run.run_jobs("compute_scope")
    assert (topic, scope_input) == ("trace.recall_scope", {"sku": "KETTLE-2", "lot": "L-7"})
    variables = run.variables
    assert (variables["affectedUnits"], variables["consigneeCount"], variables["identifiableCustomers"]) == (
        1802,
        4,
        1,
    )
    assert (variables["partnerCount"], variables["consumerCount"]) == (2, 1)
    assert variables["consumerRecipients"] == [
        {"id": "CUST-881", "name": "Ada Lovelace", "email": "", "phone": "+4915112345678"}
    ]
    proposed = strategy(run)
    assert proposed == {
        "depth": "consumer",
        "publicWarning": True,
        "effectivenessLevel": "A",
        "statusReportInterval": "P7D",
    }
    run.complete("approve_strategy", {"strategyApproved": True})
    notices = {
        element: job_input for element, _, job_input, _ in run.run_jobs("notify_partners", "notify_consumers")
    }
    partners = notices["notify_partners"]
    assert (partners["template"], partners["channels"], partners["ackMessage"]) == (
        "recall_notice_partner",
        ["email"],
        "RecallAcknowledged",
    )
    assert partners["campaign"] == "Recall notice (trade) QMS-00001"
    assert [r["id"] for r in partners["recipients"]] == [c["id"] for c in PARTNERS]
    assert partners["variables"] == {
        "product": "KETTLE-2",
        "lots": "L-7",
        "recallClass": "I",
        "hazard": STRATEGY["hazardDescription"],
        "contact": "recall@loopline.example",
        "instructions": STRATEGY["partnerInstructions"],
    }
    consumers = notices["notify_consumers"]
    assert (consumers["template"], consumers["channels"]) == ("recall_notice_consumer", ["email", "sms"])
    assert run.task("publish_public_warning").candidate_groups == ["legal"]
    run.complete(
        "publish_public_warning",
        {
            "noticeUrl": "https://loopline.example/recalls/kettle-2",
            "publishedOn": "2026-01-06",
            "authoritiesInformed": True,
        },
    )
    assert run.variables["partnerCampaignId"] == "CMP-00003"

    _script(
        ledger, "notify.campaign_status", acknowledged=2
    )  # both partners clicked their acknowledgement link
    clock.advance(days=3, seconds=1)
    assert run.engine.fire_due_timers() == [run.id]
    [(_, topic, counts, _)] = run.run_jobs("check_acknowledgements")
    assert (topic, counts) == ("notify.campaign_status", {"campaignId": "CMP-00003"})
    assert (run.variables["partnersAcknowledged"], run.variables["ackChecks"]) == (2, 1)
    assert run.row.next_timer_at == clock.now() + timedelta(days=7)  # statusReportInterval P7D
    status_report(run, clock, 7, complete=True)
    run.complete("check_effectiveness", {"sampleSize": 2, "checksPassed": 2, "recallEffective": True})
    run.complete(
        "approve_termination",
        {
            "terminationApproved": True,
            "productDisposition": "destroyed",
            "terminationRationale": "All units accounted for",
        },
    )
    [(_, _, closing, _), (_, topic, capa, _)] = run.run_jobs("close_recall_case", "request_root_cause_capa")
    assert closing == {"ticketId": "QMS-00001", "status": "terminated", "note": "All units accounted for"}
    assert topic == "loopline.send_message" and capa == {
        "messageName": "CapaRequested",
        "businessKey": "CAPA-QMS-00001",
        "variables": {
            "source": "recall",
            "sourceReference": "QMS-00001",
            "sku": "KETTLE-2",
            "lotNumber": "L-7",
            "severity": "critical",
        },
    }
    assert run.status == InstanceStatus.COMPLETED
    path = run.path
    assert path[:10] == [
        "start_potential_recall",
        "open_recall_case",
        "gw_hazard_split",
        "assess_hazard_quality",
        "assess_hazard_engineering",
        "assess_hazard_legal",
        "gw_hazard_join",
        "classify_risk",
        "decide_recall",
        "gw_recall_needed",
    ]
    for element in (
        "notify_partners",
        "notify_consumers",
        "publish_public_warning",
        "gw_notify_join",
        "ack_check_due",
        "check_acknowledgements",
        "status_report_due",
        "check_effectiveness",
    ):
        assert path.count(element) == 1, element
    assert _after(path, "gw_all_acknowledged") == "gw_acknowledgements_done"
    assert path[-3:] == ["close_recall_case", "request_root_cause_capa", "end_recall_terminated"]


def _script(ledger, topic: str, **result):
    ledger.script(topic, "result:" + json.dumps(result))


def test_low_risk_is_recorded_as_no_recall(fast_engine):
    run = start(fast_engine)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run, severity="minor", likelihood="remote")
    assert (run.variables["recallClass"], run.variables["riskRationale"]) == ("none", "minor harm, remote")
    run.complete("decide_recall", {"recallClass": "none", "decisionRationale": "Cosmetic only"})
    [(_, topic, update, _)] = run.run_jobs("record_no_recall")
    assert (topic, update) == (
        "qms.update_ticket",
        {"ticketId": "QMS-00001", "status": "closed_no_recall", "note": "Cosmetic only"},
    )
    assert run.path[-4:] == ["decide_recall", "gw_recall_needed", "record_no_recall", "end_no_recall"]
    assert run.status == InstanceStatus.COMPLETED


def test_missing_trace_data_rejected_strategy_and_silent_partners_are_escalated(fast_engine, clock, ledger):
    """Class II at retail level: scope fails once, management sends the strategy back, two reminders go
    unanswered and the partners get a text message and a phone call."""
    ledger.script("trace.recall_scope", "business:E_INVALID_INPUT")
    run = start(fast_engine)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run, severity="serious", likelihood="remote")
    assert run.variables["recallClass"] == "II"
    run.complete("decide_recall", {"recallClass": "II", "decisionRationale": "Reversible burns"})
    [(_, _, _, outcome)] = run.run_jobs("compute_scope")
    assert outcome == "failed"
    assert run.task("complete_trace_data").candidate_groups == ["qa"]
    run.complete("complete_trace_data", {"dataImported": "Shipments of December from the ERP export"})
    run.run_jobs("compute_scope")
    proposed = strategy(run, depth="retail", publicWarning=False)
    assert (
        proposed["depth"] == "consumer"
    )  # class II with identifiable customers: the DMN proposes consumer level
    run.complete(
        "approve_strategy", {"strategyApproved": False, "managementComment": "Retail level is enough?"}
    )
    strategy(run, depth="retail", publicWarning=False)
    run.complete("approve_strategy", {"strategyApproved": True})
    run.run_jobs("notify_partners")
    assert run.open_tasks() == []  # no consumer campaign, no public warning

    for check in (1, 2):
        _script(ledger, "notify.campaign_status", acknowledged=1)
        clock.advance(days=3, seconds=1)
        assert fast_engine.fire_due_timers() == [run.id]
        [_, (_, topic, reminder, _)] = run.run_jobs("check_acknowledgements", "remind_non_responders")
        assert (topic, reminder["template"], reminder["onlyNonRespondersOf"]) == (
            "notify.campaign",
            "recall_reminder",
            "CMP-00004",
        )
        assert run.variables["ackChecks"] == check
    _script(ledger, "notify.campaign_status", acknowledged=1)
    clock.advance(days=3, seconds=1)
    fast_engine.fire_due_timers()
    [_, (_, topic, sms, _)] = run.run_jobs("check_acknowledgements", "escalate_non_responders")
    assert (topic, sms["channels"]) == ("notify.campaign", ["sms"])
    assert run.task("call_non_responders").candidate_groups == ["customer_service"]
    run.complete("call_non_responders", {"partnersReached": 1, "stillUnreachable": 0})
    assert run.row.next_timer_at == clock.now() + timedelta(days=14)  # class II: every two weeks
    path = run.path
    assert "scope_unavailable" in path and path.count("gw_scope_merge") == 2
    assert path.count("define_strategy") == 2 and _after(path, "gw_strategy_approved") == "gw_strategy_merge"
    assert "notify_partners" in path  # the three audience branches run in parallel, so their steps interleave
    assert "notify_consumers" not in path and "gw_consumers_done" in path
    assert "publish_public_warning" not in path and "gw_public_warning_done" in path
    assert path.count("check_acknowledgements") == 3 and path.count("remind_non_responders") == 2
    assert path[-6:] == [
        "gw_all_acknowledged",
        "gw_remind_again",
        "escalate_non_responders",
        "call_non_responders",
        "gw_acknowledgements_done",
        "gw_report_merge",
    ]


def test_status_reports_repeat_until_the_recall_is_effective_and_terminated(fast_engine, clock, ledger):
    """Class III sold only to consumers: no trade notice to follow up; reports loop on every "not yet"."""
    consumers_only = [c for c in SCOPE_CONSIGNEES if c["kind"] == "consumer"]
    ledger.script(
        "trace.recall_scope",
        "result:"
        + json.dumps({"consignees": consumers_only, "consigneeCount": 2, "identifiableCustomers": 1}),
    )
    run = start(fast_engine)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run, severity="moderate", likelihood="remote")
    run.complete("decide_recall", {"recallClass": "III", "decisionRationale": "Discomfort only"})
    run.run_jobs("compute_scope")
    assert (run.variables["partnerCount"], run.variables["consumerCount"]) == (0, 1)
    assert strategy(run, depth="consumer")["depth"] == "wholesale"
    run.complete("approve_strategy", {"strategyApproved": True})
    [(_, _, campaign, _)] = run.run_jobs("notify_consumers")
    assert [r["id"] for r in campaign["recipients"]] == ["CUST-881"]
    assert run.row.next_timer_at == clock.now() + timedelta(days=30)  # no follow-up: straight to reports

    status_report(run, clock, 30, complete=False)
    status_report(run, clock, 30, complete=True)
    run.complete("check_effectiveness", {"sampleSize": 1, "checksPassed": 0, "recallEffective": False})
    [(_, topic, follow_up, _)] = run.run_jobs("renotify")
    assert (topic, follow_up["template"], [r["id"] for r in follow_up["recipients"]]) == (
        "notify.campaign",
        "recall_reminder",
        ["CUST-881"],
    )
    status_report(run, clock, 30, complete=True)
    run.complete("check_effectiveness", {"sampleSize": 1, "checksPassed": 1, "recallEffective": True})
    run.complete(
        "approve_termination",
        {
            "terminationApproved": False,
            "productDisposition": "mixed",
            "terminationRationale": "One unit unaccounted for",
        },
    )
    status_report(run, clock, 30, complete=True)
    run.complete("check_effectiveness", {"sampleSize": 1, "checksPassed": 1, "recallEffective": True})
    run.complete(
        "approve_termination",
        {"terminationApproved": True, "productDisposition": "destroyed", "terminationRationale": "Done"},
    )
    run.run_jobs("close_recall_case", "request_root_cause_capa")
    assert run.status == InstanceStatus.COMPLETED
    path = run.path
    assert "notify_partners" not in path and "gw_partners_done" in path
    assert _after(path, "gw_follow_up") == "gw_acknowledgements_done"
    assert "check_acknowledgements" not in path
    assert path.count("status_report_due") == 4 and path.count("gw_report_merge") == 4
    assert path.count("renotify") == 1 and path.count("approve_termination") == 2
    assert path[path.index("gw_effort_complete") + 1] == "gw_report_merge"  # first report: not complete yet
