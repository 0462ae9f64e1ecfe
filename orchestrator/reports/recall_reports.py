"""The recall's status report (21 CFR 7.53(b)) and its termination summary (21 CFR 7.55), from the recall case
(bpmn/recall.bpmn) and its effectiveness figures.

The figures are counted now by the same connector the process's "Count recall progress" step runs
(`recall.progress`, integrations/recall_progress.py), through the engine's connector registry, with the inputs
that step maps: so the report shows what the process would count at this moment, and the same as the process's
own status report when nothing happened since its last count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.registry import BusinessError, JobContext
from orchestrator.reports.case_record import ReportCase, StepRecord

PROCESS_KEYS = ("recall",)
PROGRESS_TOPIC = "recall.progress"
# the notices of bpmn/recall.bpmn: (element, audience); the follow-ups go to those who did not answer
NOTICE_STEPS = (("notify_partners", "trade"), ("notify_consumers", "consumers"),
                ("remind_non_responders", "trade_reminder"), ("renotify", "follow_up"))
SCOPE_FACTS = ("recallReference", "sku", "lotNumber", "affectedLots", "faultCode", "recallClass", "riskLevel",
               "affectedQuantity", "consigneeCount", "identifiableCustomers")
STRATEGY_FACTS = ("depth", "publicWarning", "effectivenessLevel", "remedy", "statusReportInterval")


@dataclass(frozen=True)
class Notice:
    """One notice sent: to whom, when, how (channels) and to how many recipients."""

    element_id: str
    audience: str
    sent_at: datetime
    channels: tuple[str, ...]
    recipients: int | None


@dataclass(frozen=True)
class RecallFigures:
    """`recallProgress` as the connector counts it (per audience and `total`), or why it could not count."""

    progress: dict[str, Any] | None
    counted_at: datetime
    problem: str | None = None

    def total(self, name: str, default: Any = 0) -> Any:
        return ((self.progress or {}).get("total") or {}).get(name, default)


@dataclass(frozen=True)
class RecallStatusReport:
    case: ReportCase
    facts: tuple[tuple[str, Any], ...]
    notices: tuple[Notice, ...]
    figures: RecallFigures
    effectiveness_checks: tuple[StepRecord, ...]  # each round: consignees checked, passed, effective, notes
    status_reports: tuple[StepRecord, ...]  # each "Compile status report": estimated completion, notes
    registrations: tuple[tuple[str, Any], ...]  # buyers registered on the public page

    @property
    def estimated_completion(self) -> Any:
        return self.status_reports[-1].value("estimatedCompletion") if self.status_reports else None

    @property
    def checks_done(self) -> int:
        return sum(int(step.value("sampleSize") or 0) for step in self.effectiveness_checks)

    @property
    def checks_passed(self) -> int:
        return sum(int(step.value("checksPassed") or 0) for step in self.effectiveness_checks)


@dataclass(frozen=True)
class RecallTermination:
    case: ReportCase
    facts: tuple[tuple[str, Any], ...]
    decided: StepRecord | None  # "Decide on recall": the class and the rationale
    strategy: StepRecord | None  # the last "Define recall strategy"
    first_notice_at: datetime | None
    termination_approved: StepRecord | None  # management's approval: disposition and rationale
    termination_requested_at: datetime | None  # the request sent to the authority
    authority_decisions: tuple[StepRecord, ...]  # each answer of the authority
    figures: RecallFigures
    checks: tuple[StepRecord, ...]
    capa_business_key: str | None
    capa_instance_id: str | None

    @property
    def checks_done(self) -> int:
        return sum(int(step.value("sampleSize") or 0) for step in self.checks)


def _facts(case: ReportCase, names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    variables = case.variables
    return tuple((name, variables[name]) for name in names if variables.get(name) not in (None, "", [], {}))


def recall_notices(case: ReportCase) -> tuple[Notice, ...]:
    notices = []
    for element_id, audience in NOTICE_STEPS:
        for job in case.finished_jobs(element_id):
            recipients = (job.input or {}).get("recipients")
            notices.append(Notice(element_id, audience, job.finished_at, tuple((job.input or {}).get("channels") or ()),
                                  len(recipients) if isinstance(recipients, list) else None))
    return tuple(sorted(notices, key=lambda n: n.sent_at))


def _progress_inputs(case: ReportCase) -> dict[str, Any]:
    """What bpmn/recall.bpmn's count_recall_progress maps into the connector."""
    variables = case.variables
    number = case.instance.business_key or variables.get("recallTicketId")
    return {"consignees": variables.get("consignees"), "affectedLots": variables.get("affectedLots"),
            "partnerCampaignId": variables.get("partnerCampaignId"),
            "consumerCampaignId": variables.get("consumerCampaignId"), "rmaPrefix": f"RMA-{number}-"}


def count_figures(core, case: ReportCase) -> RecallFigures:
    """The recall's figures now, counted by the `recall.progress` connector (read only: it records nothing)."""
    now = core.now()
    if not case.variables.get("consignees"):
        return RecallFigures(None, now, "the recall's scope is not computed yet")
    connector = core.connectors.get(PROGRESS_TOPIC)
    job = JobContext(job_id=0, instance_id=case.instance.id, business_key=case.instance.business_key,
                     element_id="count_recall_progress", topic=PROGRESS_TOPIC, attempt=1,
                     idempotency_key=f"report:{case.instance.id}")
    try:
        result = connector.run(_progress_inputs(case), job)
    except BusinessError as exc:
        return RecallFigures(None, now, exc.message)
    return RecallFigures(result.get("recallProgress"), now)


def build_status_report(core, case: ReportCase) -> RecallStatusReport:
    variables = case.variables
    registrations = tuple((name, variables[name]) for name in ("registrations", "registeredQuantity", "publicPageUrl")
                          if variables.get(name) not in (None, ""))
    return RecallStatusReport(case=case, facts=_facts(case, SCOPE_FACTS + STRATEGY_FACTS), notices=recall_notices(case),
                              figures=count_figures(core, case), effectiveness_checks=case.steps("check_effectiveness"),
                              status_reports=case.steps("compile_status_report"), registrations=registrations)


def build_termination(core, case: ReportCase) -> RecallTermination:
    notices = recall_notices(case)
    requested = case.finished_jobs("request_termination")
    capa = case.finished_jobs("request_root_cause_capa")
    return RecallTermination(
        case=case, facts=_facts(case, SCOPE_FACTS), decided=case.last_step("decide_recall"), strategy=case.last_step("define_strategy"),
        first_notice_at=notices[0].sent_at if notices else None,
        termination_approved=next((s for s in reversed(case.steps("approve_termination"))
                                   if s.value("terminationApproved")), None),
        termination_requested_at=requested[-1].finished_at if requested else None,
        authority_decisions=case.steps("record_authority_decision"), figures=count_figures(core, case),
        checks=case.steps("check_effectiveness"),
        capa_business_key=(capa[-1].input or {}).get("businessKey") if capa else None,
        capa_instance_id=(capa[-1].result or {}).get("messageDeliveredTo") if capa else None)
