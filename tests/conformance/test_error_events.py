"""BPMN errors with Camunda 7 semantics: an error event subprocess (`triggeredByEvent`, error start event)
catches an error thrown by an error end event or by a service task's bpmnError inside its scope, interrupts the
scope (everything else in it is cancelled) and completes it when its handler completes; an error start naming
the error's code wins over a catch-all one (no errorRef); the innermost catcher wins. Each command restores the
stored state, and the steps alternate between two engines (a new process: specs parsed again)."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect

ERRORS = '<bpmn:error id="E_REJECTED" name="Rejected" errorCode="E_REJECTED"/>'


def flows(*pairs: tuple[str, str], prefix: str = "f") -> str:
    return "".join(f'<bpmn:sequenceFlow id="{prefix}{i}" sourceRef="{a}" targetRef="{b}"/>'
                   for i, (a, b) in enumerate(pairs))


def on_error(sub_id: str, error_ref: str | None, handler: str, variables: str = "") -> str:
    """An error event subprocess catching `error_ref` (every error when None) with the user task `handler`."""
    ref = (f' errorRef="{error_ref}"' if error_ref else "") + variables
    return (f'<bpmn:subProcess id="{sub_id}" triggeredByEvent="true">'
            f'<bpmn:startEvent id="{sub_id}_start"><bpmn:errorEventDefinition{ref}/></bpmn:startEvent>'
            f'<bpmn:userTask id="{handler}" name="Handle"/><bpmn:endEvent id="{sub_id}_end"/>'
            + flows((f"{sub_id}_start", handler), (handler, f"{sub_id}_end"), prefix=f"{sub_id}_f")
            + "</bpmn:subProcess>")


def fail_or_pass(code: str) -> str:
    """`check` (a user task) then, unless `ok`, an error end event throwing `code`; `waiting` runs beside."""
    return ('<bpmn:startEvent id="start"/><bpmn:userTask id="check" name="Check"/>'
            '<bpmn:userTask id="waiting" name="Waiting"/>'
            '<bpmn:exclusiveGateway id="ok_gw" default="to_fail"/><bpmn:endEvent id="end"/>'
            f'<bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="{code}"/></bpmn:endEvent>'
            '<bpmn:endEvent id="waited"/>'
            + flows(("start", "check"), ("start", "waiting"), ("waiting", "waited"))
            + '<bpmn:sequenceFlow id="to_gw" sourceRef="check" targetRef="ok_gw"/>'
            '<bpmn:sequenceFlow id="to_end" sourceRef="ok_gw" targetRef="end">'
            '<bpmn:conditionExpression>${ok}</bpmn:conditionExpression></bpmn:sequenceFlow>'
            '<bpmn:sequenceFlow id="to_fail" sourceRef="ok_gw" targetRef="fail"/>')


def process(process_id: str, body: str) -> str:
    return f'{ERRORS}<bpmn:process id="{process_id}" isExecutable="true">{body}</bpmn:process>'


@pytest.fixture
def engines(make_engine, sqlite_database):
    return make_engine(sqlite_database), make_engine(sqlite_database)


def open_elements(engine, instance_id: str) -> list[str]:
    return sorted(task.element_id for task in inspect.open_tasks(engine, instance_id))


def cancelled(engine, instance_id: str) -> list[str]:
    return sorted(e.element_id for e in inspect.history(engine, instance_id) if e.type == "element_cancelled")


def complete(engine, instance_id: str, element_id: str, values: dict | None = None) -> None:
    [task] = [t for t in inspect.open_tasks(engine, instance_id) if t.element_id == element_id]
    engine.tasks.complete_user_task(task.id, values or {}, actor=ADMIN)


def test_an_error_end_event_starts_the_error_event_subprocess_which_interrupts_the_process(engines):
    first, second = engines
    deploy(first, model(process("checked", fail_or_pass("E_REJECTED") + on_error("on_reject", "E_REJECTED",
                                                                                  "rework"))))
    row = first.instances.start_instance("checked", actor=ADMIN)
    assert open_elements(first, row.id) == ["check", "waiting"]
    complete(second, row.id, "check", {"ok": False, "reason": "scratched"})
    assert open_elements(first, row.id) == ["rework"]
    assert cancelled(first, row.id) == ["waiting"]
    complete(first, row.id, "rework")
    instance = inspect.instance(second, row.id)
    path = inspect.completed_elements(second, row.id)
    assert instance.status == "completed" and instance.variables["reason"] == "scratched"
    assert path[path.index("fail"):] == ["fail", "on_reject_start", "rework", "on_reject_end", "on_reject"]
    assert "end" not in path and "waited" not in path


def test_without_an_error_the_error_event_subprocess_never_starts(engines):
    first, second = engines
    deploy(first, model(process("checked", fail_or_pass("E_REJECTED") + on_error("on_reject", "E_REJECTED",
                                                                                  "rework"))))
    row = first.instances.start_instance("checked", actor=ADMIN)
    complete(second, row.id, "check", {"ok": True})
    complete(first, row.id, "waiting")
    assert inspect.instance(second, row.id).status == "completed"
    assert "on_reject_start" not in inspect.completed_elements(second, row.id)


@pytest.mark.parametrize("code, handler", [("E_REJECTED", "rework"), ("E_OTHER", "investigate")])
def test_the_error_code_picks_the_event_subprocess_and_a_catch_all_takes_the_rest(engines, code, handler):
    first, second = engines
    body = (fail_or_pass(code) + on_error("on_any", None, "investigate")
            + on_error("on_reject", "E_REJECTED", "rework"))
    deploy(first, model(process("checked", body)))
    row = first.instances.start_instance("checked", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert open_elements(first, row.id) == [handler]
    complete(second, row.id, handler)
    assert inspect.instance(first, row.id).status == "completed"


def embedded(inner_error_handler: str = "") -> str:
    """`review` (an embedded subprocess: `check`, error end event `fail`, `waiting` beside) then `after`."""
    inner = fail_or_pass("E_REJECTED").replace('id="start"', 'id="r_start"').replace(
        'sourceRef="start"', 'sourceRef="r_start"').replace('<bpmn:sequenceFlow id="', '<bpmn:sequenceFlow id="r_')
    inner += inner_error_handler
    return ('<bpmn:startEvent id="start"/>' f'<bpmn:subProcess id="review">{inner}</bpmn:subProcess>'
            '<bpmn:userTask id="after" name="After"/><bpmn:endEvent id="done"/>'
            + flows(("start", "review"), ("review", "after"), ("after", "done"), prefix="o"))


def test_an_error_thrown_in_an_embedded_subprocess_reaches_the_process_event_subprocess(engines):
    first, second = engines
    deploy(first, model(process("nested", embedded() + on_error("on_reject", "E_REJECTED", "rework"))))
    row = first.instances.start_instance("nested", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert open_elements(first, row.id) == ["rework"]
    assert cancelled(first, row.id) == ["review", "waiting"]
    complete(second, row.id, "rework")
    path = inspect.completed_elements(first, row.id)
    assert inspect.instance(first, row.id).status == "completed" and "after" not in path and "review" not in path


def test_an_error_event_subprocess_in_an_embedded_subprocess_completes_it_and_the_flow_goes_on(engines):
    first, second = engines
    outer = on_error("on_any", None, "investigate")  # outside: the inner one is nearer and catches first
    deploy(first, model(process("nested", embedded(on_error("on_reject", "E_REJECTED", "rework")) + outer)))
    row = first.instances.start_instance("nested", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert open_elements(first, row.id) == ["rework"]
    complete(second, row.id, "rework")
    assert open_elements(first, row.id) == ["after"]
    assert "review" in inspect.completed_elements(first, row.id)


def test_an_error_thrown_in_a_called_process_reaches_the_callers_event_subprocess(engines):
    first, second = engines
    called = process("checking", fail_or_pass("E_REJECTED")).replace(ERRORS, "")
    body = ('<bpmn:startEvent id="c_start"/><bpmn:callActivity id="call" calledElement="checking"/>'
            '<bpmn:userTask id="after" name="After"/><bpmn:endEvent id="c_end"/>'
            + flows(("c_start", "call"), ("call", "after"), ("after", "c_end"), prefix="c")
            + on_error("on_reject", "E_REJECTED", "rework"))
    deploy(first, model(process("calling", body) + called))
    row = first.instances.start_instance("calling", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert open_elements(first, row.id) == ["rework"]
    assert cancelled(first, row.id) == ["call", "waiting"]
    complete(second, row.id, "rework")
    assert inspect.instance(first, row.id).status == "completed"
    assert "after" not in inspect.completed_elements(first, row.id)


def test_an_error_in_one_instance_of_a_multi_instance_subprocess_cancels_every_instance(engines):
    first, second = engines
    inner = ('<bpmn:startEvent id="r_start"/><bpmn:userTask id="check" name="Check" camunda:assignee="${reviewer}"/>'
             '<bpmn:exclusiveGateway id="ok_gw" default="to_fail"/><bpmn:endEvent id="r_end"/>'
             '<bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="E_REJECTED"/></bpmn:endEvent>'
             + flows(("r_start", "check"), ("check", "ok_gw"), prefix="r")
             + '<bpmn:sequenceFlow id="to_end" sourceRef="ok_gw" targetRef="r_end"><bpmn:conditionExpression>'
             '${ok}</bpmn:conditionExpression></bpmn:sequenceFlow>'
             '<bpmn:sequenceFlow id="to_fail" sourceRef="ok_gw" targetRef="fail"/>')
    body = ('<bpmn:startEvent id="start"/><bpmn:subProcess id="review"><bpmn:multiInstanceLoopCharacteristics '
            f'camunda:collection="reviewers" camunda:elementVariable="reviewer"/>{inner}</bpmn:subProcess>'
            '<bpmn:userTask id="after" name="After"/><bpmn:endEvent id="done"/>'
            + flows(("start", "review"), ("review", "after"), ("after", "done"), prefix="o")
            + on_error("on_reject", "E_REJECTED", "rework"))
    deploy(first, model(process("reviewed", body)))
    row = first.instances.start_instance("reviewed", actor=ADMIN, variables={"reviewers": ["ann", "bob", "cy"]})
    ann, bob, _ = sorted(inspect.open_tasks(first, row.id), key=lambda task: task.assignee)
    second.tasks.complete_user_task(ann.id, {"ok": True}, actor=ADMIN)
    first.tasks.complete_user_task(bob.id, {"ok": False}, actor=ADMIN)
    assert open_elements(second, row.id) == ["rework"]
    assert cancelled(second, row.id).count("check") == 1  # cy's
    complete(first, row.id, "rework")
    assert inspect.instance(second, row.id).status == "completed"
    assert "after" not in inspect.completed_elements(second, row.id)


SERVICE = ('<bpmn:startEvent id="start"/><bpmn:userTask id="waiting" name="Waiting"/>'
           '<bpmn:serviceTask id="refund" camunda:type="external" camunda:topic="test.refund"/>'
           '<bpmn:endEvent id="end"/><bpmn:endEvent id="waited"/>'
           + flows(("start", "refund"), ("start", "waiting"), ("refund", "end"), ("waiting", "waited")))


def test_a_service_tasks_bpmn_error_starts_the_error_event_subprocess(engines, ledger):
    first, second = engines
    handler = on_error("on_reject", "E_REJECTED", "rework", ' camunda:errorMessageVariable="why"')
    deploy(first, model(process("paying", SERVICE + handler)))
    ledger.script("test.refund", "business:E_REJECTED")
    row = first.instances.start_instance("paying", actor=ADMIN)
    assert inspect.run_pending_jobs(second, row.id) == ["failed"]
    assert open_elements(first, row.id) == ["rework"]
    assert cancelled(first, row.id) == ["refund", "waiting"]
    variables = inspect.instance(first, row.id).variables
    assert variables["errorCode"] == "E_REJECTED" and variables["why"] == "scripted business rejection"
    complete(second, row.id, "rework")
    assert inspect.instance(first, row.id).status == "completed"


def test_a_boundary_event_on_the_task_catches_before_the_event_subprocess(engines, ledger):
    first, second = engines
    boundary = ('<bpmn:boundaryEvent id="refund_failed" attachedToRef="refund"><bpmn:errorEventDefinition '
                'errorRef="E_REJECTED"/></bpmn:boundaryEvent><bpmn:endEvent id="refund_failed_end"/>'
                + flows(("refund_failed", "refund_failed_end"), prefix="b"))
    deploy(first, model(process("paying", SERVICE + boundary + on_error("on_reject", "E_REJECTED", "rework"))))
    ledger.script("test.refund", "business:E_REJECTED")
    row = first.instances.start_instance("paying", actor=ADMIN)
    assert inspect.run_pending_jobs(second, row.id) == ["failed"]
    assert open_elements(first, row.id) == ["waiting"]


def test_an_error_nothing_catches_ends_its_path_like_a_none_end_event(engines):
    first, second = engines
    deploy(first, model(process("checked", fail_or_pass("E_OTHER") + on_error("on_reject", "E_REJECTED",
                                                                               "rework"))))
    row = first.instances.start_instance("checked", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert open_elements(first, row.id) == ["waiting"]
    complete(first, row.id, "waiting")
    assert inspect.instance(second, row.id).status == "completed"


def test_the_caught_error_code_lands_in_the_variable_the_start_event_names(engines):
    first, second = engines
    handler = on_error("on_any", None, "investigate", ' camunda:errorCodeVariable="code"')
    deploy(first, model(process("checked", fail_or_pass("E_OTHER") + handler)))
    row = first.instances.start_instance("checked", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert inspect.instance(first, row.id).variables["code"] == "E_OTHER"


def test_an_error_boundary_event_on_another_task_does_not_catch_an_error_thrown_beside_it(engines):
    first, second = engines
    boundary = ('<bpmn:boundaryEvent id="waiting_failed" attachedToRef="waiting"><bpmn:errorEventDefinition/>'
                '</bpmn:boundaryEvent><bpmn:endEvent id="waiting_failed_end"/>'
                + flows(("waiting_failed", "waiting_failed_end"), prefix="b"))
    deploy(first, model(process("checked", fail_or_pass("E_REJECTED") + boundary)))
    row = first.instances.start_instance("checked", actor=ADMIN)
    complete(second, row.id, "check", {"ok": False})
    assert open_elements(first, row.id) == ["waiting"]
    assert "waiting_failed" not in inspect.completed_elements(first, row.id)


def test_an_error_start_event_outside_an_event_subprocess_is_refused_naming_it(engines):
    body = ('<bpmn:startEvent id="start"><bpmn:errorEventDefinition errorRef="E_REJECTED"/></bpmn:startEvent>'
            '<bpmn:endEvent id="end"/>' + flows(("start", "end")))
    with pytest.raises(InvalidModel) as refused:
        deploy(engines[0], model(process("started_by_error", body)))
    assert "element 'start'" in str(refused.value) and "can only start an event subprocess" in str(refused.value)


def test_a_non_interrupting_error_start_is_refused_naming_it(engines):
    handler = on_error("on_reject", "E_REJECTED", "rework").replace(
        '<bpmn:startEvent id="on_reject_start">', '<bpmn:startEvent id="on_reject_start" isInterrupting="false">')
    with pytest.raises(InvalidModel) as refused:
        deploy(engines[0], model(process("checked", fail_or_pass("E_REJECTED") + handler)))
    assert any("on_reject_start" in problem and "always interrupts its scope" in problem
               for problem in refused.value.problems), refused.value.problems


def test_a_service_tasks_bpmn_error_reaches_a_boundary_event_on_its_embedded_subprocess(engines, ledger):
    first, second = engines
    inner = ('<bpmn:startEvent id="p_start"/><bpmn:serviceTask id="refund" camunda:type="external" '
             'camunda:topic="test.refund"/><bpmn:endEvent id="p_end"/>'
             + flows(("p_start", "refund"), ("refund", "p_end"), prefix="p"))
    body = ('<bpmn:startEvent id="start"/>' f'<bpmn:subProcess id="pay">{inner}</bpmn:subProcess>'
            '<bpmn:boundaryEvent id="pay_failed" attachedToRef="pay"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>'
            '<bpmn:userTask id="call_customer" name="Call"/><bpmn:endEvent id="end"/><bpmn:endEvent id="paid"/>'
            + flows(("start", "pay"), ("pay", "paid"), ("pay_failed", "call_customer"), ("call_customer", "end")))
    deploy(first, model(process("paying", body)))
    ledger.script("test.refund", "business:E_REJECTED")
    row = first.instances.start_instance("paying", actor=ADMIN)
    assert inspect.run_pending_jobs(second, row.id) == ["failed"]
    assert open_elements(first, row.id) == ["call_customer"]
    assert "pay" in cancelled(first, row.id) and "refund" in cancelled(first, row.id)
