"""Case operations for process owners: a stuck case's data edited with a reason (engine, API, page), then retried
so the case goes on; cancel, suspend and resume from the case page; a waited-for message delivered by hand.
Staff see none of it and are refused at every door."""

from __future__ import annotations

import pytest

from orchestrator.actors import Actor
from orchestrator.case_repair import VariableEdit
from orchestrator.definitions import ModelFile
from orchestrator.errors import Conflict, Forbidden, InvalidInput, ProcessError
from orchestrator.models import JobStatus
from tests.conftest import ADMIN
from tests.security.test_roles import sign_in
from tests.support import inspect

# A service task e-mails the customer (the real notify.email connector, outbox backend): a bad address is a
# business error no boundary event catches, so the case stops at an incident that a retry alone cannot clear.
TELL_CUSTOMER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="tell_defs" targetNamespace="http://loopline.dev/test">
  <bpmn:process id="tell_customer" name="Tell the customer" isExecutable="true">
    <bpmn:startEvent id="opened" name="Opened"><bpmn:outgoing>t1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="tell" name="Tell customer" camunda:type="external" camunda:topic="notify.email">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="to">${customerEmail}</camunda:inputParameter>
        <camunda:inputParameter name="name">${customerName}</camunda:inputParameter>
        <camunda:inputParameter name="template">return_received</camunda:inputParameter>
        <camunda:inputParameter name="variables"><camunda:map>
          <camunda:entry key="name">${customerName}</camunda:entry>
          <camunda:entry key="rmaNumber">${rmaNumber}</camunda:entry>
        </camunda:map></camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>t1</bpmn:incoming><bpmn:outgoing>t2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="follow_up" name="Follow up" camunda:candidateGroups="customer_service">
      <bpmn:extensionElements><camunda:formData>
        <camunda:formField id="customerEmail" label="Customer e-mail" type="string" />
      </camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>t2</bpmn:incoming><bpmn:outgoing>t3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="done" name="Done"><bpmn:incoming>t3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="t1" sourceRef="opened" targetRef="tell" />
    <bpmn:sequenceFlow id="t2" sourceRef="tell" targetRef="follow_up" />
    <bpmn:sequenceFlow id="t3" sourceRef="follow_up" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""
BAD_EMAIL, GOOD_EMAIL = "grace(at)example", "grace@example.com"
OWNER = ("olivia@example.com", ("process_owner",), ())
STAFF = ("stan@example.com", ("staff",), ("customer_service",))


def as_actor(person: tuple) -> Actor:
    email, roles, groups = person
    return Actor(email, roles=frozenset(roles), groups=frozenset(groups))


def deploy_tell_customer(engine) -> None:
    engine.deployments.deploy([ModelFile("tell_customer.bpmn", TELL_CUSTOMER_BPMN)], actor=ADMIN)


def stuck_case(engine, actor=ADMIN, business_key: str = "RMA-STUCK-1") -> str:
    """A case stopped at an incident: its e-mail job failed on the customer's bad address."""
    row = engine.instances.start_instance("tell_customer", actor=actor, business_key=business_key, variables={
        "customerEmail": BAD_EMAIL, "customerName": "Grace Hopper", "rmaNumber": business_key, "oldNote": "-"})
    assert inspect.run_pending_jobs(engine, row.id) == ["incident"]
    return row.id


def events(engine, instance_id: str, type_: str):
    return [e for e in inspect.history(engine, instance_id) if e.type == type_]


@pytest.fixture
def tell(web_engine):
    deploy_tell_customer(web_engine)
    return web_engine


# --- the engine command ---------------------------------------------------------------------------------------

