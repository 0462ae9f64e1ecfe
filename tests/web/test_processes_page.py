"""The process owner's Processes pages and API: every process with its versions and their cases counted by
status, a version's diagram and files, the changes between two versions, and a case started on an older
version. Staff are refused at every door."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import event

from orchestrator.actors import Actor
from orchestrator.errors import Forbidden
from orchestrator.models import ProcessDefinition, ProcessInstance
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.support import inspect
from tests.web.test_pages import RETURN, signed_in
from web.auth.demo import seed_demo_users

RENAMED = ('name="Review return request"', 'name="Review the return request"')
DUE = ('camunda:candidateGroups="warehouse" camunda:dueDate="PT24H"',
       'camunda:candidateGroups="warehouse" camunda:dueDate="PT48H"')


def edited_models(target: Path) -> Path:
    """A copy of bpmn/ whose returns model has a task renamed and a user task's due date changed."""
    shutil.copytree(REPO_ROOT / "bpmn", target)
    model = target / "returns.bpmn"
    text = model.read_text(encoding="utf-8")
    assert text.count(RENAMED[0]) == 1 and text.count(DUE[0]) == 1
    model.write_text(text.replace(*RENAMED).replace(*DUE), encoding="utf-8")
    return target


def start_return(engine, rma: str, version: int | None = None) -> str:
    return engine.instances.start_instance("returns", actor=ADMIN, variables={**RETURN, "rmaNumber": rma},
                                           version=version).id


@pytest.fixture
def site(app, web_engine, tmp_path, ledger):
    """bpmn/ deployed, then again with returns edited (returns v1 and v2); cases on both versions in each
    status, and refund claims: one completed, one stopped at an incident."""
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    deployed = web_engine.deployments.deploy_directory(edited_models(tmp_path / "bpmn"), actor=ADMIN)
    assert [(d.key, d.version) for d in deployed if d.new] == [("returns", 2)]
    cases = {"v1": [start_return(web_engine, f"RMA-V1-{n}", version=1) for n in range(4)],
             "v2": [start_return(web_engine, f"RMA-V2-{n}") for n in range(2)]}
    web_engine.instances.cancel_instance(cases["v1"][0], actor=ADMIN, reason="withdrawn")
    web_engine.instances.suspend_instance(cases["v2"][0], actor=ADMIN)
    completed = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RC-1",
                                                    variables={"amount": 10, "customer": "Ada"}).id
    assert inspect.run_pending_jobs(web_engine, completed) == ["completed"]
    web_engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RC-1")
    assert inspect.instance(web_engine, completed).status == "completed"
    stuck = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RC-2",
                                                variables={"amount": 10, "customer": "Ada"}).id
    ledger.script("test.refund", "business:E_NOT_CAUGHT")
    assert inspect.run_pending_jobs(web_engine, stuck) == ["incident"]
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    return app


def counts_of(page: str, key: str, version: int) -> dict[str, str]:
    section = re.search(rf'id="process-{key}".*?</section>', page, re.S).group(0)
    row = re.search(rf'<tr data-version="{version}">.*?</tr>', section, re.S).group(0)
    return {name: re.sub(r"<[^>]+>", "", value).strip()
            for name, value in re.findall(r'data-count="(\w+)">(.*?)</td>', row, re.S)}


