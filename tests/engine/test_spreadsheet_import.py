"""Spreadsheet imports of returns, trace events and sales volumes: the preview's errors (row, column, reason),
nothing stored before the start, the background rounds, resuming after a cut-off round without a duplicate,
and round trips (export → import gives the same rows)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import delete, func, select

from integrations.traceability.models import TraceEvent
from orchestrator.actors import Actor
from orchestrator.errors import Forbidden, InvalidInput
from orchestrator.import_kinds import (
    SALES_VOLUME_COLUMNS,
    TRACE_EVENT_COLUMNS,
    importable_fields,
    returns_start_rows,
    sales_volume_rows,
    trace_event_rows,
)
from orchestrator.import_models import ImportKind, ImportStatus, SpreadsheetImport
from orchestrator.metric_models import SalesVolume
from orchestrator.models import HistoryEvent, InstanceStatus, ProcessDefinition, ProcessInstance
from orchestrator.spreadsheet_files import Table, table_csv, table_xlsx
from orchestrator.spreadsheet_imports import SpreadsheetImports, UnusableFile, case_idempotency_key
from tests.conftest import ADMIN
from tests.processes.driver import CONNECTORS, deploy_models
from web.import_checkers import trace_event_checker

OWNER = Actor("owner", roles=frozenset({"process_owner"}))
AUDITOR = Actor("auditor", roles=frozenset({"auditor"}))
MANAGER = Actor("manager", roles=frozenset({"manager"}))
# the header mixes field ids and the start form's English labels
RETURNS_HEADER = ["RMA number", "orderReference", "Customer name", "customerEmail", "Customer mobile (E.164, for SMS)",
                  "customerAddress", "Customer segment", "sku", "Lot number", "Purchase date", "quantity",
                  "Return value (EUR)", "Reason", "description", "Requested outcome", "returnChannel", "Remarks"]
BAD_DATE, MISSING_NAME, UNKNOWN_REASON = 41, 150, 277  # row numbers in the sheet (the header is row 1)


def returns_row(number: int) -> list:
    return [f"RMA-{number:05d}", f"SO-{number}", f"Customer {number}", f"c{number}@example.com", "+447700900123",
            f"{number} Long Road, Leeds", "Business" if number % 2 else "consumer", f"SKU-{number % 7}",
            f"L-{number % 11}", date(2025, 1 + number % 12, 1 + number % 28), 1 + number % 3, 10.5 * number,
            "Quality defect" if number % 3 else "wrong_item", "@home: stopped" if number == 2 else "stopped working",
            "refund", "carrier_parcel", "ignored"]


def returns_workbook(rows: int = 300) -> bytes:
    """A returns file of `rows` data rows with three bad ones: a wrong date, no customer name, an unknown reason."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(RETURNS_HEADER)
    for number in range(2, rows + 2):
        row = returns_row(number)
        if number == BAD_DATE:
            row[9] = "2025-02-30"
        if number == MISSING_NAME:
            row[2] = ""
        if number == UNKNOWN_REASON:
            row[12] = "bored of it"
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def returns_engine(make_engine, database):
    engine = make_engine(database, connector_modules=CONNECTORS)
    deploy_models(engine)
    return engine


@pytest.fixture
def imports(returns_engine) -> SpreadsheetImports:
    return SpreadsheetImports(returns_engine, returns_engine.start_forms)


def run_to_end(imports: SpreadsheetImports) -> int:
    rounds = 0
    while imports.run_round().more:
        rounds += 1
        assert rounds < 1000
    return rounds


def count(engine, query) -> int:
    with engine.db.reading() as session:
        return session.scalar(query)


def returns_cases(engine) -> int:
    return count(engine, select(func.count()).select_from(ProcessInstance)
                 .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                 .where(ProcessDefinition.key == "returns"))


