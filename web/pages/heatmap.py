"""The heatmap on a version's diagram and the tasks likely to miss their due date."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import format_decimal
from flask_babel import gettext as _

from orchestrator.errors import Forbidden, NotFound
from orchestrator.heatmap import ElementTime, Heatmap
from web.model_texts import model_of, step_name
from web.pages.common import engine, page_count, person, signed_in_pages
from web.pages.common import page_number as current_page

bp = Blueprint("heatmap_pages", __name__)
signed_in_pages(bp)

AT_RISK_PAGE = 50  # rows a page of the tasks at risk

MINUTE, HOUR, DAY = 60, 3600, 86400


def short_duration(seconds: float | None) -> str:
    """A duration in one compact unit (45 s, 12 min, 3.5 h, 2.1 d): badges on a diagram have little room."""
    if seconds is None:
        return "—"
    if seconds < 1:  # the first histogram bucket holds everything under a second
        return _("< 1 s")
    for limit, unit, text in ((90, 1, _("%(value)s s")), (90 * MINUTE, MINUTE, _("%(value)s min")),
                              (48 * HOUR, HOUR, _("%(value)s h")), (None, DAY, _("%(value)s d"))):
        if limit is None or seconds < limit:
            value = seconds / unit
            shown = format_decimal(round(value, 1) if value < 10 else round(value), format="#,##0.#")
            return text % {"value": shown}
    return "—"  # unreachable: the last unit has no limit


def percent(share: float | None) -> str:
    return "—" if share is None else _("%(value)s %%", value=format_decimal(round(share * 100), format="#,##0"))


def reports_refused():
    return render_template("errors/message.html", heading=_("Reports"),
                           message=_("Your role does not allow reading dashboards and reports.")), 403


def _element_row(element: ElementTime, definition_id: int) -> dict[str, Any]:
    name = step_name(definition_id, element.element_id, element.name)
    return {"id": element.element_id, "name": name or element.element_id, "passes": element.passes,
            "median": element.median_seconds, "p90": element.p90_seconds, "overdue": element.overdue_share,
            "median_text": short_duration(element.median_seconds), "p90_text": short_duration(element.p90_seconds),
            "overdue_text": percent(element.overdue_share)}


def heatmap_data(heatmap: Heatmap) -> dict[str, Any]:
    """What the diagram script paints, with every text already in the reader's language."""
    elements = sorted((_element_row(e, heatmap.definition_id) for e in heatmap.elements),  # the slowest first
                      key=lambda e: (-(e["median"] or 0), -e["passes"], e["name"]))
    flows = [{"id": f.element_id, "source": f.source, "target": f.target, "passes": f.passes, "share": f.share,
              "share_text": percent(f.share)} for f in heatmap.flows]
    medians = [e["median"] for e in elements if e["median"] is not None and e["median"] > 0]
    return {"elements": elements, "flows": flows,
            "scale": {"median": {"low": min(medians, default=None), "high": max(medians, default=None),
                                 "low_text": short_duration(min(medians, default=None)),
                                 "high_text": short_duration(max(medians, default=None))},
                      "overdue": {"low": 0, "high": 1, "low_text": percent(0), "high_text": percent(1)}},
            "words": {"passes": _("passes"), "median": _("median"), "p90": _("p90"), "late": _("late"),
                      "of_cases": _("of cases"), "zoom": _("Zoom"), "zoom_in": _("Zoom in"),
                      "zoom_out": _("Zoom out"), "fit": _("Fit the diagram in the box"),
                      "show": _("Show"),
                      "show_step": _("Show on the diagram")}}


@bp.get("/processes/<string:key>/versions/<int:version>/heatmap")
def version_heatmap(key: str, version: int):
    """The version's diagram coloured by time spent (or overdue share), each flow by the share of cases taking it."""
    actor = person()
    try:
        heatmap = engine().heatmaps.version(actor, key, version)
        xml = engine().heatmaps.diagram(actor, key, version)
    except Forbidden:
        return reports_refused()
    except NotFound:
        return render_template("errors/not_found.html", what=_("process version")), 404
    model = model_of(heatmap.definition_id)
    if model is not None:
        xml = model.texts.diagram(xml, model.language)
    data = heatmap_data(heatmap)
    title = model.title if model is not None else (heatmap.name or key)
    versions = [definition.version for definition in engine().queries.list_definitions(key)]
    return render_template("heatmap/version.html", heatmap=heatmap, data=data, diagram_xml=xml,
                           process_name=title, versions=versions)


def process_titles() -> dict[str, str]:
    """Each process key's title in the reader's language (from its latest version that has one)."""
    titles: dict[str, str] = {}
    for definition in engine().queries.list_definitions():
        if definition.key not in titles:
            model = model_of(definition.id)
            titles[definition.key] = model.title if model is not None else (definition.name or definition.key)
    return titles


@bp.get("/dashboards/at-risk")
def at_risk():
    """Open tasks that are overdue or predicted to finish after their due date, soonest due first."""
    page_number = current_page()
    try:
        page = engine().heatmaps.at_risk(person(), limit=AT_RISK_PAGE, offset=(page_number - 1) * AT_RISK_PAGE)
    except Forbidden:
        return reports_refused()
    return render_template("heatmap/at_risk.html", forecasts=page.items, titles=process_titles(), total=page.total,
                           page_number=page_number, pages=page_count(page.total, AT_RISK_PAGE))
