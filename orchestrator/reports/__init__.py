"""Printable reports of one case (issue 16): the 8D report of a CAPA, the recall's status report and termination
summary, and a return's slip. Each reads its case once, checks who may read it, and returns a frozen dataclass
that the web layer renders as HTML and PDF from one template."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.actors import Actor
from orchestrator.engine import CommandGroup
from orchestrator.errors import NotFound
from orchestrator.reports import capa_8d, recall_reports, return_slip
from orchestrator.reports.case_record import ReportCase, ReportNotApplicable, read_report_case


@dataclass(frozen=True)
class ReportKind:
    name: str  # as in the URL: /instances/<id>/reports/<name>
    process_keys: tuple[str, ...]
    build: Callable[[Any, ReportCase], Any]  # (engine core, case) -> the report


REPORTS = {kind.name: kind for kind in (
    ReportKind("8d", capa_8d.PROCESS_KEYS, lambda core, case: capa_8d.build_8d_report(case)),
    ReportKind("recall-status", recall_reports.PROCESS_KEYS, recall_reports.build_status_report),
    ReportKind("recall-termination", recall_reports.PROCESS_KEYS, recall_reports.build_termination),
    ReportKind("return-slip", return_slip.PROCESS_KEYS, lambda core, case: return_slip.build_return_slip(case)),
)}


def reports_for(process_key: str) -> list[str]:
    """The names of the reports a case of this process has."""
    return [name for name, kind in REPORTS.items() if process_key in kind.process_keys]


class UnknownReport(NotFound):
    """No report of that name."""


class CaseReports(CommandGroup):
    def report(self, actor: Actor, instance_id: str, name: str) -> Any:
        """The report `name` of the case; UnknownReport for a name no report has, ReportNotApplicable when the
        case's process has no such report, NotFound unless the actor may read the case (or holds READ_REPORTS)."""
        kind = REPORTS.get(name)
        if kind is None:
            raise UnknownReport(f"there is no report '{name}'; reports: {', '.join(REPORTS)}")
        case = read_report_case(self.core, actor, instance_id, kind.process_keys)
        return kind.build(self.core, case)


__all__ = ["REPORTS", "CaseReports", "ReportNotApplicable", "UnknownReport", "reports_for"]
