"""Every path of bpmn/recall.bpmn through the engine: each gateway branch, timer and error boundary."""

from __future__ import annotations

import json
from datetime import timedelta

from orchestrator.models import InstanceStatus
from tests.processes.driver import Run
from tests.processes.recall_progress_answers import answer_recall_progress
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
    unitValue=80.0,
)
REPORT = dict(estimatedCompletion="2026-02-15")
AUTHORITY = "market-surveillance@authority.example"
PARTNERS = [c for c in SCOPE_CONSIGNEES if c["kind"] != "consumer"]
TRADE_IDS = [c["id"] for c in PARTNERS]
CONSUMER_IDS = ["CUST-881"]  # the consumer with a contact; CUST-882 cannot be told directly
REMINDER_VARIABLES = {
    "product": "KETTLE-2",
    "lots": "L-7",
    "hazard": STRATEGY["hazardDescription"],
    "contact": "recall@loopline.example",
}
# the two follow-up branches run side by side, so their steps interleave in the path: compare them one by one
TRADE_FOLLOW_UP = (
    "gw_follow_up",
    "start_trade_follow_up",
    "gw_ack_merge",
    "ack_check_due",
    "check_acknowledgements",
    "gw_all_acknowledged",
    "gw_remind_again",
    "remind_non_responders",
    "escalate_non_responders",
    "call_non_responders",
    "gw_acknowledgements_done",
)
CONSUMER_FOLLOW_UP = (
    "gw_consumer_follow_up",
    "start_consumer_follow_up",
    "gw_consumer_ack_merge",
    "consumer_ack_check_due",
    "check_consumer_acknowledgements",
    "gw_consumers_acknowledged",
    "gw_remind_consumers_again",
    "remind_consumer_non_responders",
    "escalate_consumer_non_responders",
    "gw_consumer_follow_up_done",
)
TRADE_CHECK = ["gw_ack_merge", "ack_check_due", "check_acknowledgements", "gw_all_acknowledged"]
TRADE_REMINDER = ["gw_remind_again", "remind_non_responders"]
CONSUMER_CHECK = [
    "gw_consumer_ack_merge",
    "consumer_ack_check_due",
    "check_consumer_acknowledgements",
    "gw_consumers_acknowledged",
]
CONSUMER_REMINDER = ["gw_remind_consumers_again", "remind_consumer_non_responders"]
TRADE_SKIPPED = ["gw_follow_up", "gw_acknowledgements_done"]
CONSUMERS_SKIPPED = ["gw_consumer_follow_up", "gw_consumer_follow_up_done"]

# three checks with two e-mail reminders between them, then the SMS (consumers are not called)
CONSUMERS_NOBODY_ANSWERS = [
    "gw_consumer_follow_up",
    "start_consumer_follow_up",
    *CONSUMER_CHECK,
    *CONSUMER_REMINDER,
    *CONSUMER_CHECK,
    *CONSUMER_REMINDER,
    *CONSUMER_CHECK,
    "gw_remind_consumers_again",
    "escalate_consumer_non_responders",
    "gw_consumer_follow_up_done",
]
# three checks with two reminders between them, then the SMS and the call list
TRADE_NOBODY_ANSWERS = [
    "gw_follow_up",
    "start_trade_follow_up",
    *TRADE_CHECK,
    *TRADE_REMINDER,
    *TRADE_CHECK,
    *TRADE_REMINDER,
    *TRADE_CHECK,
    "gw_remind_again",
    "escalate_non_responders",
    "call_non_responders",
    "gw_acknowledgements_done",
]


def start(engine) -> Run:
    answer_recall_progress(engine)  # the notices go to recording connectors: the figures come from the ledger
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
            "authorityEmail": AUTHORITY,
        },
    )


def strategy(run: Run, **values):
    proposed = {
        name: run.variables[name]
        for name in ("depth", "publicWarning", "effectivenessLevel", "statusReportInterval")
    }
    run.complete("define_strategy", {**proposed, **STRATEGY, **values})
    return proposed


def consumer_recall(engine, ledger) -> Run:
    """Class III sold only to consumers, followed up at consumer level: the consumer notice is out."""
    consumers_only = [c for c in SCOPE_CONSIGNEES if c["kind"] == "consumer"]
    _scope(ledger, consumers_only)
    run = start(engine)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run, severity="moderate", likelihood="remote")
    run.complete("decide_recall", {"recallClass": "III", "decisionRationale": "Discomfort only"})
    run.run_jobs("compute_scope")
    assert (run.variables["partnerCount"], run.variables["consumerCount"]) == (0, 1)
    assert strategy(run, depth="consumer")["depth"] == "wholesale"
    run.complete("approve_strategy", {"strategyApproved": True})
    campaign = notices(run, "notify_authority", "notify_consumers")["notify_consumers"]
    assert [r["id"] for r in campaign["recipients"]] == CONSUMER_IDS
    assert run.variables["consumerCampaignId"].startswith("CMP-") and "partnerCampaignId" not in run.variables
    return run


