"""Printable reports (HTML and PDF): 8D report, recall status report, recall termination summary, return slip.

`/instances/<id>/reports/<name>` shows the report; `?format=pdf` downloads the same template as PDF."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _

from orchestrator.errors import NotFound
from orchestrator.reports import CaseReports, ReportNotApplicable, UnknownReport, reports_for
from web.pages.common import engine, person, signed_in_pages
from web.reports.rendering import TITLES, content_disposition, pdf_filename, report_html, report_pdf

bp = Blueprint("report_pages", __name__)
signed_in_pages(bp)

FORMATS = ("html", "pdf")


@bp.app_context_processor
def _case_report_links():
    """For the case page's links (reports/_case_links.html): the reports of a process and their titles."""
    return {"case_reports": reports_for, "report_titles": TITLES}


def pdf_response(name: str, report) -> Response:
    """The report as a PDF file to save."""
    return Response(report_pdf(name, report), mimetype="application/pdf", headers={
        "Content-Disposition": content_disposition(pdf_filename(name, report)),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


@bp.get("/instances/<string:instance_id>/reports/<string:name>")
def report_page(instance_id: str, name: str):
    """The report as a page, or with ?format=pdf as a PDF download."""
    file_format = request.args.get("format", "html")
    if file_format not in FORMATS:
        return render_template("errors/message.html", heading=_("Unknown format"),
                               message=_("format must be html or pdf, not %(format)s.", format=file_format),
                               back=None), 400
    try:
        report = CaseReports(engine()).report(person(), instance_id, name)
    except UnknownReport:
        return render_template("errors/message.html", heading=_("No such report"),
                               message=_("There is no report called %(name)s.", name=name), back=None), 404
    except ReportNotApplicable:
        return render_template("errors/message.html", heading=_("No such report for this case"),
                               message=_("This case has no %(report)s: that report is for cases of another process.",
                                         report=TITLES[name]), back=None), 404
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    if file_format == "pdf":
        return pdf_response(name, report)
    return report_html(name, report, printing=False)