def test_the_counts_per_version_match_the_cases_and_never_read_a_workflow_state(site, web_engine):
    owner = signed_in(site, "owner")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa_engine = web_engine.db.engine
    event.listen(sa_engine, "before_cursor_execute", record)
    try:
        answer = owner.get("/processes")
    finally:
        event.remove(sa_engine, "before_cursor_execute", record)
    page = answer.data.decode()
    assert answer.status_code == 200
    assert counts_of(page, "returns", 1) == {"running": "3", "suspended": "0", "completed": "0", "cancelled": "1",
                                             "incidents": "0"}
    assert counts_of(page, "returns", 2) == {"running": "1", "suspended": "1", "completed": "0", "cancelled": "0",
                                             "incidents": "0"}
    assert counts_of(page, "refund_claim", 1) == {"running": "1", "suspended": "0", "completed": "1",
                                                  "cancelled": "0", "incidents": "1"}
    assert "<td>admin</td>" in page  # who deployed
    assert 'href="/processes/returns/versions/2"' in page and "/processes/returns/diff?from=1&amp;to=2" in page
    counted = [s for s in statements if "process_instance" in s]
    assert counted and all("GROUP BY" in s and "process_instance.state" not in s for s in counted), counted

    versions = owner.get("/api/v1/process-definitions/returns/versions")
    assert versions.status_code == 200
    assert [(v["version"], v["cases"]["running"], v["cases"]["cancelled"]) for v in versions.get_json()] == [
        (2, 1, 0), (1, 3, 1)]
    assert versions.get_json()[0]["deployedBy"] == "admin" and versions.get_json()[0]["deploymentName"] == "returns.bpmn"


def test_staff_are_refused_on_every_page_and_api_door_and_auditors_read_the_api(site, web_engine, as_):
    clerk = signed_in(site, "customer.service")
    for path in ("/processes", "/processes/returns/versions/1", "/processes/returns/versions/1/files/returns.bpmn",
                 "/processes/returns/diff?from=1&to=2"):
        assert clerk.get(path).status_code == 403, path
    for path in ("/api/v1/process-definitions/returns/versions",
                 "/api/v1/process-definitions/returns/versions/1/files/returns.bpmn",
                 "/api/v1/process-definitions/returns/diff?from=1&to=2"):
        assert as_("clerk").get(path).status_code == 403, path
        assert as_("auditor").get(path).status_code == 200, path
        assert as_(None).get(path).status_code == 401, path
    assert signed_in(site, "auditor").get("/processes").status_code == 403  # the workspace is the owners'
    with pytest.raises(Forbidden):  # the engine refuses whatever door is used
        web_engine.process_catalog.list_processes(Actor("stan", roles=frozenset({"staff"})))


def test_unknown_keys_versions_and_files_are_404_and_bad_diff_arguments_422(site, as_):
    owner = signed_in(site, "owner")
    assert owner.get("/processes/nope/versions/1").status_code == 404
    assert owner.get("/processes/returns/versions/9").status_code == 404
    assert owner.get("/processes/returns/versions/1/files/nope.bpmn").status_code == 404
    assert owner.get("/processes/returns/diff?from=1&to=9").status_code == 404
    assert owner.get("/processes/returns/diff?from=1&to=1").status_code == 422
    api = as_("owner")
    assert api.get("/api/v1/process-definitions/nope/versions").status_code == 404
    assert api.get("/api/v1/process-definitions/returns/versions/9/files/returns.bpmn").status_code == 404
    assert api.get("/api/v1/process-definitions/returns/versions/1/files/recall.bpmn").status_code == 404
    assert api.get(f"/api/v1/process-definitions/returns/versions/{10**30}/files/returns.bpmn").status_code == 404
    assert owner.get(f"/processes/returns/versions/{10**30}").status_code == 404
    assert api.get("/api/v1/process-definitions/returns/diff?from=1&to=9").status_code == 404
    for query in ("from=1", "from=1&to=1", "from=x&to=2", "from=0&to=2"):
        answer = api.get(f"/api/v1/process-definitions/returns/diff?{query}")
        assert answer.status_code == 422, query
        assert answer.content_type == "application/problem+json"


