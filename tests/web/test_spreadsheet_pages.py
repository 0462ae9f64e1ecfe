"""Spreadsheet exports of the case list, the task list and a case's history (what the reader may see, formulas
neutralised), and the import doors: pages and API, 403 for auditors, 400 for a file that is no spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from orchestrator.metric_models import SalesVolume
from orchestrator.spreadsheet_imports import SpreadsheetImports
from tests.conftest import ADMIN
from tests.security.test_roles import sign_in
from tests.support import inspect

MANAGER = ("sam@example.com", ("staff",), ("sales_manager",))
OWNER = ("olivia@example.com", ("process_owner",), ())
AUDITOR = ("audra@example.com", ("auditor",), ())
SALES = b"SKU,Month,Region,Units\r\nKETTLE-2,2026-01,EU,120\r\nKETTLE-2,2026-02,EU,-4\r\nIRON-3,2026-03,,7.5\r\n"


@pytest.fixture
def cases(web_engine):
    """A refund whose business key is a formula (its approval open to the sales managers) and a shop return
    whose task is the shop's: a sales manager sees the first only."""
    refund = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="=1+1",
                                                 variables={"amount": 9000, "customer": "@Ada"})
    hidden = web_engine.instances.start_instance("shop_return", actor=ADMIN, business_key="RMA-HIDDEN",
                                                 variables={"customer": "Zed"})
    return {"visible": refund.id, "hidden": hidden.id}


def csv_rows(answer) -> list[list[str]]:
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))


def xlsx_sheet(answer):
    assert answer.status_code == 200
    assert answer.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return load_workbook(io.BytesIO(answer.data)).worksheets[0]


def test_the_case_list_export_holds_the_cases_the_reader_may_see_with_formulas_neutralised(app, cases):
    manager = sign_in(app, *MANAGER)
    rows = csv_rows(manager.get("/cases.csv"))
    assert rows[0][:5] == ["Case id", "Business key", "Process", "Version", "Status"]
    assert [row[1] for row in rows[1:]] == ["'=1+1"]  # the shop's return is not theirs to read
    assert cases["hidden"] not in manager.get("/cases.csv").data.decode()

    sheet = xlsx_sheet(manager.get("/cases.xlsx"))
    key = sheet.cell(row=2, column=2)
    assert (key.value, key.data_type) == ("=1+1", "s")  # text, never a formula
    assert sheet.max_row == 2

    auditor = sign_in(app, *AUDITOR)
    keys = [row[1] for row in csv_rows(auditor.get("/cases.csv"))[1:]]
    assert sorted(keys) == ["'=1+1", "RMA-HIDDEN"]
    filtered = csv_rows(auditor.get("/cases.csv?process=shop_return&status=running"))
    assert [row[1] for row in filtered[1:]] == ["RMA-HIDDEN"]
    assert csv_rows(auditor.get("/cases.csv?process=shop_return&status=completed"))[1:] == []


def test_the_task_list_export_is_the_readers_inbox(app, cases, web_engine):
    manager = sign_in(app, *MANAGER)
    rows = csv_rows(manager.get("/tasks.csv"))
    [task] = inspect.open_tasks(web_engine, cases["visible"])
    assert [row[0] for row in rows[1:]] == [task.id]
    assert rows[1][2] == "'=1+1" and "customer: '@Ada" not in rows[1][9]
    sheet = xlsx_sheet(manager.get("/tasks.xlsx?view=unassigned"))
    assert [cell.value for cell in sheet[2]][0] == task.id
    assert csv_rows(manager.get("/tasks.csv?process=shop_return"))[1:] == []


def test_a_case_history_export_needs_the_case_to_be_readable(app, cases):
    manager = sign_in(app, *MANAGER)
    rows = csv_rows(manager.get(f"/instances/{cases['visible']}/history.csv"))
    assert rows[0] == ["At", "Event", "Step", "By", "Details"]
    assert any(row[1] == "Case started" or "started" in row[1].lower() for row in rows[1:])
    sheet = xlsx_sheet(manager.get(f"/instances/{cases['visible']}/history.xlsx"))
    assert sheet.max_row == len(rows)
    assert manager.get(f"/instances/{cases['hidden']}/history.xlsx").status_code == 404
    page = manager.get(f"/instances/{cases['visible']}").data.decode()
    assert f"/instances/{cases['visible']}/history.xlsx" in page
    assert "/cases.xlsx" in manager.get("/instances?status=running").data.decode()


