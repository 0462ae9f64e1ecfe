"""Management dashboards per process: KPIs, charts and the cases behind every bar."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from orchestrator.authorization import Permission, can
from orchestrator.dashboard_queries import DashboardFilter
from orchestrator.dashboards import PROCESS_KEYS
from orchestrator.errors import EngineError, Forbidden
from orchestrator.spreadsheet_files import Table as FileTable
from orchestrator.spreadsheet_files import table_csv, table_xlsx
from web.pages.common import engine, page_number, person, signed_in_pages
from web.pages.dashboard_labels import OptionNames
from web.pages.dashboard_tables import Board, Table, capa_board, recall_board, returns_board
from web.pages.labels import label

bp = Blueprint("dashboard_pages", __name__)
signed_in_pages(bp)

TITLES = {"returns": lazy_gettext("Returns"), "recall": lazy_gettext("Recalls"), "capa": lazy_gettext("CAPA")}
FILTER_FIELDS = {"returns": ("sku", "reason", "region", "channel"), "recall": ("sku",),
                 "capa": ("sku", "supplier", "fault_code", "region")}
FIELD_LABELS = {"from": lazy_gettext("From"), "to": lazy_gettext("To"), "sku": lazy_gettext("SKU"),
                "reason": lazy_gettext("Reason"), "region": lazy_gettext("Region"), "channel": lazy_gettext("Channel"),
                "supplier": lazy_gettext("Supplier"), "fault_code": lazy_gettext("Fault code")}
MAX_TEXT = 200


class BadFilter(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _date(name: str) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadFilter(name, _("'%(field)s' must be a date like 2025-01-31.", field=name)) from exc


def dashboard_filter() -> DashboardFilter:
    """The GET parameters as a filter; BadFilter names the first parameter that is wrong."""
    values = {}
    for name in ("sku", "reason", "region", "channel", "supplier", "fault_code"):
        text = request.args.get(name, "").strip()
        if len(text) > MAX_TEXT or "\x00" in text:
            raise BadFilter(name, _("'%(field)s' must be at most %(count)s characters.", field=name, count=MAX_TEXT))
        values[name] = text or None
    start, end = _date("from"), _date("to")
    if start and end and start > end:
        raise BadFilter("to", _("'to' must not be before 'from'."))
    return DashboardFilter(start=start, end=end, **values)


def filter_args(criteria: DashboardFilter) -> dict[str, str]:
    """The filter as GET parameters (the resolved period included, so a drill-down shows the same cases)."""
    args = {name: value for name, value in criteria.dimensions().items()}
    if criteria.start:
        args["from"] = criteria.start.isoformat()
    if criteria.end:
        args["to"] = criteria.end.isoformat()
    return args


def _refused():
    return render_template("errors/message.html", heading=_("Dashboards"),
                           message=_("Your role does not allow reading dashboards.")), 403


def _bad_filter(exc: BadFilter):
    return render_template("errors/message.html", heading=_("Dashboards"), message=exc.message), 400


def shown(value, kind: str) -> str:
    """A figure as the page shows it; "—" where it is not known."""
    if value is None:
        return "—"
    if kind == "text":
        return str(value)
    if kind == "share":
        return f"{value * 100:.1f} %"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "hours":
        return f"{value / 3600:,.1f}"
    if kind == "days":
        return f"{value:,.1f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _chart_value(value, kind: str):
    if value is None:
        return None
    if kind == "share":
        return round(value * 100, 2)
    if kind == "hours":
        return round(value / 3600, 2)
    return value


def chart_data(process: str, table: Table, criteria: DashboardFilter) -> dict | None:
    """What dashboards.js draws: labels, one dataset per charted column, and where each bar leads."""
    if table.chart is None or not table.rows:
        return None
    values = table.chart.values
    if table.chart.fallback and all(row.cells[i] is None for row in table.rows for i in values):
        values = table.chart.fallback
    args = filter_args(criteria)
    rows = table.rows[:table.chart.limit] if table.chart.limit else table.rows
    links = []
    for row in rows:
        if row.drill:
            links.append(url_for(".cases_page", process=process, dimension=row.drill[0], value=row.drill[1], **args))
        elif row.case_id:
            links.append(url_for("case_pages.instance_page", instance_id=row.case_id))
        else:
            links.append(None)
    return {"type": table.chart.type, "stacked": table.chart.stacked,
            "labels": [str(row.cells[0]) for row in rows], "links": links,
            "percent": [table.columns[i].kind == "share" for i in values],
            "datasets": [{"label": str(table.columns[i].label),
                          "data": [_chart_value(row.cells[i], table.columns[i].kind) for row in rows]}
                         for i in values]}


def _board(process: str, criteria: DashboardFilter) -> tuple[Board, DashboardFilter]:
    dashboards = engine().dashboards
    if process == "returns":
        found = dashboards.returns(person(), criteria)
        return returns_board(found), found.criteria
    if process == "capa":
        found = dashboards.capa(person(), criteria)
        return capa_board(found), found.criteria
    found = dashboards.recall(person(), criteria)
    return recall_board(found), found.criteria


def _download(process: str, board: Board, criteria: DashboardFilter, kind: str):
    name = request.args.get("table", "")
    table = board.table(name)
    if table is None:
        return render_template("errors/message.html", heading=_("Dashboards"), message=_(
            "'table' must name one of this dashboard's tables: %(names)s.",
            names=", ".join(t.name for t in board.tables))), 400
    notes = [("dashboard", process), ("table", table.name), *filter_args(criteria).items()]
    content = FileTable(str(table.title), [str(c.label) for c in table.columns],
                        [[c if c is None or isinstance(c, int | float) else str(c) for c in row.cells]
                         for row in table.rows], notes)
    stem = f"{process}-{table.name}-{criteria.start}-{criteria.end}"
    made = table_csv(content, f"{stem}.csv") if kind == "csv" else table_xlsx(content, f"{stem}.xlsx")
    return Response(made.content, mimetype=made.media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(made.filename)}"})


@bp.get("/dashboards")
def dashboard_list():
    """The three dashboards."""
    if not can(person(), Permission.READ_REPORTS):
        return _refused()
    return render_template("dashboards/index.html", titles=TITLES)


@bp.get("/dashboards/<string:process>")
def dashboard_page(process: str):
    """One process's dashboard, or one of its tables as CSV / XLSX (?format=csv|xlsx&table=<name>)."""
    if process not in PROCESS_KEYS:
        abort(404)
    if not can(person(), Permission.READ_REPORTS):
        return _refused()
    try:
        board, criteria = _board(process, dashboard_filter())
    except BadFilter as exc:
        return _bad_filter(exc)
    except Forbidden:
        return _refused()
    except EngineError as exc:
        return render_template("errors/message.html", heading=_("Dashboards"), message=exc.message), exc.status
    kind = request.args.get("format", "html")
    if kind in ("csv", "xlsx"):
        return _download(process, board, criteria, kind)
    if kind != "html":
        return _bad_filter(BadFilter("format", _("'format' must be csv or xlsx.")))
    charts = {t.name: chart_data(process, t, criteria) for t in board.tables}
    names = OptionNames(process)
    choices = {name: names.names.get(name) or {} for name in FILTER_FIELDS[process]}
    return render_template("dashboards/board.html", process=process, title=TITLES[process], board=board,
                           criteria=criteria, charts=charts, args=filter_args(criteria), shown=shown,
                           fields=FILTER_FIELDS[process], field_labels=FIELD_LABELS, choices=choices)