def test_an_edit_is_recorded_with_old_and_new_values_comment_and_actor_and_the_retry_goes_on(tell):
    instance_id = stuck_case(tell)
    owner = as_actor(OWNER)
    tell.case_repair.edit_variables(instance_id, VariableEdit(
        "Customer phoned: the address had a typo", {"customerEmail": GOOD_EMAIL, "callbackNote": "called 10:05"},
        remove=("oldNote",)), actor=owner)

    [edited] = events(tell, instance_id, "variables_edited")
    assert edited.actor == owner.name
    assert edited.payload["comment"] == "Customer phoned: the address had a typo"
    assert edited.payload["variables"] == [
        {"name": "customerEmail", "change": "changed", "old": BAD_EMAIL, "new": GOOD_EMAIL},
        {"name": "callbackNote", "change": "added", "new": "called 10:05"},
        {"name": "oldNote", "change": "removed", "old": "-"}]
    [job] = inspect.jobs(tell, instance_id)
    assert edited.payload["jobs_updated"] == [job.id] and job.input["to"] == GOOD_EMAIL
    state = events(tell, instance_id, "state_recorded")[-1]  # the write path records the new state after it
    assert state.seq == edited.seq + 1
    assert state.payload == {"waiting": ["tell"], "set": {"customerEmail": GOOD_EMAIL, "callbackNote": "called 10:05"},
                             "unset": ["oldNote"]}
    variables = inspect.instance(tell, instance_id).variables
    assert variables["customerEmail"] == GOOD_EMAIL and "oldNote" not in variables

    # the job's input needs rmaNumber: removing it is refused, naming the step, and changes nothing
    version = inspect.instance(tell, instance_id).version
    with pytest.raises(ProcessError, match="'tell'.*rmaNumber"):
        tell.case_repair.edit_variables(instance_id, VariableEdit("not needed?", remove=("rmaNumber",)), actor=owner)
    assert inspect.instance(tell, instance_id).version == version

    [incident] = tell.queries.open_incidents(ADMIN, instance_id=instance_id)
    tell.jobs.retry_incident(incident.id, actor=owner)
    assert inspect.run_pending_jobs(tell, instance_id) == ["completed"]
    assert [t.element_id for t in inspect.open_tasks(tell, instance_id)] == ["follow_up"]
    assert inspect.instance(tell, instance_id).variables["customerEmail"] == GOOD_EMAIL  # handed on to the next step


def test_a_blank_comment_or_a_bad_value_is_refused_and_nothing_changes(tell):
    instance_id = stuck_case(tell)
    before = (inspect.instance(tell, instance_id).version, len(inspect.history(tell, instance_id)))
    refused = {
        "comment": VariableEdit("   ", {"customerEmail": GOOD_EMAIL}),
        "values.1bad": VariableEdit("why", {"1bad": 1}),
        "values.amount": VariableEdit("why", {"amount": float("nan")}),
        "values.customerName": VariableEdit("why", {"customerName": {"\ud800": "lone surrogate"}}),
        "remove.nothere": VariableEdit("why", remove=("nothere",)),
        "values": VariableEdit("why", {"customerEmail": BAD_EMAIL}),  # as it is already
    }
    for field, edit in refused.items():
        with pytest.raises(InvalidInput) as caught:
            tell.case_repair.edit_variables(instance_id, edit, actor=ADMIN)
        assert field in caught.value.errors, (field, caught.value.errors)
    with pytest.raises(InvalidInput) as caught:
        tell.case_repair.edit_variables(instance_id, VariableEdit("", {}), actor=ADMIN)
    assert caught.value.errors["comment"].startswith("is required")
    assert (inspect.instance(tell, instance_id).version, len(inspect.history(tell, instance_id))) == before
    assert inspect.jobs(tell, instance_id)[0].input["to"] == BAD_EMAIL
    with pytest.raises(Forbidden):
        tell.case_repair.edit_variables(instance_id, VariableEdit("why", {"x": 1}),
                                        actor=as_actor(STAFF))


# --- the API --------------------------------------------------------------------------------------------------