def test_auditors_are_refused_at_every_import_door(app, as_):
    auditor = sign_in(app, *AUDITOR)
    assert auditor.get("/imports").status_code == 403
    answer = auditor.post("/imports", data={"csrf_token": auditor.csrf, "kind": "sales_volumes",
                                            "file": (io.BytesIO(SALES), "sales.csv")},
                          content_type="multipart/form-data")
    assert answer.status_code == 403
    assert auditor.get("/imports/sales_volumes/data.csv").status_code == 403
    api = as_("auditor")
    answer = api.post("/api/v1/imports", data={"kind": "sales_volumes", "file": (io.BytesIO(SALES), "s.csv")},
                      content_type="multipart/form-data")
    assert answer.status_code == 403 and answer.mimetype == "application/problem+json"
    assert api.get("/api/v1/imports/1").status_code == 403
    assert api.post("/api/v1/imports/1/start", json={"validRowsOnly": True}).status_code == 403
    assert as_("clerk").post("/api/v1/imports", data={"kind": "sales_volumes", "file": (io.BytesIO(SALES), "s.csv")},
                             content_type="multipart/form-data").status_code == 403  # staff: no sales volumes


def test_a_file_that_is_no_spreadsheet_or_has_no_known_column_is_refused_clearly(app, as_):
    """Pages: 400. API: 422 problem naming the file, as its convention has it for a body the schema accepts
    and the engine cannot use (a file that is not BPMN at /deployments alike)."""
    api = as_("owner")
    for content, name, words in [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png", "neither CSV nor XLSX"),
                                 (b"PK\x03\x04 not really a zip", "fake.xlsx", "neither CSV nor XLSX"),
                                 (b"colour,size\nred,9\n", "other.csv", "no known column"),
                                 (b"", "empty.csv", "empty")]:
        answer = api.post("/api/v1/imports", data={"kind": "sales_volumes", "file": (io.BytesIO(content), name)},
                          content_type="multipart/form-data")
        assert answer.status_code == 422, name
        assert answer.mimetype == "application/problem+json" and words in answer.get_json()["detail"]
        assert answer.get_json()["errors"]["file"]
    owner = sign_in(app, *OWNER)
    answer = owner.post("/imports", data={"csrf_token": owner.csrf, "kind": "sales_volumes",
                                          "file": (io.BytesIO(b"colour,size\nred,9\n"), "other.csv")},
                        content_type="multipart/form-data")
    assert answer.status_code == 400 and "no known column" in answer.data.decode()


def test_sales_volumes_through_the_api_preview_start_and_progress(web_engine, as_):
    api = as_("owner")
    headers = {"Idempotency-Key": "sales-upload-1"}
    answer = api.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                      data={"kind": "sales_volumes", "file": (io.BytesIO(SALES), "sales.csv")})
    assert answer.status_code == 201
    preview = answer.get_json()
    assert (preview["totalRows"], preview["validRows"], preview["status"]) == (3, 2, "previewed")
    assert preview["errors"] == [{"row": 3, "column": "Units", "reason": "must be a number of at least 0"}]
    again = api.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                     data={"kind": "sales_volumes", "file": (io.BytesIO(SALES), "sales.csv")})
    assert again.get_json()["id"] == preview["id"] and again.headers.get("Idempotent-Replayed") == "true"

    import_id = preview["id"]
    refused = api.post(f"/api/v1/imports/{import_id}/start", json={})
    assert refused.status_code == 422 and "validRowsOnly" in refused.get_json()["detail"] or \
        "valid_rows_only" in str(refused.get_json())
    with web_engine.db.reading() as session:
        assert session.scalars(select(SalesVolume)).all() == []
    started = api.post(f"/api/v1/imports/{import_id}/start", json={"validRowsOnly": True},
                       headers={"Idempotency-Key": "sales-start-1"})
    assert started.status_code == 202 and started.get_json()["status"] == "queued"
    imports = SpreadsheetImports(web_engine, web_engine.start_forms)
    while imports.run_round().more:
        pass
    progress = api.get(f"/api/v1/imports/{import_id}").get_json()
    assert (progress["status"], progress["done"], progress["percent"]) == ("done", 2, 100)
    with web_engine.db.reading() as session:
        assert sorted((row.sku, row.units) for row in session.scalars(select(SalesVolume))) == [
            ("IRON-3", 7.5), ("KETTLE-2", 120.0)]


