"""The browser modeler's server side: drafts per person, validation with the deploy's own checks (each problem on
its element), a refused deploy that changes nothing, and a fixed draft deployed as the next version that new
cases run. Staff see none of it, on the pages and the API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.draft_models import ModelDraft
from orchestrator.errors import Forbidden, NotFound
from orchestrator.models import Deployment, DeploymentResource, ProcessDefinition
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.security.test_roles import sign_in
from tests.support import inspect
from tests.web.test_pages import RETURN

OWNER = ("olivia@example.com", ("process_owner",), ())
OTHER_OWNER = ("otto@example.com", ("process_owner",), ())
STAFF = ("stan@example.com", ("staff",), ("customer_service",))
# a gateway condition of returns.bpmn, and the same condition broken (JUEL's `=` is not a comparison)
CONDITION = '${reviewDecision == "accept"}'
BROKEN = '${reviewDecision = "accept"}'
BROKEN_FLOW = "f_gw_review_decision_to_gw_review_done"
# the first task of a web-form return: its review, due a day after it opens (two in the edit)
DUE = 'id="review_return" name="Review return request" camunda:candidateGroups="${reviewGroup}" camunda:dueDate="P1D"'
NEW_DUE = DUE.replace('"P1D"', '"P2D"')


def as_actor(person: tuple) -> Actor:
    email, roles, groups = person
    return Actor(email, roles=frozenset(roles), groups=frozenset(groups))


@pytest.fixture
def site(app, web_engine):
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    return app


def counts(engine) -> tuple[int, int]:
    with engine.db.reading() as session:
        return (session.scalar(select(func.count()).select_from(Deployment)),
                session.scalar(select(func.count()).select_from(ProcessDefinition)))


def csrf_of(client, path: str) -> str:
    return re.search(rb'data-csrf="([^"]+)"', client.get(path).data).group(1).decode()


def test_drafts_are_per_person(site, web_engine):
    drafts = web_engine.model_drafts
    mine = drafts.open_deployed("returns", actor=as_actor(OWNER))
    assert (mine.file_name, mine.based_on_version, mine.process_key) == ("returns.bpmn", 1, "returns")
    assert drafts.open_deployed("returns", actor=as_actor(OWNER)).id == mine.id  # the existing draft again
    theirs = drafts.open_deployed("returns", actor=as_actor(OTHER_OWNER))
    assert theirs.id != mine.id
    assert [d.id for d in drafts.list_drafts(as_actor(OTHER_OWNER))] == [theirs.id]
    for command in (lambda: drafts.open_draft(mine.id, actor=as_actor(OTHER_OWNER)),
                    lambda: drafts.save_draft(mine.id, "<x/>", actor=as_actor(OTHER_OWNER)),
                    lambda: drafts.validate_draft(mine.id, actor=as_actor(OTHER_OWNER)),
                    lambda: drafts.deploy_draft(mine.id, actor=as_actor(OTHER_OWNER)),
                    lambda: drafts.delete_draft(mine.id, actor=as_actor(OTHER_OWNER))):
        with pytest.raises(NotFound):
            command()

    other = sign_in(site, *OTHER_OWNER)
    assert other.get(f"/modeler/drafts/{mine.id}").status_code == 404
    answer = other.post(f"/modeler/drafts/{mine.id}/save", data={"csrf_token": other.csrf, "content": "<x/>"})
    assert answer.status_code == 404
    assert drafts.open_draft(mine.id, actor=as_actor(OWNER)).content == mine.content


def test_a_broken_expression_is_pinned_to_its_element_and_the_deploy_refused_changes_nothing(site, web_engine):
    owner = sign_in(site, *OWNER)
    opened = owner.post("/modeler/open", data={"csrf_token": owner.csrf, "key": "returns", "version": "1"})
    assert opened.status_code == 302
    draft_id = int(opened.headers["Location"].rsplit("/", 1)[1])
    page = owner.get(f"/modeler/drafts/{draft_id}")
    assert page.status_code == 200 and b"vendor/modeler/modeler.min.js" in page.data
    xml = web_engine.model_drafts.open_draft(draft_id, actor=as_actor(OWNER)).content
    assert xml.count(CONDITION) == 1

    broken = {"csrf_token": owner.csrf, "content": xml.replace(CONDITION, BROKEN)}
    answer = owner.post(f"/modeler/drafts/{draft_id}/validate", data=broken)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["valid"] is False
    [problem] = body["problems"]
    assert problem["elementId"] == BROKEN_FLOW and problem["file"] == "returns.bpmn"
    assert BROKEN in problem["message"] and "'=' is not supported" in problem["message"]

    before = counts(web_engine)
    refused = owner.post(f"/modeler/drafts/{draft_id}/deploy", data=broken)
    assert refused.status_code == 422
    assert [p["elementId"] for p in refused.get_json()["problems"]] == [BROKEN_FLOW]
    assert counts(web_engine) == before
    assert web_engine.model_drafts.open_draft(draft_id, actor=as_actor(OWNER)).content == broken["content"]


def test_a_fixed_draft_with_a_new_due_date_deploys_as_v2_and_a_case_on_v2_runs_with_it(site, web_engine):
    owner = as_actor(OWNER)
    draft = web_engine.model_drafts.open_deployed("returns", actor=owner)
    assert draft.content.count(DUE) == 1
    web_engine.model_drafts.save_draft(draft.id, draft.content.replace(DUE, NEW_DUE), actor=owner)
    assert web_engine.model_drafts.validate_draft(draft.id, actor=owner) == []

    [deployed] = web_engine.model_drafts.deploy_draft(draft.id, actor=owner)
    assert (deployed.key, deployed.version, deployed.new) == ("returns", 2, True)
    [kept] = web_engine.model_drafts.list_drafts(owner)  # the deployed draft stays, now a draft of v2
    assert (kept.id, kept.based_on, kept.based_on_version) == (draft.id, deployed.id, 2)
    assert web_engine.model_drafts.open_deployed("returns", actor=owner).id == draft.id
    with web_engine.db.reading() as session:  # the translations of v1 came along
        names = set(session.scalars(select(DeploymentResource.name).where(
            DeploymentResource.deployment_id == deployed.deployment_id)))
    assert {"returns.bpmn", "returns.zh.json", "returns_routing.dmn"} <= names

    due = {}
    for version in (1, 2):
        case = web_engine.instances.start_instance("returns", actor=ADMIN, version=version,
                                                   variables={**RETURN, "rmaNumber": f"RMA-MOD-{version}"})
        [task] = inspect.open_tasks(web_engine, case.id)
        assert task.element_id == "review_return"
        due[version] = (task.due_at - task.created_at).total_seconds()
    assert due == {1: 24 * 3600, 2: 48 * 3600}


def test_a_new_process_from_the_template_deploys(site, web_engine):
    owner = sign_in(site, *OWNER)
    made = owner.post("/modeler/new", data={"csrf_token": owner.csrf, "key": "warranty_claim",
                                            "name": "Warranty claim"})
    assert made.status_code == 302
    draft_id = int(made.headers["Location"].rsplit("/", 1)[1])
    csrf = csrf_of(owner, f"/modeler/drafts/{draft_id}")
    answer = owner.post(f"/modeler/drafts/{draft_id}/deploy", data={"csrf_token": csrf})
    assert answer.status_code == 200
    assert [(d["key"], d["version"]) for d in answer.get_json()["deployed"]] == [("warranty_claim", 1)]
    landing = owner.get("/modeler").data.decode()
    assert "warranty_claim" in landing and f"/modeler/drafts/{draft_id}" in landing  # the draft of v1 now
    # the template's start form: the new process can be started from the New menu at once
    assert "/new/warranty_claim" in owner.get("/inbox").data.decode()
    started = owner.post("/new/warranty_claim", data={"csrf_token": owner.csrf,
                                                                   "caseReference": "WC-1"})
    assert started.status_code == 302


def test_the_api_keeps_drafts_per_person_and_answers_422_for_bad_input(site, as_, web_engine):
    api = as_("admin")
    made = api.post("/api/v1/modeler/drafts", json={"source": "deployed", "key": "returns"})
    assert made.status_code == 201
    draft = made.get_json()
    assert (draft["fileName"], draft["basedOnVersion"]) == ("returns.bpmn", 1)
    path = f"/api/v1/modeler/drafts/{draft['id']}"
    broken = draft["content"].replace(CONDITION, BROKEN)
    assert api.put(path, json={"content": broken}).status_code == 200
    checked = api.post(f"{path}/validate").get_json()
    assert checked["valid"] is False and checked["problems"][0]["elementId"] == BROKEN_FLOW
    before = counts(web_engine)
    refused = api.post(f"{path}/deploy")
    assert refused.status_code == 422 and refused.get_json()["problems"][0]["elementId"] == BROKEN_FLOW
    assert counts(web_engine) == before
    assert api.put(path, json={"content": draft["content"]}).status_code == 200
    deployed = api.post(f"{path}/deploy")
    assert deployed.status_code == 201 and deployed.get_json()[0]["new"] is False  # unchanged: stays v1
    assert api.get(path).status_code == 200  # the draft stays its owner's
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404

    assert api.post("/api/v1/modeler/drafts", json={"source": "template", "key": "x"}).status_code == 422
    assert api.post("/api/v1/modeler/drafts", json={"source": "elsewhere", "key": "x"}).status_code == 422
    assert api.post("/api/v1/modeler/drafts", json={"source": "deployed", "key": "nope"}).status_code == 404
    template = api.post("/api/v1/modeler/drafts", json={"source": "template", "key": "a b", "name": "A"})
    assert template.status_code == 422
    theirs = web_engine.model_drafts.open_deployed("returns", actor=as_actor(OTHER_OWNER))
    assert api.get(f"/api/v1/modeler/drafts/{theirs.id}").status_code == 404
    assert api.delete(f"/api/v1/modeler/drafts/{theirs.id}").status_code == 404


@pytest.mark.parametrize("body", [{"source": "template", "key": "fresh_process", "name": "A fresh process"},
                                  {"source": "deployed", "key": "returns"},
                                  {"source": "decision", "key": "return_routing"}])
def test_a_created_draft_is_there_for_its_creator_right_after_and_after_its_deploy(site, as_, body):
    """What a POST answers 201 with is the caller's draft: read, saved, validated and deployed by its id with the
    same API key, and still there after the deploy (the conformance run's stateful phase checks it)."""
    api = as_("admin")
    made = api.post("/api/v1/modeler/drafts", json=body)
    assert made.status_code == 201, made.get_data(as_text=True)
    draft = made.get_json()
    path = f"/api/v1/modeler/drafts/{draft['id']}"
    assert api.get(path).status_code == 200
    assert draft["id"] in [d["id"] for d in api.get("/api/v1/modeler/drafts").get_json()]
    assert api.put(path, json={"content": draft["content"]}).status_code == 200
    assert api.post(f"{path}/validate").get_json() == {"valid": True, "problems": []}
    assert api.post(f"{path}/deploy").status_code == 201
    for answer in (api.get(path), api.put(path, json={"content": draft["content"]}), api.post(f"{path}/validate")):
        assert answer.status_code == 200, answer.get_data(as_text=True)
    assert api.get(path).get_json()["owner"] == draft["owner"]


def test_staff_see_no_modeler_and_the_api_answers_403(site, as_, web_engine):
    theirs = web_engine.model_drafts.open_deployed("returns", actor=as_actor(OWNER))
    staff = sign_in(site, *STAFF)
    for path in ("/modeler", f"/modeler/drafts/{theirs.id}", "/modeler/open?key=returns"):
        assert staff.get(path).status_code == 403, path
    for path, data in (("/modeler/new", {"key": "k", "name": "K"}), ("/modeler/open", {"key": "returns"}),
                       (f"/modeler/drafts/{theirs.id}/save", {"content": "<x/>"}),
                       (f"/modeler/drafts/{theirs.id}/validate", {}), (f"/modeler/drafts/{theirs.id}/deploy", {}),
                       (f"/modeler/drafts/{theirs.id}/delete", {})):
        assert staff.post(path, data={"csrf_token": staff.csrf, **data}).status_code == 403, path
    clerk = as_("clerk")
    assert clerk.get("/api/v1/modeler/drafts").status_code == 403
    assert clerk.post("/api/v1/modeler/drafts", json={"source": "deployed", "key": "returns"}).status_code == 403
    assert clerk.get(f"/api/v1/modeler/drafts/{theirs.id}").status_code == 403
    assert clerk.put(f"/api/v1/modeler/drafts/{theirs.id}", json={"content": "<x/>"}).status_code == 403
    assert clerk.post(f"/api/v1/modeler/drafts/{theirs.id}/validate").status_code == 403
    assert clerk.post(f"/api/v1/modeler/drafts/{theirs.id}/deploy").status_code == 403
    assert clerk.delete(f"/api/v1/modeler/drafts/{theirs.id}").status_code == 403
    with pytest.raises(Forbidden):
        web_engine.model_drafts.list_drafts(as_actor(STAFF))
    with web_engine.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ModelDraft)) == 1


def test_a_decision_table_draft_deploys_with_its_translations(site, web_engine):
    owner = as_actor(OWNER)
    draft = web_engine.model_drafts.open_decision("return_routing", actor=owner)
    assert (draft.file_name, draft.kind) == ("returns_routing.dmn", "dmn")
    assert web_engine.model_drafts.validate_draft(draft.id, actor=owner) == []
    edited = draft.content.replace("Route a return", "Route a returned item")
    assert edited != draft.content
    web_engine.model_drafts.save_draft(draft.id, edited, actor=owner)
    before = counts(web_engine)
    assert web_engine.model_drafts.deploy_draft(draft.id, actor=owner) == []  # decisions only: no process version
    after = counts(web_engine)
    assert (after[0], after[1]) == (before[0] + 1, before[1])
    with web_engine.db.reading() as session:
        latest = session.scalar(select(func.max(DeploymentResource.deployment_id)))
        names = set(session.scalars(select(DeploymentResource.name).where(
            DeploymentResource.deployment_id == latest)))
    assert names == {"returns_routing.dmn", "returns_routing.zh.json"}