def test_a_version_page_shows_its_diagram_counts_and_files_which_download_as_deployed(site, web_engine):
    owner = signed_in(site, "owner")
    page = owner.get("/processes/returns/versions/1").data.decode()
    assert 'id="diagram"' in page and "bpmn-navigated-viewer.production.min.js" in page
    assert re.search(r'data-count="running">3<', page) and re.search(r'data-count="cancelled">1<', page)
    assert "/new/returns" in page and 'name="version" value="1"' in page  # start a case on this version
    assert "/instances?process=returns" in page
    names = re.findall(r'href="/processes/returns/versions/1/files/([^"]+)"', page)
    assert "returns.bpmn" in names and "returns.zh.json" in names and "returns_routing.dmn" in names
    for name in ("returns.bpmn", "returns.zh.json", "returns_routing.dmn"):
        answer = owner.get(f"/processes/returns/versions/1/files/{name}")
        assert answer.status_code == 200 and answer.data == (REPO_ROOT / "bpmn" / name).read_bytes(), name
        assert answer.headers["Content-Disposition"].startswith("attachment")
    edited = owner.get("/processes/returns/versions/2/files/returns.bpmn").data.decode()
    assert RENAMED[1] in edited and RENAMED[0] not in edited
    api = signed_in(site, "owner").get("/api/v1/process-definitions/returns/versions/1/files/returns.zh.json")
    assert api.status_code == 200 and api.data == (REPO_ROOT / "bpmn" / "returns.zh.json").read_bytes()
    assert api.content_type.startswith("application/json")


def test_the_diff_page_and_api_list_the_changes(site, as_):
    owner = signed_in(site, "owner")
    answer = owner.get("/processes/returns/diff?from=1&to=2")
    page = answer.data.decode()
    assert answer.status_code == 200
    rows = re.findall(r'<tr class="diff-row diff-row-(\w+)" data-element="([^"]+)">', page)
    assert rows == [("changed", "receive_parcel"), ("changed", "review_return")]
    assert "Review return request" in page and "Review the return request" in page
    assert "camunda:dueDate" in page and "PT24H" in page and "PT48H" in page
    assert 'id="diagram-old"' in page and 'id="diagram-new"' in page and "process-diff.js" in page
    assert '"changed": ["receive_parcel", "review_return"]' in page  # the markers each diagram gets
    assert "returns.bpmn" in page  # among the files that differ

    diff = as_("owner").get("/api/v1/process-definitions/returns/diff?from=1&to=2").get_json()
    assert [(c["id"], c["change"]) for c in diff["elements"]] == [("receive_parcel", "changed"),
                                                                  ("review_return", "changed")]
    assert diff["elements"][1]["details"] == [{"what": "name", "before": "Review return request",
                                               "after": "Review the return request"}]
    assert diff["flows"] == [] and {"name": "returns.bpmn", "change": "changed"} in diff["files"]
    assert (diff["fromVersion"], diff["toVersion"]) == (1, 2)


def test_a_case_started_on_version_1_while_version_2_exists_runs_on_version_1(site, web_engine):
    owner = signed_in(site, "owner")
    form = owner.get("/new/returns?version=1").data.decode()
    assert 'name="version" value="1"' in form and "version 1" in form
    answer = owner.post("/new/returns", data={**RETURN, "rmaNumber": "RMA-ON-V1", "version": "1",
                                              "csrf_token": owner.csrf,
                                              "attachments": (io.BytesIO(b"a photo"), "dent.png")},
                        content_type="multipart/form-data")
    assert answer.status_code in (200, 302), answer.data.decode()[:2000]
    latest = owner.post("/new/returns", data={**RETURN, "rmaNumber": "RMA-ON-V2", "csrf_token": owner.csrf})
    assert latest.status_code in (200, 302)
    with web_engine.db.reading() as session:
        started = dict(session.query(ProcessInstance.business_key, ProcessDefinition.version).join(
            ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id).filter(
            ProcessInstance.business_key.in_(["RMA-ON-V1", "RMA-ON-V2"])).all())
    assert started == {"RMA-ON-V1": 1, "RMA-ON-V2": 2}
    with web_engine.db.reading() as session:
        on_v1 = session.query(ProcessInstance).filter(ProcessInstance.business_key == "RMA-ON-V1").one()
        assert [file["filename"] for file in on_v1.variables["attachments"]] == ["dent.png"]  # its files came along

    refused = owner.post("/new/returns", data={**RETURN, "rmaNumber": "", "version": "1", "csrf_token": owner.csrf})
    assert refused.status_code == 422 and 'name="version" value="1"' in refused.data.decode()
    assert owner.get("/new/returns?version=9").status_code == 404