def test_returns_file_with_three_bad_rows_imports_the_297_others_once(returns_engine, imports):
    preview = imports.preview(ImportKind.RETURNS, returns_workbook(), "returns.xlsx", actor=OWNER)
    assert (preview.total_rows, preview.valid_rows, preview.error_count) == (300, 297, 3)
    assert sorted(preview.errors) == [
        (BAD_DATE, "Purchase date", "must be a date (YYYY-MM-DD), not '2025-02-30'"),
        (MISSING_NAME, "Customer name", "is required"),
        (UNKNOWN_REASON, "Reason", "must be one of no_reason, wrong_item, transit_damage, quality_defect, take_back"),
    ]
    assert preview.ignored_columns == ["Remarks"]
    assert preview.status == ImportStatus.PREVIEWED
    assert returns_cases(returns_engine) == 0  # nothing imported from a previewed file

    [(first, values), *_] = imports.sample_rows(preview.id, actor=OWNER)
    assert first == 2
    assert values["intakeSource"] == "spreadsheet"  # the column is absent: a file's rows came by spreadsheet
    assert values["description"] == "@home: stopped" and values["customerSegment"] == "consumer"
    assert values["purchaseDate"] == "2025-03-03" and values["quantity"] == 3

    with pytest.raises(InvalidInput) as refused:
        imports.start_import(preview.id, actor=OWNER)  # errors: only with "import the valid rows"
    assert "valid_rows_only" in refused.value.errors
    started = imports.start_import(preview.id, actor=OWNER, valid_rows_only=True)
    assert started.status == ImportStatus.QUEUED
    assert imports.start_import(preview.id, actor=OWNER, valid_rows_only=True).status == ImportStatus.QUEUED

    run_to_end(imports)
    done = imports.get_import(preview.id, actor=OWNER)
    assert (done.status, done.done, done.failed, done.percent) == (ImportStatus.DONE, 297, 0, 100)
    assert returns_cases(returns_engine) == 297
    with returns_engine.db.reading() as session:
        case = session.scalar(select(ProcessInstance).where(
            ProcessInstance.idempotency_key == case_idempotency_key(preview.id, 7)))
        started_with = session.scalar(select(HistoryEvent.payload).where(
            HistoryEvent.instance_id == case.id, HistoryEvent.type == "instance_started"))["variables"]
    assert case.business_key == "RMA-00007" and case.started_by == "owner"
    assert started_with["customerName"] == "Customer 7" and started_with["returnReason"] == "quality_defect"
    assert started_with["customerSegment"] == "business" and started_with["returnValue"] == 73.5

    # counted as never done (a lost count): the rows' idempotency keys keep every case single
    with returns_engine.db.transaction() as session:
        row = session.get(SpreadsheetImport, preview.id)
        row.status, row.position, row.done = ImportStatus.QUEUED, 0, 0
    run_to_end(imports)
    assert returns_cases(returns_engine) == 297
    assert imports.get_import(preview.id, actor=OWNER).done == 297


def test_a_round_cut_off_midway_leaves_nothing_and_the_next_resumes(returns_engine, imports, clock):
    preview = imports.preview(ImportKind.RETURNS, returns_workbook(40), "returns.xlsx", actor=OWNER)
    imports.start_import(preview.id, actor=OWNER, valid_rows_only=True)
    assert imports.run_round(limit=15, seconds=None).handled == 15  # one whole round
    rows = [(n, v) for n, v in imports.sample_rows(preview.id, actor=OWNER, limit=40) if n > 16][:15]
    with pytest.raises(RuntimeError), returns_engine.db.transaction() as session:
        imports._write(session, preview.id, ImportKind.RETURNS, rows, OWNER)  # the worker dies before its count
        raise RuntimeError("killed")
    assert returns_cases(returns_engine) == 15
    clock.advance(minutes=5)  # the dead worker's lease runs out
    run_to_end(imports)
    assert returns_cases(returns_engine) == 39
    assert imports.get_import(preview.id, actor=OWNER).done == 39


def test_a_row_whose_business_key_is_taken_meanwhile_fails_alone(returns_engine, imports):
    preview = imports.preview(ImportKind.RETURNS, returns_workbook(5), "returns.xlsx", actor=OWNER)
    first = imports.sample_rows(preview.id, actor=OWNER)[0][1]
    returns_engine.start_forms.start_from_form("returns", first, actor=OWNER)  # RMA-00002 started by hand
    imports.start_import(preview.id, actor=OWNER)
    run_to_end(imports)
    done = imports.get_import(preview.id, actor=OWNER)
    assert (done.done, done.failed) == (4, 1)
    assert done.failures[0][0] == 2 and "RMA-00002 is already in use" in done.failures[0][1]
    assert returns_cases(returns_engine) == 5


