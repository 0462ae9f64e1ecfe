"""One Jinja template per report, for the page and the PDF: the page extends base.html, the print variant
(`printing`) is bare HTML in the subset fpdf2's write_html lays out (headings, paragraphs, tables, lists,
images). Labels, option names, dates and yes/no are the reader's language, as on the case page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from orchestrator.case_facts import variable_labels
from web.model_texts import in_reader_language
from web.pages.case_data import shown
from web.pages.labels import group_names
from web.reports import codes
from web.reports.pdf import html_to_pdf
from web.time_display import absolute_text, reader_zone

TEMPLATES = {"8d": "reports/8d.html", "recall-status": "reports/recall_status.html",
             "recall-termination": "reports/recall_termination.html", "return-slip": "reports/return_slip.html"}
TITLES = {"8d": lazy_gettext("8D report"), "recall-status": lazy_gettext("Recall status report"),
          "recall-termination": lazy_gettext("Recall termination summary"),
          "return-slip": lazy_gettext("Return slip")}
GROUP_VARIABLES = ("departments",)
# what services record without a label in the model
OUTPUT_LABELS = {"departments": lazy_gettext("Countersigning departments"),
                 "quarantineId": lazy_gettext("Quarantine booking"),
                 "actionTicketId": lazy_gettext("Action ticket"), "publicPageUrl": lazy_gettext("Public recall page"),
                 "affectedLots": lazy_gettext("Lots in scope"), "affectedQuantity": lazy_gettext("Units in scope"),
                 "consigneeCount": lazy_gettext("Consignees in scope"),
                 "identifiableCustomers": lazy_gettext("End customers who can be told directly")}  # lists of staff groups (the CAPA's countersigning departments)
# what the file is called when saved: <report>-<case reference>.pdf
FILE_STEMS = {"8d": "8d-report", "recall-status": "recall-status-report",
              "recall-termination": "recall-termination-summary", "return-slip": "return-slip"}


class ReportTexts:
    """What a template asks of the model: a variable's label, a value as shown, a step's name, a time."""

    def __init__(self, model):
        self.model = in_reader_language(model)
        self.labels = variable_labels(self.model)
        self.names: dict[str, str] = {}
        for process in (model.spec, *model.subprocess_specs.values()):
            for spec in process.task_specs.values():
                if getattr(spec, "bpmn_id", None) and getattr(spec, "bpmn_name", None):
                    self.names.setdefault(spec.bpmn_id, spec.bpmn_name)

    def label(self, name: str) -> str:
        return str(self.labels.get(name) or OUTPUT_LABELS.get(name) or name)

    def value(self, name: str, value: Any) -> str:
        if value is None or value == "":
            return "—"
        if name in GROUP_VARIABLES and isinstance(value, list):
            return group_names(value)
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, dict) and "attachmentId" in value:
            return str(value.get("filename") or value["attachmentId"])
        if isinstance(value, list) and value and all(isinstance(v, dict) and "attachmentId" in v for v in value):
            return ", ".join(str(v.get("filename") or v["attachmentId"]) for v in value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(shown(self.model, name, value))

    def step(self, element_id: str) -> str:
        return str(self.model.step_name(element_id, self.names.get(element_id)) or element_id)

    def moment(self, value) -> str:
        return absolute_text(value, reader_zone()) if value else "—"

    def by(self, step) -> str:
        """'by qa-user (Quality), 2026-01-05 09:00 CET'."""
        groups = group_names(step.groups)
        who = f"{step.actor} ({groups})" if groups else step.actor
        return _("%(who)s, %(at)s", who=who, at=self.moment(step.at))

    def number(self, value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return "—" if value is None else str(value)


def title_of(name: str, report) -> str:
    return _("%(report)s: %(case)s", report=TITLES[name], case=report.case.reference)


def report_html(name: str, report, *, printing: bool) -> str:
    """The report's page (printing=False) or its print HTML for the PDF (printing=True)."""
    slip_codes = {}
    if name == "return-slip":
        barcode = report.barcode_text
        slip_codes = {"qr": codes.qr_data_uri(report.rma_number),
                      "barcode": codes.code39_data_uri(barcode) if barcode else None,
                      "barcode_width": codes.code39_width(barcode) if barcode else 0}
    return render_template(TEMPLATES[name], report=report, t=ReportTexts(report.case.model), printing=printing,
                           report_name=name, title=title_of(name, report), codes=slip_codes)


def report_pdf(name: str, report) -> bytes:
    return html_to_pdf(report_html(name, report, printing=True), title=title_of(name, report),
                       footer=f"{TITLES[name]} · {report.case.reference}")


def pdf_filename(name: str, report) -> str:
    reference = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in report.case.reference)
    return f"{FILE_STEMS[name]}-{reference}.pdf"


def content_disposition(filename: str) -> str:
    return f"attachment; filename=\"{filename.encode('ascii', 'replace').decode()}\"; filename*=UTF-8''{quote(filename)}"