def notices(run: Run, *expected: str) -> dict[str, dict]:
    """Run the notices of the audiences (side by side, in no fixed order); their inputs by element."""
    sent = {element: job_input for element, _, job_input, _ in run.run_jobs()}
    assert sorted(sent) == sorted(expected)
    return sent


def class_one_recall(engine, *sent: str) -> Run:
    """Class I: the notices named are sent and the public warning is published."""
    run = start(engine)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run)
    run.complete("decide_recall", {"recallClass": "I", "decisionRationale": "Burns are likely"})
    run.run_jobs("compute_scope")
    assert strategy(run)["depth"] == "consumer"
    run.complete("approve_strategy", {"strategyApproved": True})
    notices(run, "notify_authority", *sent)
    run.complete(
        "publish_public_warning",
        {
            "noticeUrl": "https://loopline.example/recalls/kettle-2",
            "publishedOn": "2026-01-06",
            "authoritiesInformed": True,
        },
    )
    return run


def _scope(ledger, consignees: list[dict]):
    identifiable = sum(1 for c in consignees if c["kind"] == "consumer" and c["contact"])
    ledger.script(
        "trace.recall_scope",
        "result:"
        + json.dumps(
            {
                "consignees": consignees,
                "consigneeCount": len(consignees),
                "identifiableCustomers": identifiable,
            }
        ),
    )


def status_report(run: Run, clock, days: int, complete: bool):
    """The report is due: its figures are counted, the coordinator judges, the authority gets its copy."""
    clock.advance(days=days, seconds=1)
    assert run.engine.timers.fire_due_timers() == [run.id]
    run.run_jobs("count_recall_progress", "count_registrations")
    run.complete("compile_status_report", {**REPORT, "recallEffortComplete": complete})
    [(_, topic, report, _)] = run.run_jobs("send_status_report")
    assert (topic, report["to"], report["template"]) == ("notify.email", AUTHORITY, "recall_status_report")
    return report


def authority_decides(run: Run, decision: str = "terminated"):
    """Termination is asked of the authority, whose answer legal records."""
    [(_, topic, request, _)] = run.run_jobs("request_termination")
    assert (topic, request["to"], request["template"]) == ("notify.email", AUTHORITY, "recall_termination_request")
    run.complete("record_authority_decision", {"authorityDecision": decision, "authorityReference": "MS-1",
                                               "authorityDecisionDate": "2026-03-01"})


def _after(path, element):
    return path[path.index(element) + 1]


def steps(path, branch):
    """The steps of one follow-up branch, in order."""
    return [element for element in path if element in branch]


def follow_up_round(run: Run, clock, ledger, *expected: str, trade=None, consumers=None):
    """Three days on: the acknowledgement checks run, each campaign answering with its scripted count
    (None: not scripted), and the reminders they lead to; returns {element: (topic, input)}."""
    variables = run.variables
    for campaign, acknowledged in (
        (variables.get("partnerCampaignId"), trade),
        (variables.get("consumerCampaignId"), consumers),
    ):
        if acknowledged is not None:
            _script(ledger, f"notify.campaign_status@{campaign}", acknowledged=acknowledged)
    clock.advance(days=3, seconds=1)
    assert run.engine.timers.fire_due_timers() == [run.id]
    return {element: (topic, job_input) for element, topic, job_input, _ in run.run_jobs(*expected)}


