"""REST API: Printable reports as PDF."""

from __future__ import annotations

from flask_smorest import Blueprint

from orchestrator.reports import REPORTS, CaseReports
from web.api.context import ERRORS, actor, engine
from web.pages.reports import pdf_response

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Printable reports as PDF")

BINARY = {"type": "string", "format": "binary"}


@blp.route("/instances/<string:instance_id>/reports/<string:name>", methods=["GET"])
@blp.response(200, BINARY, content_type="application/pdf",
              description="The report as PDF, in the caller's language (Accept-Language)")
@blp.doc(parameters=[{"in": "path", "name": "name", "required": True,
                      "schema": {"type": "string", "enum": list(REPORTS)}}],
         responses={**ERRORS, "404": {"description": "No such case, the caller may not read it, no such report, or "
                                                     "not a report of the case's process"}})
def case_report(instance_id: str, name: str):
    """A printable report of a case as PDF, for whoever may read the case or reports.

    `8d` (CAPA cases), `recall-status` (21 CFR 7.53 status report) and `recall-termination` (termination
    summary) of recall cases, `return-slip` (RMA number as barcode and QR code) of return cases. The same
    template as the page `/instances/<id>/reports/<name>`."""
    report = CaseReports(engine()).report(actor(), instance_id, name)
    return pdf_response(name, report)