def test_import_doors_check_the_kind_and_the_file(imports):
    content = returns_workbook(3)
    for actor in (AUDITOR,):
        with pytest.raises(Forbidden):
            imports.preview(ImportKind.RETURNS, content, "r.xlsx", actor=actor)
    with pytest.raises(Forbidden):
        imports.preview(ImportKind.SALES_VOLUMES, b"sku,month,units\nA,2026-01,3\n", "s.csv", actor=MANAGER)
    preview = imports.preview(ImportKind.RETURNS, content, "r.xlsx", actor=OWNER)
    with pytest.raises(Forbidden):
        imports.start_import(preview.id, actor=AUDITOR, valid_rows_only=True)
    with pytest.raises(UnusableFile, match="neither CSV nor XLSX"):
        imports.preview(ImportKind.RETURNS, b"\x89PNG\r\n\x1a\n\x00\x00\x00", "photo.png", actor=OWNER)
    with pytest.raises(UnusableFile, match="no known column"):
        imports.preview(ImportKind.RETURNS, b"colour,size\nred,9\n", "other.csv", actor=OWNER)


def unpacking_to(part: str, megabytes: int) -> bytes:
    """A small ZIP (a few hundred kB) whose `part` unpacks to `megabytes` MB of zeros: a ZIP bomb."""
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(part, "w", force_zip64=True) as inside:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(megabytes):
                inside.write(chunk)
    return packed.getvalue()


@pytest.mark.parametrize(("part", "megabytes", "says"), [
    ("xl/worksheets/sheet1.xml", 401, "unpacks to more than 400 MB"),
    ("xl/sharedStrings.xml", 101, "shared texts unpack to more than 100 MB"),
])
def test_an_xlsx_that_would_unpack_into_gigabytes_is_refused_unread(imports, part, megabytes, says):
    bomb = unpacking_to(part, megabytes)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(UnusableFile, match=says):
        imports.preview(ImportKind.RETURNS, bomb, "returns.xlsx", actor=OWNER)


SALES = [["KETTLE-2", "2026-01", "EU", 1200], ["KETTLE-2", "2026-02", "", 900.5], ["TOASTER-1", "2026-01", "EU", 0],
         ["TOASTER-1", "2026-13", "EU", 10], ["IRON-3", "2026-03", "US", 40]]


def sales_file(rows, *, csv: bool = False) -> bytes:
    table = Table("Sales volumes", [c.label for c in SALES_VOLUME_COLUMNS], rows)
    return (table_csv(table, "s.csv") if csv else table_xlsx(table, "s.xlsx")).content


def test_sales_volumes_are_upserted_and_a_bad_month_is_reported(returns_engine, imports):
    preview = imports.preview(ImportKind.SALES_VOLUMES, sales_file(SALES), "sales.xlsx", actor=OWNER)
    assert (preview.valid_rows, preview.errors) == (4, [(5, "Month", "must be a month as YYYY-MM, not '2026-13'")])
    assert count(returns_engine, select(func.count()).select_from(SalesVolume)) == 0
    imports.start_import(preview.id, actor=OWNER, valid_rows_only=True)
    run_to_end(imports)
    with returns_engine.db.reading() as session:
        assert sales_volume_rows(session) == [["IRON-3", "2026-03", "US", 40.0], ["KETTLE-2", "2026-01", "EU", 1200.0],
                                              ["KETTLE-2", "2026-02", "", 900.5], ["TOASTER-1", "2026-01", "EU", 0.0]]
    again = imports.preview(ImportKind.SALES_VOLUMES, sales_file([["KETTLE-2", "2026-01", "EU", 1250]], csv=True),
                            "more.csv", actor=OWNER)
    imports.start_import(again.id, actor=OWNER)
    run_to_end(imports)
    with returns_engine.db.reading() as session:
        rows = sales_volume_rows(session)
        assert len(rows) == 4 and ["KETTLE-2", "2026-01", "EU", 1250.0] in rows
        exported = table_xlsx(Table("Sales volumes", [c.id for c in SALES_VOLUME_COLUMNS], rows), "x.xlsx").content
    with returns_engine.db.transaction() as session:
        session.execute(delete(SalesVolume))
    round_trip = imports.preview(ImportKind.SALES_VOLUMES, exported, "export.xlsx", actor=OWNER)
    assert round_trip.error_count == 0
    imports.start_import(round_trip.id, actor=OWNER)
    run_to_end(imports)
    with returns_engine.db.reading() as session:
        assert sales_volume_rows(session) == rows


