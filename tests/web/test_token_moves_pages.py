"""Moving a case's token from the API and from the case page's "Move the case" form: 200 with the history event,
403/404/409/422 with nothing changed; on the page every refusal is flashed, never a 500."""

from __future__ import annotations

import pytest

from orchestrator.definitions import ModelFile
from tests.conftest import ADMIN
from tests.engine.test_token_moves import TWO_STEPS_BPMN
from tests.security.test_roles import sign_in
from tests.support import inspect
from tests.web.test_case_operations import OWNER, STAFF


@pytest.fixture
def two_steps(web_engine):
    web_engine.deployments.deploy([ModelFile("two_steps.bpmn", TWO_STEPS_BPMN)], actor=ADMIN)
    return web_engine


def start(engine) -> str:
    return engine.instances.start_instance("two_steps", actor=ADMIN, variables={"claim": 7}).id


def open_steps(engine, instance_id):
    return [t.element_id for t in inspect.open_tasks(engine, instance_id)]


def test_the_api_moves_a_token_and_refuses_with_403_404_409_422(two_steps, as_):
    instance_id = start(two_steps)
    path = f"/api/v1/instances/{instance_id}/move-token"
    skip = {"fromElement": "check", "kind": "skip", "comment": "Checked on the phone"}
    version = inspect.instance(two_steps, instance_id).version

    assert as_("clerk").post(path, json=skip).status_code == 403
    assert as_("auditor").post(path, json=skip).status_code == 403
    assert as_("owner").post("/api/v1/instances/no-such-case/move-token", json=skip).status_code == 404
    blank = as_("owner").post(path, json={**skip, "comment": "  "})
    assert blank.status_code == 422 and "comment" in blank.get_json()["errors"]
    assert as_("owner").post(path, json={**skip, "kind": "jump"}).status_code == 422
    unknown = as_("owner").post(path, json={**skip, "fromElement": "nowhere"})
    assert unknown.status_code == 422 and "nowhere" in str(unknown.get_json())
    assert as_("owner").post(path, json={**skip, "fromElement": "approve"}).status_code == 409  # not waiting there
    never = as_("owner").post(path, json={"fromElement": "check", "toElement": "approve", "kind": "back",
                                          "comment": "why"})
    assert never.status_code == 409 and "approve" in never.get_json()["detail"]
    assert inspect.instance(two_steps, instance_id).version == version  # nothing changed

    answer = as_("owner").post(path, json=skip)
    assert answer.status_code == 200, answer.get_json()
    assert open_steps(two_steps, instance_id) == []  # waits in the timer now
    history = as_("owner").get(f"/api/v1/instances/{instance_id}/history").get_json()
    [moved] = [e for e in history if e["type"] == "token_moved"]
    assert moved["actor"].endswith("owner") and moved["payload"] == {
        "from": "check", "to": None, "kind": "skip", "comment": "Checked on the phone"}

    two_steps.instances.cancel_instance(instance_id, actor=ADMIN, reason="test")
    assert as_("owner").post(path, json={**skip, "fromElement": "cool_off"}).status_code == 409


def test_the_case_page_offers_skip_and_go_back_and_flashes_refusals(app, two_steps):
    instance_id = start(two_steps)
    two_steps.case_repair.move_token(instance_id, _move("check", None, "first"), actor=ADMIN)
    two_steps.case_repair.move_token(instance_id, _move("cool_off", None, "second"), actor=ADMIN)
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/instances/{instance_id}").data.decode()
    card = page.split('id="move-case"')[1].split("</details>")[0]
    assert "Skip this step" in card and 'value="approve"' in card
    assert '<option value="check">Check the claim</option>' in card  # a completed step, by name

    def post(**data):
        return owner.post(f"/instances/{instance_id}/move-token", data={"csrf_token": owner.csrf, **data},
                          follow_redirects=True)

    refused = post(from_element="approve", kind="back", to_element="check", comment=" ")
    assert refused.status_code == 200 and "Say why the case is moved; it was not moved." in refused.data.decode()
    never = post(from_element="approve", kind="back", to_element="done", comment="why")
    assert never.status_code == 200 and "the case has not completed &#39;done&#39;" in never.data.decode()
    unknown = post(from_element="approve", kind="back", to_element="nowhere", comment="why")
    assert unknown.status_code == 200 and "The case was not moved: &#39;nowhere&#39;" in unknown.data.decode()
    assert open_steps(two_steps, instance_id) == ["approve"]

    moved = post(from_element="approve", kind="back", to_element="check", comment="Check it again")
    assert moved.status_code == 200 and "The case went back to the chosen step." in moved.data.decode()
    assert open_steps(two_steps, instance_id) == ["check"]
    assert "case moved to another step by hand" in moved.data.decode()  # the timeline's label

    staff = sign_in(app, *STAFF)
    assert 'id="move-case"' not in staff.get(f"/instances/{instance_id}").data.decode()
    forbidden = staff.post(f"/instances/{instance_id}/move-token",
                           data={"csrf_token": staff.csrf, "from_element": "check", "kind": "skip", "comment": "x"})
    assert forbidden.status_code == 403 and open_steps(two_steps, instance_id) == ["check"]
    no_csrf = owner.post(f"/instances/{instance_id}/move-token",
                         data={"from_element": "check", "kind": "skip", "comment": "x"})
    assert no_csrf.status_code == 400 and open_steps(two_steps, instance_id) == ["check"]


def _move(source, target, comment):
    from orchestrator.token_moves import TokenMove

    return TokenMove(source, target, comment)