def reminder_to(job: tuple[str, dict]):
    """Whom a reminder job reaches: topic, channels, whose non-responders, out of which recipients."""
    topic, job_input = job
    assert (job_input["template"], job_input["ackMessage"]) == ("recall_reminder", "RecallAcknowledged")
    assert {k: v for k, v in job_input["variables"].items() if k != "recallClass"} == REMINDER_VARIABLES
    return (
        topic,
        job_input["channels"],
        job_input["onlyNonRespondersOf"],
        [r["id"] for r in job_input["recipients"]],
    )


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
    notices = {element: job_input for element, _, job_input, _ in run.run_jobs()}  # three branches side by side
    assert sorted(notices) == ["notify_authority", "notify_consumers", "notify_partners"]
    authority = notices["notify_authority"]  # legal said the authority must be told (21 CFR 7.46)
    assert (authority["to"], authority["template"]) == (AUTHORITY, "recall_authority_notice")
    assert {k: authority["variables"][k] for k in ("recallNumber", "recallClass", "quantityInScope", "depth")} == {
        "recallNumber": "RC-L-7-F-ELEC", "recallClass": "I", "quantityInScope": 1802.0, "depth": "consumer"}
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
    trade, consumer = run.variables["partnerCampaignId"], run.variables["consumerCampaignId"]
    assert trade.startswith("CMP-") and consumer.startswith("CMP-") and trade != consumer

    # three days on: both partners clicked their acknowledgement link, the consumer has not
    jobs = follow_up_round(
        run,
        clock,
        ledger,
        "check_acknowledgements",
        "check_consumer_acknowledgements",
        "remind_consumer_non_responders",
        trade=2,
        consumers=0,
    )
    assert jobs["check_acknowledgements"] == ("notify.campaign_status", {"campaignId": trade})
    assert jobs["check_consumer_acknowledgements"] == ("notify.campaign_status", {"campaignId": consumer})
    assert reminder_to(jobs["remind_consumer_non_responders"]) == (
        "notify.campaign",
        ["email"],
        consumer,  # only consumers who have not acknowledged the consumer notice
        CONSUMER_IDS,
    )
    assert jobs["remind_consumer_non_responders"][1]["campaign"] == "Recall reminder (consumers) QMS-00001"
    assert (run.variables["consumersAcknowledged"], run.variables["consumerAckChecks"]) == (0, 1)
    assert run.row.next_timer_at == clock.now() + timedelta(days=3)  # reports wait for the consumer follow-up
    follow_up_round(run, clock, ledger, "check_consumer_acknowledgements", consumers=1)
    variables = run.variables  # both branches joined: each one's counts are there
    assert (variables["partnersAcknowledged"], variables["ackChecks"]) == (2, 1)
    assert (variables["consumersAcknowledged"], variables["consumerAckChecks"]) == (1, 2)
    assert run.row.next_timer_at == clock.now() + timedelta(days=7)  # statusReportInterval P7D
    status_report(run, clock, 7, complete=True)
    assert run.variables["effectivenessSampleSize"] == 3  # level A: every consignee notified
    run.complete("check_effectiveness", {"sampleSize": 3, "checksPassed": 3, "recallEffective": True})
    run.complete(
        "approve_termination",
        {
            "terminationApproved": True,
            "productDisposition": "destroyed",
            "terminationRationale": "All units accounted for",
        },
    )
    authority_decides(run)
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
        "gw_follow_up_split",
        "gw_follow_up_join",
        "status_report_due",
        "check_effectiveness",
    ):
        assert path.count(element) == 1, element
    assert steps(path, TRADE_FOLLOW_UP) == [
        "gw_follow_up",
        "start_trade_follow_up",
        *TRADE_CHECK,
        "gw_acknowledgements_done",
    ]
    assert steps(path, CONSUMER_FOLLOW_UP) == [
        "gw_consumer_follow_up",
        "start_consumer_follow_up",
        *CONSUMER_CHECK,
        *CONSUMER_REMINDER,
        *CONSUMER_CHECK,
        "gw_consumer_follow_up_done",
    ]
    assert _after(path, "gw_follow_up_join") == "gw_report_merge"
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
    notices(run, "notify_authority", "notify_partners")
    trade = run.variables["partnerCampaignId"]
    assert run.open_tasks() == []  # no consumer campaign, no public warning
    assert "consumerCampaignId" not in run.variables  # no consumer notice: nothing to follow up there

    for check in (1, 2):
        jobs = follow_up_round(run, clock, ledger, "check_acknowledgements", "remind_non_responders", trade=1)
        assert jobs["check_acknowledgements"] == ("notify.campaign_status", {"campaignId": trade})
        assert reminder_to(jobs["remind_non_responders"]) == (
            "notify.campaign",
            ["email"],
            trade,
            TRADE_IDS,
        )
        assert run.variables["ackChecks"] == check
    jobs = follow_up_round(run, clock, ledger, "check_acknowledgements", "escalate_non_responders", trade=1)
    assert reminder_to(jobs["escalate_non_responders"]) == (
        "notify.campaign",
        ["sms"],
        trade,
        TRADE_IDS,
    )
    assert run.task("call_non_responders").candidate_groups == ["customer_service"]
    assert run.row.next_timer_at is None  # the status reports wait for the calls
    run.complete("call_non_responders", {"partnersReached": 1, "stillUnreachable": 0})
    assert run.row.next_timer_at == clock.now() + timedelta(days=14)  # class II: every two weeks
    assert not any(element in CONSUMER_FOLLOW_UP for element, *_ in run.done_jobs)
    path = run.path
    assert "scope_unavailable" in path and path.count("gw_scope_merge") == 2
    assert path.count("define_strategy") == 2 and _after(path, "gw_strategy_approved") == "gw_strategy_merge"
    assert "notify_partners" in path  # the three audience branches run in parallel, so their steps interleave
    assert "notify_consumers" not in path and "gw_consumers_done" in path
    assert "publish_public_warning" not in path and "gw_public_warning_done" in path
    assert steps(path, CONSUMER_FOLLOW_UP) == CONSUMERS_SKIPPED  # retail depth: no consumer notice
    assert steps(path, TRADE_FOLLOW_UP) == TRADE_NOBODY_ANSWERS
    assert path[-3:] == ["gw_acknowledgements_done", "gw_follow_up_join", "gw_report_merge"]