@bp.get("/dashboards/<string:process>/cases")
def cases_page(process: str):
    """The cases behind one bar, slice, point or row of a dashboard."""
    if process not in PROCESS_KEYS:
        abort(404)
    if not can(person(), Permission.READ_REPORTS):
        return _refused()
    dimension, value = request.args.get("dimension", "all"), request.args.get("value", "")
    try:
        found = engine().dashboards.cases(person(), dashboard_filter(), process, dimension, value, page_number())
    except BadFilter as exc:
        return _bad_filter(exc)
    except Forbidden:
        return _refused()
    except EngineError as exc:
        return render_template("errors/message.html", heading=_("Dashboards"), message=exc.message), exc.status
    names = OptionNames(process)
    args = filter_args(found.criteria)
    shown_value = value if dimension in ("month", "overdue") else names(dimension, value)
    return render_template("dashboards/cases.html", process=process, process_name=TITLES[process], found=found,
                           args=args, names=names, status_label=lambda s: label("status", s),
                           selection=_("%(dimension)s: %(value)s", dimension=_dimension_name(dimension),
                                       value=shown_value) if dimension != "all" else _("all cases"))


def _dimension_name(dimension: str) -> str:
    names = {"month": _("Month"), "stage": _("Discipline"), "reuse": _("Reuse group"), "overdue": _("Overdue task"),
             "recurred": _("Recurred after closing"), "received": _("Received"), "resolved": _("Resolved"),
             "closed": _("Closed"), "status": _("Status"), "grade": _("Grade"), "disposition": _("Disposition"),
             "outcome": _("Outcome"), "lot": _("Lot"), "severity": _("Severity")}
    return names.get(dimension) or str(FIELD_LABELS.get(dimension, dimension))
