"""Traceability for QA and process owners: preview a recall scope, trace a unit or lot back to its suppliers.

Both only read, so the forms are GET forms: a result page can be bookmarked or sent to a colleague.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from integrations.traceability.backward import parse_start, trace_back
from integrations.traceability.scope import recall_scope
from integrations.traceability.suspects import InvalidSuspects, parse_suspects
from orchestrator.authorization import Permission, can
from web.pages.common import engine, person, signed_in_pages

bp = Blueprint("traceability_pages", __name__)
signed_in_pages(bp)

MAX_FORM_TEXT = 200_000


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.args.get(name, "")[:MAX_FORM_TEXT].splitlines() if line.strip()]


def lots_from_lines(lines: list[str]) -> list[dict[str, str]]:
    """'SKU/LOT' or 'SKU LOT' per line; a line with one word is a lot without SKU."""
    lots = []
    for line in lines:
        parts = [part for part in re.split(r"\s*/\s*|\s+", line, maxsplit=1) if part]
        lots.append({"sku": parts[0], "lot": parts[1]} if len(parts) == 2 else {"sku": "", "lot": parts[0]})
    return lots


def ranges_from_lines(lines: list[str]) -> list[dict[str, str]]:
    """'SKU FROM TO' or 'SKU FROM..TO' per line."""
    ranges = []
    for number, line in enumerate(lines, start=1):
        parts = [part for part in re.split(r"\s+|\.\.", line) if part]
        if len(parts) != 3:
            raise InvalidSuspects(_("serial ranges, line %(number)s", number=number),
                                  _("write SKU FROM TO, for example K2 K2-000100 K2-000199"))
        ranges.append(dict(zip(("sku", "from", "to"), parts, strict=True)))
    return ranges


@bp.get("/traceability/scope")
def scope_page():
    """The recall scope of the suspects typed in, with counts and warnings; or the backward trace of one item."""
    if not can(person(), Permission.READ_ALL):
        return render_template("errors/message.html", heading=_("Traceability"),
                               message=_("Your role does not allow reading traceability data.")), 403
    form = {name: request.args.get(name, "")[:MAX_FORM_TEXT] for name in ("lots", "serials", "ranges", "serial",
                                                                          "sku", "lot")}
    scope: dict[str, Any] | None = None
    back: dict[str, Any] | None = None
    error: str | None = None
    try:
        if request.args.get("do") == "back":
            start = parse_start(form["serial"].strip(), form["sku"].strip(), form["lot"].strip())
            with engine().db.reading() as session:
                back = trace_back(session, start)
        elif any(form[name].strip() for name in ("lots", "serials", "ranges")):
            suspects = parse_suspects(lots_from_lines(_lines("lots")), _lines("serials"),
                                      ranges_from_lines(_lines("ranges")))
            with engine().db.reading() as session:
                scope = recall_scope(session, suspects)
    except InvalidSuspects as exc:
        error = exc.message if exc.field in ("serial", "lot") else f"{exc.field}: {exc.message}"
    status = 422 if error else 200
    return render_template("traceability/scope.html", form=form, scope=scope, back=back, error=error), status
