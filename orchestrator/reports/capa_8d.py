"""The 8D report of a CAPA case (bpmn/capa.bpmn): each discipline with the steps that did it (who, when, what
they entered), the 5-Why chain and the Ishikawa category of the root cause, every countersignature with its
verdict and comment, and the effectiveness verification. Read from the case's history, so a discipline done
twice (a loop back after an objection) shows both times."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.reports.case_record import ReportCase, StepRecord

PROCESS_KEYS = ("capa",)
WHY_FIELDS = ("why1", "why2", "why3", "why4", "why5")
COUNTERSIGN_STEP = "countersign_root_cause"
# the case's intake: where the problem came from and how it was classified
INTAKE_VARIABLES = ("source", "sourceReference", "sku", "lotNumber", "faultCode", "problemSummary", "capaType",
                    "severity", "responsibleParty")


@dataclass(frozen=True)
class DisciplineSpec:
    key: str  # D1 … D8, or "effectiveness"
    steps: tuple[str, ...]  # the user tasks that do it
    outputs: tuple[str, ...] = ()  # what services recorded for it (case variables)


DISCIPLINES = (
    DisciplineSpec("D1", ("form_team",), ("departments",)),
    DisciplineSpec("D2", ("describe_problem",)),
    DisciplineSpec("D3", ("define_containment", "quarantine_manually"), ("quarantineId", "quarantinedQuantity")),
    DisciplineSpec("D4", ("analyse_root_cause", "review_countersign")),
    DisciplineSpec("D5", ("choose_corrective_action",)),
    DisciplineSpec("D6", ("plan_implementation", "confirm_implementation"), ("actionTicketId",)),
    DisciplineSpec("D7", ("standardise",)),
    DisciplineSpec("effectiveness", ("verify_effectiveness",), ("casesSinceOpened", "recurrenceCount")),
    DisciplineSpec("D8", ("close_capa",)),
)


@dataclass(frozen=True)
class Discipline:
    key: str
    steps: tuple[StepRecord, ...]
    outputs: tuple[tuple[str, Any], ...]  # variable name, value (only those the case holds)

    @property
    def done(self) -> bool:
        return bool(self.steps or self.outputs)


@dataclass(frozen=True)
class RootCause:
    """The last root cause analysis: the 5-Why chain (answered whys only), the cause and its Ishikawa category."""

    whys: tuple[str, ...]
    root_cause: str | None
    ishikawa_category: str | None
    analysed: StepRecord | None


@dataclass(frozen=True)
class EightDReport:
    case: ReportCase
    started: StepRecord
    intake: tuple[tuple[str, Any], ...]
    classified: StepRecord | None
    disciplines: tuple[Discipline, ...]
    root_cause: RootCause
    countersignatures: tuple[StepRecord, ...]  # each department's verdict and comment, every round

    def discipline(self, key: str) -> Discipline:
        return next(d for d in self.disciplines if d.key == key)


def _present(variables: dict[str, Any], names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((name, variables[name]) for name in names if variables.get(name) not in (None, "", [], {}))


def build_8d_report(case: ReportCase) -> EightDReport:
    """The report's content from the case as read."""
    variables = case.variables
    disciplines = tuple(Discipline(spec.key, case.steps(*spec.steps), _present(variables, spec.outputs))
                        for spec in DISCIPLINES)
    analysed = case.last_step("analyse_root_cause")
    source = dict(analysed.values) if analysed else variables
    root_cause = RootCause(
        whys=tuple(str(source[name]) for name in WHY_FIELDS if source.get(name) not in (None, "")),
        root_cause=source.get("rootCause"), ishikawa_category=source.get("ishikawaCategory"), analysed=analysed)
    return EightDReport(case=case, started=case.start(), intake=_present(variables, INTAKE_VARIABLES),
                        classified=case.last_step("classify_capa"), disciplines=disciplines, root_cause=root_cause,
                        countersignatures=case.steps(COUNTERSIGN_STEP))