def test_the_import_pages_preview_then_import_the_valid_rows(web_engine, app):
    owner = sign_in(app, *OWNER)
    assert owner.get("/imports").status_code == 200
    answer = owner.post("/imports", data={"csrf_token": owner.csrf, "kind": "sales_volumes",
                                          "file": (io.BytesIO(SALES), "sales.csv")},
                        content_type="multipart/form-data")
    assert answer.status_code == 302
    page_path = answer.headers["Location"]
    import_id = int(page_path.rstrip("/").split("/")[-1])
    page = owner.get(page_path).data.decode()
    assert "Import the 2 valid rows" in page and "must be a number of at least 0" in page
    report = csv_rows(owner.get(f"/imports/{import_id}/errors.csv"))
    assert report == [["Row", "Column", "Reason"], ["3", "Units", "must be a number of at least 0"]]
    assert owner.get(f"/imports/{import_id}/status").get_json()["status"] == "previewed"
    started = owner.post(f"/imports/{import_id}/start", data={"csrf_token": owner.csrf, "valid_rows_only": "1"})
    assert started.status_code == 302
    assert 'http-equiv="refresh"' in owner.get(page_path).data.decode()  # the page reloads while it runs
    while SpreadsheetImports(web_engine, web_engine.start_forms).run_round().more:
        pass
    done = owner.get(page_path).data.decode()
    assert "2 rows imported." in done and 'http-equiv="refresh"' not in done
    exported = csv_rows(owner.get("/imports/sales_volumes/data.csv"))
    assert exported == [["SKU", "Month", "Region", "Units"], ["IRON-3", "2026-03", "", "7.5"],
                        ["KETTLE-2", "2026-01", "EU", "120.0"]]


def test_the_operations_lists_export_for_operators_only(app, cases):
    auditor = sign_in(app, *AUDITOR)
    jobs = csv_rows(auditor.get("/operations/jobs.csv?status=pending"))
    assert jobs[0][:5] == ["Job", "Case id", "Step", "Topic", "Status"]
    incidents = xlsx_sheet(auditor.get("/operations/incidents.xlsx?state=all"))
    assert [cell.value for cell in incidents[1]][:4] == ["Incident", "Case id", "Step", "Message"]
    manager = sign_in(app, *MANAGER)
    assert manager.get("/operations/jobs.csv").status_code == 403
    assert manager.get("/operations/incidents.xlsx").status_code == 403


def test_a_discarded_file_is_never_imported(web_engine, app):
    owner = sign_in(app, *OWNER)
    answer = owner.post("/imports", data={"csrf_token": owner.csrf, "kind": "sales_volumes",
                                          "file": (io.BytesIO(SALES), "sales.csv")},
                        content_type="multipart/form-data")
    import_id = int(answer.headers["Location"].rstrip("/").split("/")[-1])
    assert owner.post(f"/imports/{import_id}/discard", data={"csrf_token": owner.csrf}).status_code == 302
    assert owner.get(f"/imports/{import_id}/status").get_json()["status"] == "discarded"
    refused = owner.post(f"/imports/{import_id}/start", data={"csrf_token": owner.csrf, "valid_rows_only": "1"},
                         follow_redirects=True)
    assert "was discarded" in refused.data.decode()
    while SpreadsheetImports(web_engine, web_engine.start_forms).run_round().more:
        pass
    with web_engine.db.reading() as session:
        assert session.scalars(select(SalesVolume)).all() == []
    assert "sales.csv" in owner.get("/imports").data.decode()
