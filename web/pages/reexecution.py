"""The re-execution check for people: a case run again from its recorded inputs, compared step by step."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _

from orchestrator.errors import NotFound
from web.model_texts import model_of
from web.pages.common import engine, person, signed_in_pages

bp = Blueprint("reexecution_pages", __name__)
signed_in_pages(bp)


@bp.get("/instances/<string:instance_id>/reexecution")
def reexecution_page(instance_id: str):
    """The case run again on the version it ran on, each recorded step beside what the re-execution did."""
    try:
        report = engine().reexecution.reexecute(instance_id, actor=person())
    except NotFound:
        return render_template("errors/not_found.html", what=_("case")), 404
    model = model_of(report.definition_id)
    return render_template("instances/reexecution.html", report=report,
                           process_name=model.title if model is not None else report.definition_key)
