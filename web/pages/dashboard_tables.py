"""Each dashboard as named tables: the same rows feed the HTML table, its chart and the CSV / XLSX download, so
every chart has its numbers beside it. A row may name the cases behind it (dimension, value) for the drill-down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from orchestrator.capa_dashboard import CapaDashboard
from orchestrator.recall_dashboard import RecallDashboard
from orchestrator.returns_dashboard import TURNAROUND_STEPS, ReturnsDashboard
from web.model_texts import step_name
from web.pages.dashboard_labels import OptionNames


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "int"  # text | int | num | share | days | money | hours


@dataclass(frozen=True)
class Row:
    cells: tuple[Any, ...]
    drill: tuple[str, str] | None = None  # (dimension, value) of the cases behind the row
    case_id: str | None = None  # a row that is one case links to it


@dataclass(frozen=True)
class Chart:
    type: str  # bar | line | doughnut | pareto
    values: tuple[int, ...]  # the columns charted, one dataset each
    stacked: bool = False
    fallback: tuple[int, ...] = ()  # charted instead when none of `values` is known (a rate without sales)
    limit: int | None = None  # chart the first rows only (the table has them all)


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    chart: Chart | None = None
    note: str | None = None
    wide: bool = False  # the card spans the grid


@dataclass
class Board:
    tables: list[Table] = field(default_factory=list)
    tiles: list[tuple[str, Any, str]] = field(default_factory=list)  # (label, value, kind)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def _step_table(name: str, title: str, times, definition_id: int | None) -> Table:
    return Table(name, title, (Column(_("Step"), "text"), Column(_("Passes")), Column(_("Median (hours)"), "hours"),
                               Column(_("90th percentile (hours)"), "hours"), Column(_("Overdue"), "share")),
                 tuple(Row((_step_name(definition_id, t), t.passes, t.median_seconds, t.p90_seconds,
                            t.overdue_share)) for t in times),
                 Chart("hbar", (2, 3), limit=10),
                 note=_("Over all cases of every version, not only the filtered ones; the chart shows the 10 slowest."))


def _step_name(definition_id: int | None, times) -> str:
    """A step's name in the reader's language (the newest version's words)."""
    if definition_id is None:
        return times.name or times.element_id
    return step_name(definition_id, times.element_id, times.name) or times.element_id


def returns_board(board: ReturnsDashboard) -> Board:
    names = OptionNames("returns")
    rate_columns = (Column(_("Returns")), Column(_("Returned units"), "num"), Column(_("Units sold"), "num"),
                    Column(_("Return rate"), "share"))

    def rates(name: str, title: str, column: str, rows, first: str, chart: str = "bar") -> Table:
        shown = tuple(Row((names(column, r.key) if column != "month" else r.key, r.cases, r.units, r.sold, r.rate),
                          (column, r.key or "")) for r in rows)
        return Table(name, title, (Column(first, "text"), *rate_columns), shown, Chart(chart, (4,), fallback=(2,)))

    def mix(name: str, title: str, column: str, rows, heading: str | None = None) -> Table:
        return Table(name, title, (Column(heading or title, "text"), Column(_("Returns")), Column(_("Share"), "share")),
                     tuple(Row((names(column, m.key), m.cases, m.share), (column, m.key or "")) for m in rows),
                     Chart("doughnut", (1,)))

    step_names = {"to_received": _("Request → received"), "to_resolved": _("Received → resolved"),
                  "total": _("Request → resolved")}
    step_drill = {"to_received": "received", "to_resolved": "resolved", "total": "resolved"}
    spread_columns = (Column(_("Returns")), Column(_("Median (days)"), "days"), Column(_("90th percentile (days)"), "days"))
    reuse, cost = board.reuse, board.cost
    tables = [
        rates("rate_by_month", _("Return rate by month"), "month", board.by_month, _("Month"), "line"),
        rates("rate_by_sku", _("Return rate by SKU"), "sku", board.by_sku, _("SKU")),
        rates("rate_by_reason", _("Return rate by reason"), "reason", board.by_reason, _("Reason")),
        rates("rate_by_region", _("Return rate by region"), "region", board.by_region, _("Region")),
        Table("turnaround", _("Turnaround"), (Column(_("Step"), "text"), *spread_columns),
              tuple(Row((step_names[s.step], s.count, s.median_days, s.p90_days), (step_drill[s.step], ""))
                    for s in board.turnaround if s.step in TURNAROUND_STEPS), Chart("bar", (2, 3))),
        Table("turnaround_by_month", _("Request → resolved by month"), (Column(_("Month"), "text"), *spread_columns),
              tuple(Row((s.step, s.count, s.median_days, s.p90_days), ("month", s.step))
                    for s in board.turnaround_by_month), Chart("line", (2, 3))),
        mix("grades", _("Grade"), "grade", board.grades),
        mix("dispositions", _("Disposition"), "disposition", board.dispositions),
        mix("outcomes", _("Refund, exchange, repair or recycle"), "outcome", board.outcomes, _("Outcome")),
        Table("reuse", _("Reuse and recycling"), (Column(_("Group"), "text"), Column(_("Returns")),
                                                   Column(_("Share of returns with a disposition"), "share")),
              (Row((_("Reused (restock, refurbish)"), reuse.reuse, reuse.reuse_rate), ("reuse", "reuse")),
               Row((_("Recycled (scrap)"), reuse.recycle, reuse.recycle_rate), ("reuse", "recycle")),
               Row((_("Returned to supplier"), reuse.to_supplier, reuse.to_supplier_rate), ("reuse", "to_supplier"))),
              Chart("bar", (2,))),
        Table("cost", _("Cost per return"), (Column(_("Cost"), "text"), Column(_("Average per return"), "money")),
              (Row((_("Logistics"), cost.logistics)), Row((_("Parts"), cost.parts)), Row((_("Labour"), cost.labour)),
               Row((_("Total"), cost.total))), Chart("bar", (1,)),
              note=_("Averaged over the %(count)s returns with a cost recorded; total cost %(total).2f.",
                     count=cost.costed_cases, total=cost.total_cost)),
        Table("pareto", _("Fault codes (Pareto)"), (Column(_("Fault code"), "text"), Column(_("Returns")),
                                                    Column(_("Share"), "share"), Column(_("Cumulative"), "share")),
              tuple(Row((names("fault_code", p.fault_code), p.cases, p.share, p.cumulative_share),
                        ("fault_code", p.fault_code)) for p in board.pareto), Chart("pareto", (1, 3)), wide=True),
    ]
    if board.step_times:
        tables.append(_step_table("step_times", _("Time per step"), board.step_times, board.step_definition_id))
    total = board.total
    tiles = [(_("Returns"), total.cases, "int"), (_("Returned units"), total.units, "num"),
             (_("Return rate"), total.rate, "share"), (_("Value recovered"), board.value_recovered, "money"),
             (_("Cost per return"), cost.total, "money"), (_("Reuse rate"), reuse.reuse_rate, "share"),
             (_("Recycle rate"), reuse.recycle_rate, "share"),
             (_("Median turnaround (days)"),
              next((s.median_days for s in board.turnaround if s.step == "total"), None), "days")]
    return Board(tables, tiles)


def capa_board(board: CapaDashboard) -> Board:
    names = OptionNames("capa")
    group_columns = (Column(_("CAPAs")), Column(_("Open")), Column(_("Closed")))
    tables = [
        Table("open_by_discipline", _("Open CAPAs by discipline"), (Column(_("Discipline"), "text"), Column(_("Open"))),
              tuple(Row((s.stage or _("Not yet in a D-step"), s.cases), ("stage", s.stage or ""))
                    for s in board.by_stage), Chart("bar", (1,))),
        Table("overdue", _("Overdue tasks"), (Column(_("Task"), "text"), Column(_("Tasks")), Column(_("CAPAs"))),
              tuple(Row((o.name or o.element_id, o.tasks, o.cases), ("overdue", o.element_id)) for o in board.overdue),
              Chart("bar", (1,))),
        Table("by_supplier", _("CAPAs by supplier"), (Column(_("Supplier"), "text"), *group_columns),
              tuple(Row((names("supplier", g.key), g.cases, g.open, g.closed), ("supplier", g.key or ""))
                    for g in board.by_supplier), Chart("bar", (2, 3), stacked=True)),
        Table("by_fault_code", _("CAPAs by fault code"), (Column(_("Fault code"), "text"), *group_columns),
              tuple(Row((names("fault_code", g.key), g.cases, g.open, g.closed), ("fault_code", g.key or ""))
                    for g in board.by_fault_code), Chart("bar", (2, 3), stacked=True)),
        Table("cycle_time", _("Cycle time of closed CAPAs"),
              (Column(_("Closed CAPAs")), Column(_("Median (days)"), "days"), Column(_("90th percentile (days)"), "days")),
              (Row((board.cycle.count, board.cycle.median, board.cycle.p90), ("closed", "")),)),
        Table("recurrence", _("Recurrence"), (Column(_("Measure"), "text"), Column(_("Count")), Column(_("Of"), "int"),
                                              Column(_("Share"), "share")),
              (Row((_("Effectiveness checks found not effective"), board.recurrence.not_effective,
                    board.recurrence.checks, board.recurrence.not_effective_share)),
               Row((_("Closed CAPAs with a return of the same fault code since"), board.recurrence.recurred,
                    board.recurrence.closed, board.recurrence.recurred_share), ("recurred", ""))),
              note=_("%(count)s returns with the fault code of a closed CAPA started after it closed.",
                     count=board.recurrence.returns_after)),
    ]
    if board.step_times:
        tables.append(_step_table("step_times", _("Time per step (D-steps)"), board.step_times,
                                  board.step_definition_id))
    tiles = [(_("CAPAs"), board.cases, "int"), (_("Open"), board.open, "int"), (_("Closed"), board.closed, "int"),
             (_("Overdue tasks"), board.overdue_tasks, "int"), (_("Median cycle time (days)"), board.cycle.median, "days"),
             (_("Recurred after closing"), board.recurrence.recurred_share, "share")]
    return Board(tables, tiles)


def recall_board(board: RecallDashboard) -> Board:
    audiences = {"trade": _("Trade"), "consumers": _("Consumers"), "total": _("Total")}
    reach_columns = (Column(_("Units in scope"), "num"), Column(_("Notified")), Column(_("Delivered")),
                     Column(_("Opened")), Column(_("Acknowledged")))
    rows, totals = [], []
    for recall in board.recalls:
        name = recall.business_key or recall.instance_id[:8]
        if not recall.scope_known:
            totals.append(Row((name, None, None, None, None, None, None, recall.required_level,
                               _("scope not traced yet"), recall.days_since_start), case_id=recall.instance_id))
            continue
        for audience in recall.audiences:
            rows.append(Row((name, audiences[audience.audience], audience.scope, audience.notified, audience.delivered,
                             audience.opened, audience.acknowledged, audience.returned, audience.corrected,
                             audience.destroyed, audience.accounted_share), case_id=recall.instance_id))
            if audience.audience == "total":
                totals.append(Row((name, audience.scope, audience.notified, audience.delivered, audience.opened,
                                   audience.acknowledged, audience.accounted_share, recall.required_level,
                                   recall.level_reached or "—", recall.days_since_start),
                                  case_id=recall.instance_id))
    reach = Table("reach", _("Reach and effectiveness per recall"),
                  (Column(_("Recall"), "text"), *reach_columns, Column(_("Units accounted for"), "share"),
                   Column(_("Level required"), "text"), Column(_("Level reached"), "text"),
                   Column(_("Days since start"))),
                  tuple(totals), Chart("bar", (2, 3, 4, 5)), wide=True,
                  note=_("Units accounted for: returned, corrected or destroyed, of the units in scope. Level reached: "
                         "the deepest effectiveness check level (A: all, B: half, C: a tenth, D: one in fifty of those notified) "
                         "the acknowledgements reach."))
    detail = Table("recalls", _("Recalls by audience"),
                   (Column(_("Recall"), "text"), Column(_("Audience"), "text"), *reach_columns,
                    Column(_("Returned"), "num"), Column(_("Corrected"), "num"), Column(_("Destroyed"), "num"),
                    Column(_("Accounted for"), "share")), tuple(rows), wide=True,
                   note=_("Showing the newest %(count)s recalls.", count=len(board.recalls)) if board.capped else None)
    tiles = [(_("Recalls"), len(board.recalls), "int")]
    return Board([reach, detail], tiles)