def test_the_api_edits_and_refuses_with_403_404_409_422(tell, as_):
    instance_id = stuck_case(tell)
    path = f"/api/v1/instances/{instance_id}/variables"
    body = {"comment": "Address corrected", "values": {"customerEmail": GOOD_EMAIL}}

    assert as_("clerk").patch(path, json=body).status_code == 403
    assert as_("auditor").patch(path, json=body).status_code == 403
    blank = as_("owner").patch(path, json={**body, "comment": "  "})
    assert blank.status_code == 422 and "comment" in blank.get_json()["errors"]
    assert as_("owner").patch(path, json={"values": {"customerEmail": GOOD_EMAIL}}).status_code == 422
    assert as_("owner").patch(path, json={**body, "values": {"bad-name": 1}}).status_code == 422
    assert as_("owner").patch("/api/v1/instances/no-such-case/variables", json=body).status_code == 404
    assert events(tell, instance_id, "variables_edited") == []

    answer = as_("owner").patch(path, json=body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["variables"]["customerEmail"] == GOOD_EMAIL
    history = as_("owner").get(f"/api/v1/instances/{instance_id}/history").get_json()
    [edited] = [e for e in history if e["type"] == "variables_edited"]
    assert edited["actor"].endswith("owner") and edited["payload"]["comment"] == "Address corrected"
    assert edited["payload"]["variables"] == [{"name": "customerEmail", "change": "changed", "old": BAD_EMAIL,
                                               "new": GOOD_EMAIL}]

    tell.instances.suspend_instance(instance_id, actor=ADMIN)  # a suspended case may be repaired too
    suspended = as_("owner").patch(path, json={"comment": "Name as on the order", "values": {"customerName": "G. Hopper"}})
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"
    tell.instances.cancel_instance(instance_id, actor=ADMIN, reason="test")
    finished = as_("owner").patch(path, json={**body, "values": {"customerEmail": "x@example.com"}})
    assert finished.status_code == 409
    with pytest.raises(Conflict):
        tell.case_repair.edit_variables(instance_id, VariableEdit("why", {"x": 1}), actor=ADMIN)


@pytest.mark.parametrize("body", [
    '{"comment": "c", "values": {"customer": "Ada \\ud800"}}',
    '{"comment": "c", "values": {"customer": {"\\udfff": 1}}}',
    '{"comment": "c", "values": {"customer": ["ok", {"a": "\\ud83d"}]}}',
    '{"comment": "why \\ud800", "values": {"customer": "Grace"}}',
])
def test_a_lone_surrogate_is_refused_at_the_door_and_nothing_changes(tell, as_, body):
    """JSON's `\\ud800` escape reads as a lone surrogate, which no database takes as UTF-8 text: the edit of a
    case waiting for a message (whose subscription is re-keyed by the new values) once answered 500. Every API
    body holding one is now refused before any view runs (the engine refuses it too, naming the field)."""
    instance_id = tell.instances.start_instance("shop_return", actor=ADMIN, business_key="RMA-SURROGATE",
                                                variables={"customer": "Ada"}).id
    before = (inspect.instance(tell, instance_id).version, len(inspect.history(tell, instance_id)))
    answer = as_("owner").patch(f"/api/v1/instances/{instance_id}/variables", data=body,
                                headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "surrogate" in answer.get_json()["errors"]["_body"]
    assert (inspect.instance(tell, instance_id).version, len(inspect.history(tell, instance_id))) == before
    fixed = as_("owner").patch(f"/api/v1/instances/{instance_id}/variables",
                               json={"comment": "Name as on the order", "values": {"customer": "Grace"}})
    assert fixed.status_code == 200, fixed.get_data(as_text=True)


# --- the case page --------------------------------------------------------------------------------------------

def test_a_process_owner_repairs_a_stuck_case_on_its_page_and_it_goes_on(app, tell):
    instance_id = stuck_case(tell)
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/instances/{instance_id}").data.decode()
    assert 'href="#repair"' in page and "correct the data first, then retry" in page
    assert 'name="value.customerEmail"' in page and BAD_EMAIL in page
    assert "Customer e-mail" in page  # the model's label for the variable

    form = {"csrf_token": owner.csrf, "name": ["customerEmail", "customerName", "rmaNumber", "oldNote"],
            "kind.customerEmail": "text", "value.customerEmail": GOOD_EMAIL,
            "original.customerEmail": f"text:{BAD_EMAIL}",
            "kind.customerName": "text", "value.customerName": "Grace Hopper", "original.customerName": "text:Grace Hopper",
            "kind.rmaNumber": "text", "value.rmaNumber": "RMA-STUCK-1", "original.rmaNumber": "text:RMA-STUCK-1",
            "kind.oldNote": "text", "value.oldNote": "-", "original.oldNote": "text:-", "remove.oldNote": "1",
            "new_name": "priority", "new_kind": "number", "new_value": "2",
            "comment": "Customer phoned with the right address", "retry": "1"}
    answer = owner.post(f"/instances/{instance_id}/variables", data=form, follow_redirects=True)
    page = answer.data.decode()
    assert answer.status_code == 200
    assert "The case&#39;s data was changed." in page and "The job runs again with the new data." in page
    assert tell.queries.open_incidents(ADMIN, instance_id=instance_id) == []
    assert inspect.run_pending_jobs(tell, instance_id) == ["completed"]
    assert [t.element_id for t in inspect.open_tasks(tell, instance_id)] == ["follow_up"]

    [edited] = events(tell, instance_id, "variables_edited")
    assert edited.actor == OWNER[0] and edited.payload["variables"] == [
        {"name": "customerEmail", "change": "changed", "old": BAD_EMAIL, "new": GOOD_EMAIL},
        {"name": "priority", "change": "added", "new": 2},
        {"name": "oldNote", "change": "removed", "old": "-"}]  # only what the person changed
    timeline = owner.get(f"/instances/{instance_id}").data.decode().split('class="timeline"')[1]
    assert "case data changed by hand" in timeline and "Why: Customer phoned with the right address" in timeline
    assert BAD_EMAIL in timeline and GOOD_EMAIL in timeline and OWNER[0] in timeline


def test_form_errors_are_shown_on_the_field_and_the_input_kept(app, tell):
    instance_id = stuck_case(tell)
    owner = sign_in(app, *OWNER)
    form = {"csrf_token": owner.csrf, "name": ["customerEmail"], "kind.customerEmail": "text",
            "value.customerEmail": "typed@example.com", "original.customerEmail": f"text:{BAD_EMAIL}",
            "new_name": "count", "new_kind": "number", "new_value": "many", "comment": ""}
    answer = owner.post(f"/instances/{instance_id}/variables", data=form)
    page = answer.data.decode()
    assert answer.status_code == 422
    assert 'id="repair-comment-error"' in page and "Say why the case&#39;s data is changed." in page
    assert "is not a number" in page and 'value="count"' in page and ">many</textarea>" in page
    assert ">typed@example.com</textarea>" in page  # kept, not the stored value
    assert events(tell, instance_id, "variables_edited") == []
    assert inspect.instance(tell, instance_id).variables["customerEmail"] == BAD_EMAIL


def test_suspend_resume_and_cancel_with_a_reason_from_the_case_page(app, tell):
    instance_id = stuck_case(tell)
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/instances/{instance_id}").data.decode()
    assert "Suspend" in page and "Cancel this case" in page

    def post(action: str, **data):
        return owner.post(f"/instances/{instance_id}/{action}", data={"csrf_token": owner.csrf, **data},
                          follow_redirects=True)

    assert "The case is suspended" in post("suspend").data.decode()
    assert inspect.instance(tell, instance_id).status == "suspended"
    assert "Resume" in owner.get(f"/instances/{instance_id}").data.decode()
    assert "The case runs again." in post("resume").data.decode()
    assert inspect.instance(tell, instance_id).status == "running"
    refused = post("cancel", reason="  ").data.decode()
    assert "Say why the case is cancelled; it was not cancelled." in refused
    assert inspect.instance(tell, instance_id).status == "running"
    cancelled = post("cancel", reason="Customer withdrew the return").data.decode()
    assert "The case was cancelled." in cancelled and "Why: Customer withdrew the return" in cancelled
    assert inspect.instance(tell, instance_id).status == "cancelled"
    assert [j.status for j in inspect.jobs(tell, instance_id)] == [JobStatus.INCIDENT]  # not run again
    assert 'id="case-operations"' not in cancelled  # nothing left to operate on
    again = owner.post(f"/instances/{instance_id}/suspend", data={"csrf_token": owner.csrf})
    assert again.status_code == 302  # a flash on the case page, not a 500
    assert "is cancelled" in owner.get(again.headers["Location"]).data.decode()


def test_a_waited_for_message_is_delivered_from_the_case_page(app, tell):
    started = tell.instances.start_instance("shop_return", actor=ADMIN, business_key="RMA-MSG-1")
    [task] = inspect.open_tasks(tell, started.id)
    tell.tasks.complete_user_task(task.id, {"orderNumber": "SO-1", "quantity": 1, "reason": "defect"}, actor=ADMIN)
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/instances/{started.id}").data.decode()
    assert "Deliver message ParcelReceived" in page
    answer = owner.post(f"/instances/{started.id}/messages", follow_redirects=True, data={
        "csrf_token": owner.csrf, "message": "ParcelReceived", "var_name": ["trackingNumber", "weightKg", ""],
        "var_value": ["TRK-1", "1.5", ""]})
    assert "Message ParcelReceived delivered." in answer.data.decode()
    assert [t.element_id for t in inspect.open_tasks(tell, started.id)] == ["inspect"]
    assert inspect.instance(tell, started.id).variables["weightKg"] == 1.5
    again = owner.post(f"/instances/{started.id}/messages", follow_redirects=True, data={
        "csrf_token": owner.csrf, "message": "ParcelReceived"})
    assert "is not waiting for message" in again.data.decode()


def test_staff_see_no_operations_and_are_refused_at_every_door(app, tell, as_):
    clerk = sign_in(app, *STAFF)
    instance_id = stuck_case(tell, actor=as_actor(STAFF))
    page = clerk.get(f"/instances/{instance_id}")
    assert page.status_code == 200  # a case they started: readable
    text = page.data.decode()
    for control in ('id="case-operations"', 'href="#repair"', "Edit the case", "Cancel this case", "Suspend",
                    "Deliver message"):
        assert control not in text
    before = (inspect.instance(tell, instance_id).version, len(inspect.history(tell, instance_id)))
    for action, data in {"variables": {"name": "customerEmail", "value.customerEmail": GOOD_EMAIL,
                                       "original.customerEmail": f"text:{BAD_EMAIL}", "comment": "x"},
                         "cancel": {"reason": "x"}, "suspend": {}, "resume": {},
                         "messages": {"message": "ParcelReceived"}}.items():
        answer = clerk.post(f"/instances/{instance_id}/{action}", data={"csrf_token": clerk.csrf, **data})
        assert answer.status_code == 403, action
    assert as_("clerk").patch(f"/api/v1/instances/{instance_id}/variables",
                              json={"comment": "x", "values": {"a": 1}}).status_code == 403
    assert (inspect.instance(tell, instance_id).version, len(inspect.history(tell, instance_id))) == before
