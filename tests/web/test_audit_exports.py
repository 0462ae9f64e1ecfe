"""Audit exports: a case's bundle that an outsider verifies with hashlib and json alone (README, "Audit"), and
history events across cases as CSV and XLSX with formulas neutralised; who may export what, over the API and
the pages. Exports change nothing."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import subprocess
import sys
import zipfile
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import delete, update

from orchestrator.actors import Actor
from orchestrator.audit_bundle import HISTORY_FIELDS, VERIFY_TEXT
from orchestrator.event_export import COLUMNS, neutralised
from orchestrator.models import HistoryEvent
from tests.conftest import ADMIN
from tests.support import inspect
from web import audit_pdf
from web.auth.demo import DEMO_PASSWORD, seed_demo_users

MANAGER = Actor("apikey:manager", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))
CHINESE_KEY = "RMA-退货-001"
FORMULA_KEY = '=HYPERLINK("http://example.com","x")'


@pytest.fixture
def cases(web_engine):
    """A refund (Chinese business key and form values) approved by a sales manager, refunded and commented;
    and a small refund whose business key is a spreadsheet formula."""
    refund = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=CHINESE_KEY,
                                                 variables={"amount": 9000, "customer": "张伟"})
    [task] = inspect.open_tasks(web_engine, refund.id)
    web_engine.tasks.complete_user_task(task.id, {"approved": True, "note": "同意退款 -1", "approvedAmount": 9000},
                                        actor=MANAGER)
    assert inspect.run_pending_jobs(web_engine, refund.id) == ["completed"]
    web_engine.comments.add_comment(refund.id, "called the customer: 已联系 🙂\x07", actor=ADMIN)
    formula = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=FORMULA_KEY,
                                                  variables={"amount": 10, "customer": "@SUM(1+1)"})
    return refund.id, formula.id


def unpack(response) -> tuple[zipfile.ZipFile, dict]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    return archive, json.loads(archive.read("manifest.json"))


def recompute_chain(lines: list[str]) -> tuple[int, str]:
    """The README's recipe with hashlib and json only: (events, last hash)."""
    prev, count = "0" * 64, 0
    for line in lines:
        event = json.loads(line)
        body = json.dumps([prev, event["instance_id"], event["at"], event["type"], event["actor"],
                           event["element_id"], event["task_id"], event["payload"]],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert event["prev_hash"] == prev, event["seq"]
        assert hashlib.sha256(body.encode("utf-8")).hexdigest() == event["hash"], event["seq"]
        prev, count = event["hash"], count + 1
    return count, prev


def test_an_outsider_verifies_the_bundle_with_hashlib_and_json_alone(as_, cases, web_engine, tmp_path):
    refund_id, _formula_id = cases
    version_before = inspect.instance(web_engine, refund_id).version
    archive, manifest = unpack(as_("auditor").get(f"/api/v1/instances/{refund_id}/audit-bundle"))
    names = set(archive.namelist())
    assert names == {"manifest.json", "VERIFY.txt", "case.pdf", "history.jsonl", "definition/refund_claim.bpmn",
                     "definition/routing.dmn"}
    # the manifest names the case, its version and deployment, the export, and sums every other file
    row = inspect.instance(web_engine, refund_id)
    assert (manifest["case_id"], manifest["business_key"], manifest["process_key"], manifest["process_version"],
            manifest["exported_by"]) == (refund_id, CHINESE_KEY, "refund_claim", 1, "apikey:auditor")
    assert manifest["deployment_id"] and manifest["exported_at"]
    assert (manifest["history_count"], manifest["history_head"], manifest["history_signature"]) == (
        row.history_count, row.history_head, row.history_signature)
    assert manifest["verification_at_export"]["status"] == "intact"
    assert set(manifest["files"]) == names - {"manifest.json"}
    for path, digest in manifest["files"].items():
        assert hashlib.sha256(archive.read(path)).hexdigest() == digest, path
    # every line carries the recipe's fields; the chain recomputes to the signed head and count
    lines = archive.read("history.jsonl").decode("utf-8").splitlines()
    assert all(tuple(json.loads(line)) == HISTORY_FIELDS for line in lines)
    assert {json.loads(line)["type"] for line in lines} >= {"instance_started", "task_completed", "comment_added",
                                                            "state_recorded", "job_completed"}
    count, head = recompute_chain(lines)
    assert (count, head) == (manifest["history_count"], manifest["history_head"]) == (len(inspect.history(
        web_engine, refund_id)), row.history_head)
    signed = hmac.new(web_engine.settings.audit_signing_key, f"{refund_id}\n{count}\n{head}".encode(),
                      hashlib.sha256).hexdigest()
    assert signed == manifest["history_signature"]
    # the definition files are the deployment's, byte for byte (its content hash recomputes)
    deployed = sorted((name, archive.read(path).decode("utf-8")) for path, name in manifest["definition_files"].items())
    assert hashlib.sha256("".join(f"{name}\0{content}" for name, content in deployed).encode("utf-8")
                          ).hexdigest() == manifest["deployment_content_hash"]
    # the recipe VERIFY.txt gives runs as written
    archive.extractall(tmp_path)
    script = re.search(r"<<'CHECK'\n(.*?)\nCHECK", VERIFY_TEXT, re.S).group(1)
    checked = subprocess.run([sys.executable, "-"], input=script, cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0 and checked.stdout.startswith(f"intact: 5 files, {count} events"), checked
    # an edited file is found by the same recipe
    (tmp_path / "history.jsonl").write_text(archive.read("history.jsonl").decode("utf-8").replace("张伟", "李四"),
                                            encoding="utf-8")
    tampered = subprocess.run([sys.executable, "-"], input=script, cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
    assert tampered.returncode != 0 and "file changed: history.jsonl" in tampered.stderr
    assert inspect.instance(web_engine, refund_id).version == version_before  # the export changed nothing
    assert len(inspect.history(web_engine, refund_id)) == count


def test_the_report_draws_chinese_and_degrades_without_fonts(as_, cases, monkeypatch):
    refund_id, _formula_id = cases
    archive, _manifest = unpack(as_("auditor").get(f"/api/v1/instances/{refund_id}/audit-bundle"))
    pdf = archive.read("case.pdf")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    if audit_pdf.CJK_FONTS[0][0].is_file():  # fonts-noto-cjk (.ci/run installs it)
        assert b"NotoSansCJK" in pdf
    # without any of the fonts the report is still drawn, in the built-in font, with '?' for the rest
    missing = audit_pdf.FONTS / "missing"
    monkeypatch.setattr(audit_pdf, "LATIN_FONTS", ((missing / "a.ttf", missing / "b.ttf"),))
    monkeypatch.setattr(audit_pdf, "CJK_FONTS", ((missing / "c.ttc", missing / "d.ttc", 0),))
    archive, _manifest = unpack(as_("auditor").get(f"/api/v1/instances/{refund_id}/audit-bundle"))
    plain = archive.read("case.pdf")
    assert plain.startswith(b"%PDF-") and b"Helvetica" in plain and b"NotoSansCJK" not in plain


def test_only_readers_of_the_case_get_its_bundle(as_, cases):
    refund_id, formula_id = cases
    assert as_("manager").get(f"/api/v1/instances/{refund_id}/audit-bundle").status_code == 200  # worked on it
    for persona in ("owner", "admin"):
        assert as_(persona).get(f"/api/v1/instances/{formula_id}/audit-bundle").status_code == 200
    for persona, instance_id in (("clerk", refund_id), ("shop", refund_id), ("auditor", "no-such-case")):
        answer = as_(persona).get(f"/api/v1/instances/{instance_id}/audit-bundle")
        assert answer.status_code == 404 and answer.mimetype == "application/problem+json", persona
    assert as_(None).get(f"/api/v1/instances/{refund_id}/audit-bundle").status_code == 401


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/csv"
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert tuple(rows[0]) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def test_events_export_as_csv_filters_and_neutralises_formulas(as_, cases, web_engine):
    refund_id, formula_id = cases
    auditor = as_("auditor")
    rows = read_csv(auditor.get("/api/v1/audit/events?processKey=refund_claim"))
    stored = {e.seq: e for i in (refund_id, formula_id) for e in inspect.history(web_engine, i)}
    assert [int(r["seq"]) for r in rows] == sorted(stored)
    for row in rows:
        event = stored[int(row["seq"])]
        assert (row["case id"], row["type"], row["hash"], row["process"]) == (
            event.instance_id, event.type, event.hash, "refund_claim")
        assert row["at"] == event.at.isoformat() and row["at"].endswith("+00:00")
        assert json.loads(row["payload"]) == event.payload
    by_case = {r["case id"]: r["business key"] for r in rows}
    assert by_case == {refund_id: CHINESE_KEY, formula_id: "'" + FORMULA_KEY}  # never a formula
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    # filters: type, case, business key, event time
    completed = read_csv(auditor.get("/api/v1/audit/events?type=task_completed&type=comment_added"))
    assert sorted(r["type"] for r in completed) == ["comment_added", "task_completed"]
    assert {r["case id"] for r in read_csv(auditor.get(f"/api/v1/audit/events?instanceId={formula_id}"))} == {
        formula_id}
    by_key = read_csv(auditor.get("/api/v1/audit/events", query_string={"businessKey": CHINESE_KEY}))
    assert {r["case id"] for r in by_key} == {refund_id}
    later = (web_engine.now() + timedelta(seconds=1)).isoformat()  # the manual clock stood still meanwhile
    assert read_csv(auditor.get("/api/v1/audit/events", query_string={"after": later, "processKey": "refund_claim"})) == []
    assert len(read_csv(auditor.get("/api/v1/audit/events", query_string={"before": later}))) == len(rows)
    assert read_csv(auditor.get("/api/v1/audit/events", query_string={"before": web_engine.now().isoformat()})) == []
    bad = auditor.get("/api/v1/audit/events?format=pdf")
    assert bad.status_code == 422 and "format" in bad.get_json()["errors"]


def test_events_export_as_xlsx_holds_text_never_formulas(as_, cases):
    refund_id, formula_id = cases
    answer = as_("owner").get("/api/v1/audit/events?format=xlsx")
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    workbook = openpyxl.load_workbook(io.BytesIO(answer.data))
    sheet = workbook["Events"]
    header, *rows = list(sheet.iter_rows())
    assert tuple(c.value for c in header) == COLUMNS
    assert all(cell.data_type != "f" for row in rows for cell in row)
    keys = {row[0].value: row[1] for row in rows}
    assert keys[refund_id].value == CHINESE_KEY
    assert keys[formula_id].value == FORMULA_KEY and keys[formula_id].data_type == "s"
    assert keys[formula_id].quotePrefix  # a spreadsheet keeps it text even when the cell is edited
    with zipfile.ZipFile(io.BytesIO(answer.data)) as package:
        sheets = [package.read(n) for n in package.namelist() if n.startswith("xl/worksheets/")]
    assert sheets and not any(b"<f>" in xml or b"<f " in xml for xml in sheets)
    assert answer.headers["X-Export-Rows"] == str(len(rows)) and "X-Export-Capped" not in answer.headers


def test_formula_starts_are_neutralised():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert neutralised(text) == "'" + text
    for value in ("RMA-1", "{\"a\": \"=b\"}", 5, None, ""):
        assert neutralised(value) == value


def test_the_cross_case_export_needs_reading_every_case(as_, cases):
    for persona in ("manager", "clerk", "shop"):
        answer = as_(persona).get("/api/v1/audit/events")
        assert answer.status_code == 403 and answer.mimetype == "application/problem+json", persona
    assert as_(None).get("/api/v1/audit/events").status_code == 401
    assert as_("admin").get("/api/v1/audit/events?format=xlsx").status_code == 200


def test_a_capped_export_says_so(as_, cases, monkeypatch):
    monkeypatch.setattr("orchestrator.audit_exports.MAX_EXPORT_ROWS", 3)
    answer = as_("auditor").get("/api/v1/audit/events")
    assert len(read_csv(answer)) == 3
    assert answer.headers["X-Export-Capped"] == "true" and answer.headers["X-Export-Rows"] == "3"


def signed_in(app, email: str):
    client = app.test_client()
    csrf = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").data).group(1).decode()
    answer = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf})
    assert answer.status_code in (200, 302), answer.data[:500]
    return client


@pytest.fixture
def people(app):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    return lambda who: signed_in(app, f"{who}@demo.loopline")


def test_pages_export_for_auditors_and_refuse_others(people, cases, monkeypatch):
    refund_id, formula_id = cases
    auditor = people("auditor")
    page = auditor.get("/audit/events?process=refund_claim&type=task_completed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "1 event matches." in html and CHINESE_KEY in html
    assert 'href="/audit/events.csv?process=refund_claim&amp;type=task_completed"' in html
    rows = read_csv(auditor.get("/audit/events.csv?process=refund_claim&type=task_completed"))
    assert [r["case id"] for r in rows] == [refund_id]
    workbook = openpyxl.load_workbook(io.BytesIO(auditor.get("/audit/events.xlsx?case=" + formula_id).data))
    assert {row[0] for row in workbook["Events"].iter_rows(min_row=2, values_only=True)} == {formula_id}
    archive, manifest = unpack(auditor.get(f"/instances/{refund_id}/audit-bundle"))
    assert manifest["exported_by"] == "auditor@demo.loopline" and "case.pdf" in archive.namelist()
    monkeypatch.setattr("orchestrator.audit_exports.MAX_EXPORT_ROWS", 3)
    assert "More than 3 events match" in auditor.get("/audit/events").get_data(as_text=True)
    # a staff member: the bundle of a case they worked on, not of others; no cross-case export
    manager = people("sales.manager")
    assert manager.get(f"/instances/{refund_id}/audit-bundle").status_code == 200
    clerk = people("customer.service")
    assert clerk.get(f"/instances/{refund_id}/audit-bundle").status_code == 404
    for path in ("/audit/events", "/audit/events.csv", "/audit/events.xlsx"):
        assert clerk.get(path).status_code == 403, path


def test_a_tampered_history_is_exported_as_found_and_named_in_the_bundle(as_, cases, web_engine):
    refund_id, formula_id = cases
    events, last_of_formula = inspect.history(web_engine, refund_id), inspect.history(web_engine, formula_id)[-1]
    with web_engine.db.transaction() as session:
        session.execute(update(HistoryEvent).where(HistoryEvent.seq == events[3].seq).values(actor="someone else"))
        session.execute(delete(HistoryEvent).where(HistoryEvent.seq == last_of_formula.seq))
    archive, manifest = unpack(as_("auditor").get(f"/api/v1/instances/{refund_id}/audit-bundle"))
    assert manifest["verification_at_export"] == {"status": "altered", "events_checked": len(events),
                                                  "first_failing_seq": events[3].seq}
    with pytest.raises(AssertionError):
        recompute_chain(archive.read("history.jsonl").decode("utf-8").splitlines())
    _archive, cut = unpack(as_("auditor").get(f"/api/v1/instances/{formula_id}/audit-bundle"))
    assert cut["verification_at_export"]["status"] == "head-mismatch"