EVENTS = [
    ["ev-1", "object", "ADD", "2026-01-02T08:00:00+00:00", "commissioning", "", "plant-1", "KETTLE-2", "L-7", 3,
     "K2-1 K2-2 K2-3", "", "", "", "", "", "", "", "", ""],
    ["ev-2", "aggregation", "ADD", "2026-01-02T09:00:00+00:00", "packing", "", "plant-1", "", "", "",
     "K2-1;K2-2", "CASE-1", "", "", "", "", "", "", "", ""],
    ["ev-3", "transformation", "OBSERVE", "2026-01-03T09:00:00+00:00", "", "", "", "", "", "", "", "",
     '[{"sku": "STEEL", "lot": "S-1", "quantity": 2.5}]', '[{"sku": "KETTLE-2", "lot": "L-7"}]', "", "", "", "", "",
     ""],
    ["ev-4", "teleport", "OBSERVE", "2026-01-04T09:00:00+00:00", "", "", "", "", "", "", "", "", "", "", "", "", "",
     "", "", ""],
    ["ev-5", "object", "OBSERVE", "2026-01-05T09:00:00+00:00", "shipping", "", "dc-1", "", "", "", "CASE-1", "", "",
     "", "shop-9", "Shop 9", "retailer", '{"email": "=cmd|x"}', "", ""],
]


def test_trace_events_are_checked_by_the_api_schema_and_round_trip(returns_engine, imports):
    table = Table("Trace events", [c.id for c in TRACE_EVENT_COLUMNS], EVENTS)
    preview = imports.preview(ImportKind.TRACE_EVENTS, table_xlsx(table, "t.xlsx").content, "events.xlsx",
                              actor=OWNER, checker=trace_event_checker())
    assert preview.valid_rows == 4
    assert preview.errors == [(5, "kind", "Must be one of: object, aggregation, transformation, transaction.")]
    with pytest.raises(Forbidden):
        imports.preview(ImportKind.TRACE_EVENTS, b"kind\nobject\n", "t.csv", actor=MANAGER,
                        checker=trace_event_checker())
    assert count(returns_engine, select(func.count()).select_from(TraceEvent)) == 0
    imports.start_import(preview.id, actor=OWNER, valid_rows_only=True)
    run_to_end(imports)
    with returns_engine.db.reading() as session:
        rows = trace_event_rows(session)
    assert [row[0] for row in rows] == ["ev-1", "ev-2", "ev-3", "ev-5"]
    assert rows[1][10] == "K2-1 K2-2" and rows[3][17] == '{"email": "=cmd|x"}'

    # the same file again: event ids seen before are ignored, as the API ignores them
    imports.start_import(imports.preview(ImportKind.TRACE_EVENTS, table_csv(table, "t.csv").content, "t.csv",
                                         actor=OWNER, checker=trace_event_checker()).id,
                         actor=OWNER, valid_rows_only=True)
    run_to_end(imports)
    assert count(returns_engine, select(func.count()).select_from(TraceEvent)) == 4

    exported = table_csv(Table("Trace events", [c.label for c in TRACE_EVENT_COLUMNS], rows), "t.csv").content
    with returns_engine.db.transaction() as session:
        for event in session.scalars(select(TraceEvent)):
            session.delete(event)
    again = imports.preview(ImportKind.TRACE_EVENTS, exported, "export.csv", actor=OWNER,
                            checker=trace_event_checker())
    assert again.error_count == 0
    imports.start_import(again.id, actor=OWNER)
    run_to_end(imports)
    with returns_engine.db.reading() as session:
        assert trace_event_rows(session) == rows


def test_returns_exported_in_the_import_layout_import_into_equal_start_data(returns_engine, imports):
    preview = imports.preview(ImportKind.RETURNS, returns_workbook(6), "returns.xlsx", actor=OWNER)
    imports.start_import(preview.id, actor=OWNER)
    run_to_end(imports)
    _, form = returns_engine.start_forms.start_form("returns")
    with returns_engine.db.reading() as session:
        before = returns_start_rows(session, form)
    header = [spec["label"] for spec in importable_fields(form)]
    exported = table_xlsx(Table("Returns", header, before), "returns.xlsx").content
    with returns_engine.db.reading() as session:
        first_cases = session.scalars(select(ProcessInstance.id)).all()
    for case_id in first_cases:
        returns_engine.instances.cancel_instance(case_id, actor=ADMIN, reason="imported again")
    again = imports.preview(ImportKind.RETURNS, exported, "returns-export.xlsx", actor=OWNER)
    assert (again.valid_rows, again.error_count) == (6, 0)
    imports.start_import(again.id, actor=OWNER)
    run_to_end(imports)
    with returns_engine.db.reading() as session:
        after = returns_start_rows(session, form)
        statuses = session.scalars(select(ProcessInstance.status)).all()
    assert after[:6] == before and after[6:] == before
    assert statuses.count(InstanceStatus.CANCELLED) == 6