def test_status_reports_repeat_until_the_recall_is_effective_and_terminated(fast_engine, clock, ledger):
    """Class III sold only to consumers: no trade notice to follow up, the consumer answers within three
    days; reports loop on every "not yet"."""
    run = consumer_recall(fast_engine, ledger)
    assert run.row.next_timer_at == clock.now() + timedelta(days=3)  # the consumer follow-up comes first
    jobs = follow_up_round(run, clock, ledger, "check_consumer_acknowledgements", consumers=1)
    assert jobs["check_consumer_acknowledgements"] == (
        "notify.campaign_status", {"campaignId": run.variables["consumerCampaignId"]})
    assert run.row.next_timer_at == clock.now() + timedelta(days=30)  # all acknowledged: on to the reports

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
    authority_decides(run)
    run.run_jobs("close_recall_case", "request_root_cause_capa")
    assert run.status == InstanceStatus.COMPLETED
    path = run.path
    assert "notify_partners" not in path and "gw_partners_done" in path
    assert steps(path, TRADE_FOLLOW_UP) == TRADE_SKIPPED
    assert steps(path, CONSUMER_FOLLOW_UP) == [
        "gw_consumer_follow_up",
        "start_consumer_follow_up",
        *CONSUMER_CHECK,
        "gw_consumer_follow_up_done",
    ]
    assert path.count("status_report_due") == 4 and path.count("gw_report_merge") == 4
    assert path.count("renotify") == 1 and path.count("approve_termination") == 2
    assert path[path.index("gw_effort_complete") + 1] == "gw_report_merge"  # first report: not complete yet


def test_silent_partners_and_consumers_are_reminded_per_campaign_then_texted(fast_engine, clock, ledger):
    """Class I to the trade and to consumers, and nobody answers: every three days each campaign's own
    non-responders are reminded by e-mail, the third check texts both; the reports wait for the calls."""
    run = class_one_recall(fast_engine, "notify_partners", "notify_consumers")
    trade, consumers = run.variables["partnerCampaignId"], run.variables["consumerCampaignId"]
    assert trade.startswith("CMP-") and consumers.startswith("CMP-") and trade != consumers
    for check in (1, 2):
        jobs = follow_up_round(
            run,
            clock,
            ledger,
            "check_acknowledgements",
            "check_consumer_acknowledgements",
            "remind_non_responders",
            "remind_consumer_non_responders",
            trade=1,
            consumers=0,
        )
        assert jobs["check_acknowledgements"] == ("notify.campaign_status", {"campaignId": trade})
        assert jobs["check_consumer_acknowledgements"] == (
            "notify.campaign_status",
            {"campaignId": consumers},
        )
        assert reminder_to(jobs["remind_non_responders"]) == ("notify.campaign", ["email"], trade, TRADE_IDS)
        assert reminder_to(jobs["remind_consumer_non_responders"]) == (
            "notify.campaign",
            ["email"],
            consumers,
            CONSUMER_IDS,
        )
        assert (run.variables["ackChecks"], run.variables["consumerAckChecks"]) == (check, check)
    jobs = follow_up_round(
        run,
        clock,
        ledger,
        "check_acknowledgements",
        "check_consumer_acknowledgements",
        "escalate_non_responders",
        "escalate_consumer_non_responders",
        trade=1,
        consumers=0,
    )
    assert reminder_to(jobs["escalate_non_responders"]) == ("notify.campaign", ["sms"], trade, TRADE_IDS)
    texted = jobs["escalate_consumer_non_responders"]
    assert reminder_to(texted) == ("notify.campaign", ["sms"], consumers, CONSUMER_IDS)
    assert texted[1]["campaign"] == "Recall reminder (consumers, SMS) QMS-00001"
    assert run.open_task_ids() == ["call_non_responders"]  # consumers are not called
    assert run.row.next_timer_at is None  # the consumer follow-up is done, the trade one is not
    run.complete("call_non_responders", {"partnersReached": 1, "stillUnreachable": 0})
    assert run.row.next_timer_at == clock.now() + timedelta(days=7)
    variables = run.variables  # joined: each branch's own counts survive the other's copy
    assert (variables["ackChecks"], variables["partnersAcknowledged"]) == (3, 1)
    assert (variables["consumerAckChecks"], variables["consumersAcknowledged"]) == (3, 0)
    assert (variables["consumersReminded"], variables["consumersTexted"]) == (1, 1)
    path = run.path
    assert steps(path, TRADE_FOLLOW_UP) == TRADE_NOBODY_ANSWERS
    assert steps(path, CONSUMER_FOLLOW_UP) == CONSUMERS_NOBODY_ANSWERS
    assert path.count("gw_follow_up_join") == 1 and _after(path, "gw_follow_up_join") == "gw_report_merge"


def test_silent_consumers_alone_are_reminded_twice_then_texted(fast_engine, clock, ledger):
    """Consumers only: two e-mail reminders to those who have not acknowledged the consumer notice, then an
    SMS; nobody is called, and the status reports follow at once."""
    run = consumer_recall(fast_engine, ledger)
    consumers = run.variables["consumerCampaignId"]
    for check in (1, 2):
        jobs = follow_up_round(
            run,
            clock,
            ledger,
            "check_consumer_acknowledgements",
            "remind_consumer_non_responders",
            consumers=0,
        )
        assert jobs["check_consumer_acknowledgements"] == (
            "notify.campaign_status",
            {"campaignId": consumers},
        )
        reminder = jobs["remind_consumer_non_responders"]
        assert reminder_to(reminder) == ("notify.campaign", ["email"], consumers, CONSUMER_IDS)
        assert reminder[1]["campaign"] == "Recall reminder (consumers) QMS-00001"
        assert run.variables["consumerAckChecks"] == check
    jobs = follow_up_round(
        run, clock, ledger, "check_consumer_acknowledgements", "escalate_consumer_non_responders", consumers=0
    )
    assert reminder_to(jobs["escalate_consumer_non_responders"]) == (
        "notify.campaign",
        ["sms"],
        consumers,
        CONSUMER_IDS,
    )
    assert run.open_tasks() == [] and run.row.next_timer_at == clock.now() + timedelta(days=30)
    path = run.path
    assert steps(path, TRADE_FOLLOW_UP) == TRADE_SKIPPED
    assert "ackChecks" not in run.variables  # the trade follow-up never started
    assert steps(path, CONSUMER_FOLLOW_UP) == CONSUMERS_NOBODY_ANSWERS


def test_consumer_level_without_reachable_consumers_follows_up_the_trade_only(fast_engine, clock, ledger):
    """Class I asks for consumer level, but the one end customer left has no contact (consumerCount 0): no
    consumer notice, so no consumer follow-up and no consumerCampaignId; the trade is followed up alone."""
    _scope(ledger, [c for c in SCOPE_CONSIGNEES if c["id"] != "CUST-881"])
    run = class_one_recall(fast_engine, "notify_partners")
    variables = run.variables
    assert (variables["depth"], variables["consumerCount"], variables["partnerCount"]) == ("consumer", 0, 2)
    assert "consumerCampaignId" not in variables
    jobs = follow_up_round(run, clock, ledger, "check_acknowledgements", trade=2)
    assert jobs["check_acknowledgements"] == ("notify.campaign_status", {"campaignId": variables["partnerCampaignId"]})
    assert run.row.next_timer_at == clock.now() + timedelta(days=7)
    path = run.path
    assert "notify_consumers" not in path
    assert steps(path, CONSUMER_FOLLOW_UP) == CONSUMERS_SKIPPED
    assert steps(path, TRADE_FOLLOW_UP) == [
        "gw_follow_up",
        "start_trade_follow_up",
        *TRADE_CHECK,
        "gw_acknowledgements_done",
    ]
