"""Compensation as Camunda 7 runs it: a compensation throw undoes the completed activities of its scope that
have a handler, the most recently completed first, each once, then the flow goes on; a throw naming an
activity undoes only that one; handlers may wait (a user task) across commands, and the log of what may be
undone survives pruning and a restore on a freshly parsed spec. Models compensation cannot run are refused
naming the element."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidModel
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN, FIXTURES
from tests.support import inspect

TRIP = ModelFile("trip_compensation.bpmn", (FIXTURES / "trip_compensation.bpmn").read_text(encoding="utf-8"))


def complete(engine, instance_id: str, element_id: str, values: dict | None = None) -> None:
    [task] = [t for t in inspect.open_tasks(engine, instance_id) if t.element_id == element_id]
    engine.tasks.complete_user_task(task.id, values or {}, actor=ADMIN)


def start_trip(engine) -> str:
    deploy(engine, TRIP)
    row = engine.instances.start_instance("trip", actor=ADMIN, variables={"undone": []})
    complete(engine, row.id, "book_hotel")
    complete(engine, row.id, "book_flight")
    return row.id


def open_elements(engine, instance_id: str) -> list[str]:
    return [task.element_id for task in inspect.open_tasks(engine, instance_id)]


def test_a_throw_undoes_the_latest_booking_first_and_each_once(conformance_engine):
    engine = conformance_engine
    instance_id = start_trip(engine)
    complete(engine, instance_id, "pay", {"paid": False})
    # the flight was booked last: its handler (a user task) runs first, and the hotel waits for it
    assert open_elements(engine, instance_id) == ["cancel_flight"]
    assert inspect.instance(engine, instance_id).variables["undone"] == []
    complete(engine, instance_id, "cancel_flight")
    row = inspect.instance(engine, instance_id)
    assert row.status == "completed" and row.variables["undone"] == ["hotel"]
    path = inspect.completed_elements(engine, instance_id)
    assert path.index("cancel_flight") < path.index("cancel_hotel") < path.index("cancelled")
    assert path.count("cancel_hotel") == 1 and path.count("cancel_flight") == 1
    assert "undo_trip" in path and "_loopline_compensation" not in row.variables


def test_nothing_is_undone_when_no_throw_is_reached(conformance_engine):
    engine = conformance_engine
    instance_id = start_trip(engine)
    complete(engine, instance_id, "pay", {"paid": True})
    row = inspect.instance(engine, instance_id)
    assert row.status == "completed" and row.variables["undone"] == []
    assert "cancel_flight" not in inspect.completed_elements(engine, instance_id)


CALLER = model('<bpmn:process id="journey" isExecutable="true"><bpmn:startEvent id="js"/>'
               '<bpmn:callActivity id="go" calledElement="trip"><bpmn:extensionElements>'
               '<camunda:in variables="all"/><camunda:out variables="all"/></bpmn:extensionElements>'
               '</bpmn:callActivity><bpmn:endEvent id="je"/>'
               '<bpmn:sequenceFlow id="j1" sourceRef="js" targetRef="go"/>'
               '<bpmn:sequenceFlow id="j2" sourceRef="go" targetRef="je"/></bpmn:process>', name="journey.bpmn")


@pytest.mark.parametrize("together", [True, False], ids=["same bundle", "deployed apart"])
def test_a_called_process_undoes_its_own_activities(conformance_engine, together):
    engine = conformance_engine
    if together:
        engine.deployments.deploy([CALLER, TRIP], actor=ADMIN)
    else:
        engine.deployments.deploy([TRIP], actor=ADMIN)
        engine.deployments.deploy([CALLER], actor=ADMIN)
    row = engine.instances.start_instance("journey", actor=ADMIN, variables={"undone": []})
    complete(engine, row.id, "book_hotel")
    complete(engine, row.id, "book_flight")
    complete(engine, row.id, "pay", {"paid": False})
    assert open_elements(engine, row.id) == ["cancel_flight"]
    complete(engine, row.id, "cancel_flight")
    row = inspect.instance(engine, row.id)
    assert row.status == "completed" and row.variables["undone"] == ["hotel"]


def loop_with_undo(activity_ref: str = "") -> ModelFile:
    """`work` (a script adding one to `done`) three times in a loop, each compensable; then a throw."""
    ref = f' activityRef="{activity_ref}"' if activity_ref else ""
    return model(
        '<bpmn:process id="looped" isExecutable="true">'
        '<bpmn:startEvent id="s"/>'
        '<bpmn:scriptTask id="work" scriptFormat="python"><bpmn:script>done = done + 1</bpmn:script></bpmn:scriptTask>'
        '<bpmn:boundaryEvent id="work_undo" attachedToRef="work"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>'
        '<bpmn:scriptTask id="unwork" isForCompensation="true" scriptFormat="python">'
        '<bpmn:script>undone = undone + [done]\ndone = done - 1</bpmn:script></bpmn:scriptTask>'
        '<bpmn:scriptTask id="note" scriptFormat="python"><bpmn:script>noted = True</bpmn:script></bpmn:scriptTask>'
        '<bpmn:boundaryEvent id="note_undo" attachedToRef="note"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>'
        '<bpmn:scriptTask id="unnote" isForCompensation="true" scriptFormat="python">'
        '<bpmn:script>noted = False</bpmn:script></bpmn:scriptTask>'
        '<bpmn:exclusiveGateway id="again" default="enough"/>'
        f'<bpmn:endEvent id="undo_all"><bpmn:compensateEventDefinition{ref}/></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="note"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="note" targetRef="work"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="again"/>'
        '<bpmn:sequenceFlow id="more" sourceRef="again" targetRef="work">'
        '<bpmn:conditionExpression>${done &lt; 3}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="enough" sourceRef="again" targetRef="undo_all"/>'
        '<bpmn:association id="a1" sourceRef="work_undo" targetRef="unwork"/>'
        '<bpmn:association id="a2" sourceRef="note_undo" targetRef="unnote"/>'
        '</bpmn:process>', name="looped.bpmn")


def test_every_completion_of_a_looped_activity_is_undone_in_reverse_order_by_an_end_event(conformance_engine):
    deploy(conformance_engine, loop_with_undo())
    row = conformance_engine.instances.start_instance("looped", actor=ADMIN, variables={"done": 0, "undone": []})
    row = inspect.instance(conformance_engine, row.id)
    assert row.status == "completed"
    assert row.variables["undone"] == [3, 2, 1] and row.variables["done"] == 0 and row.variables["noted"] is False


def test_a_throw_naming_an_activity_undoes_only_that_one(conformance_engine):
    # `unwork` has no throw that could run it (valid BPMN, never run): deployed without the drawn = reached check
    conformance_engine.deployments.deploy([loop_with_undo(activity_ref="note")], actor=ADMIN)
    row = conformance_engine.instances.start_instance("looped", actor=ADMIN, variables={"done": 0, "undone": []})
    row = inspect.instance(conformance_engine, row.id)
    assert row.status == "completed" and row.variables["undone"] == [] and row.variables["done"] == 3
    assert row.variables["noted"] is False


def undoable(element_id: str, undo_note: str, waits: bool = False) -> str:
    """A script task that records itself (or a user task, `waits`), with a compensation handler that records
    its undoing."""
    activity = (f'<bpmn:userTask id="{element_id}"/>' if waits else
                f'<bpmn:scriptTask id="{element_id}" scriptFormat="python"><bpmn:script>done = done + '
                f'["{element_id}"]</bpmn:script></bpmn:scriptTask>')
    return (f'{activity}'
            f'<bpmn:boundaryEvent id="{element_id}_c" attachedToRef="{element_id}"><bpmn:compensateEventDefinition/>'
            f'</bpmn:boundaryEvent>'
            f'<bpmn:scriptTask id="un_{element_id}" isForCompensation="true" scriptFormat="python">'
            f'<bpmn:script>undone = undone + ["{undo_note}"]</bpmn:script></bpmn:scriptTask>'
            f'<bpmn:association id="{element_id}_a" sourceRef="{element_id}_c" targetRef="un_{element_id}"/>')


UNDO_INSIDE = ('<bpmn:subProcess id="undo_reservation" triggeredByEvent="true">'
               '<bpmn:startEvent id="undo_reservation_start"><bpmn:compensateEventDefinition/></bpmn:startEvent>'
               '<bpmn:scriptTask id="release_all" scriptFormat="python">'
               '<bpmn:script>undone = undone + ["reservation undone by its event subprocess"]</bpmn:script>'
               '</bpmn:scriptTask><bpmn:endEvent id="undo_reservation_end"/>'
               '<bpmn:sequenceFlow id="u1" sourceRef="undo_reservation_start" targetRef="release_all"/>'
               '<bpmn:sequenceFlow id="u2" sourceRef="release_all" targetRef="undo_reservation_end"/>'
               '</bpmn:subProcess>')


def order_with_subprocess(throw: str = "<bpmn:compensateEventDefinition/>", own_handler: bool = False,
                          fail_inside: bool = False, label_waits: bool = False, undo_inside: bool = False
                          ) -> ModelFile:
    """reserve (a subprocess: hold stock, then charge) → label → a compensation end event in the process.
    `own_handler` gives the subprocess a handler of its own; `fail_inside` ends the subprocess with an error
    after it charged, caught on its boundary and led to the throw (the subprocess never completes)."""
    inside_end = ('<bpmn:endEvent id="r_fail"><bpmn:errorEventDefinition errorRef="no_stock"/></bpmn:endEvent>'
                  if fail_inside else '<bpmn:endEvent id="r_end"/>')
    inside_last = "r_fail" if fail_inside else "r_end"
    subprocess_handler = (
        '<bpmn:boundaryEvent id="reserve_c" attachedToRef="reserve"><bpmn:compensateEventDefinition/>'
        '</bpmn:boundaryEvent><bpmn:scriptTask id="un_reserve" isForCompensation="true" scriptFormat="python">'
        '<bpmn:script>undone = undone + ["whole reservation"]</bpmn:script></bpmn:scriptTask>'
        '<bpmn:association id="reserve_a" sourceRef="reserve_c" targetRef="un_reserve"/>') if own_handler else ""
    caught = ('<bpmn:boundaryEvent id="out_of_stock" attachedToRef="reserve"><bpmn:errorEventDefinition '
              'errorRef="no_stock"/></bpmn:boundaryEvent>'
              '<bpmn:sequenceFlow id="p_err" sourceRef="out_of_stock" targetRef="undo_order"/>') if fail_inside else ""
    return model(
        '<bpmn:error id="no_stock" errorCode="NO_STOCK"/>'
        '<bpmn:process id="order" isExecutable="true"><bpmn:startEvent id="s"/>'
        '<bpmn:subProcess id="reserve"><bpmn:startEvent id="r_s"/>'
        f'{undoable("hold_stock", "stock released")}{undoable("charge", "refunded")}{inside_end}'
        f'{UNDO_INSIDE if undo_inside else ""}'
        '<bpmn:sequenceFlow id="r1" sourceRef="r_s" targetRef="hold_stock"/>'
        '<bpmn:sequenceFlow id="r2" sourceRef="hold_stock" targetRef="charge"/>'
        f'<bpmn:sequenceFlow id="r3" sourceRef="charge" targetRef="{inside_last}"/></bpmn:subProcess>'
        f'{subprocess_handler}{undoable("label", "label voided", label_waits)}{caught}'
        f'<bpmn:endEvent id="undo_order">{throw}</bpmn:endEvent>'
        '<bpmn:sequenceFlow id="p1" sourceRef="s" targetRef="reserve"/>'
        '<bpmn:sequenceFlow id="p2" sourceRef="reserve" targetRef="label"/>'
        '<bpmn:sequenceFlow id="p3" sourceRef="label" targetRef="undo_order"/>'
        '</bpmn:process>', name="order.bpmn")


def run_order(engine, file: ModelFile, check_reached: bool = True) -> dict:
    if check_reached:
        deploy(engine, file)
    else:  # handlers no throw can run (valid BPMN, never run): deployed without the drawn = reached check
        engine.deployments.deploy([file], actor=ADMIN)
    row = engine.instances.start_instance("order", actor=ADMIN, variables={"done": [], "undone": []})
    row = inspect.instance(engine, row.id)
    assert row.status == "completed"
    return row.variables


def test_a_throw_undoes_the_activities_inside_a_completed_subprocess_latest_first(conformance_engine):
    variables = run_order(conformance_engine, order_with_subprocess())
    assert variables["done"] == ["hold_stock", "charge", "label"]
    assert variables["undone"] == ["label voided", "refunded", "stock released"]


def test_what_a_completed_subprocess_left_to_undo_waits_for_a_throw_in_a_later_command(conformance_engine):
    engine = conformance_engine
    deploy(engine, order_with_subprocess(label_waits=True))
    row = engine.instances.start_instance("order", actor=ADMIN, variables={"done": [], "undone": []})
    assert open_elements(engine, row.id) == ["label"]  # the subprocess completed in the start's command
    complete(engine, row.id, "label")
    row = inspect.instance(engine, row.id)
    assert row.status == "completed" and row.variables["undone"] == ["label voided", "refunded", "stock released"]


def test_a_subprocess_with_a_handler_of_its_own_is_undone_by_that_handler_only(conformance_engine):
    variables = run_order(conformance_engine, order_with_subprocess(own_handler=True), check_reached=False)
    assert variables["undone"] == ["label voided", "whole reservation"]


def test_a_compensation_event_subprocess_undoes_its_subprocess_in_place_of_the_inner_handlers(conformance_engine):
    variables = run_order(conformance_engine, order_with_subprocess(undo_inside=True), check_reached=False)
    assert variables["undone"] == ["label voided", "reservation undone by its event subprocess"]


def test_a_compensation_throw_inside_a_compensation_event_subprocess_is_refused_naming_it(conformance_engine):
    inner_throw = UNDO_INSIDE.replace('<bpmn:endEvent id="undo_reservation_end"/>',
                                      '<bpmn:endEvent id="undo_reservation_end"><bpmn:compensateEventDefinition/>'
                                      '</bpmn:endEvent>')
    file = order_with_subprocess(undo_inside=True)
    with pytest.raises(InvalidModel) as refused:
        conformance_engine.deployments.deploy([ModelFile(file.name, file.content.replace(UNDO_INSIDE, inner_throw))],
                                              actor=ADMIN)
    assert "element 'undo_reservation_end': a compensation throw inside a compensation event subprocess" in str(
        refused.value)


def test_a_throw_naming_a_subprocess_undoes_only_what_is_inside_it(conformance_engine):
    variables = run_order(conformance_engine,
                          order_with_subprocess('<bpmn:compensateEventDefinition activityRef="reserve"/>'),
                          check_reached=False)
    assert variables["undone"] == ["refunded", "stock released"]


def test_a_subprocess_that_did_not_complete_is_not_undone(conformance_engine):
    variables = run_order(conformance_engine, order_with_subprocess(fail_inside=True))
    assert variables["done"] == ["hold_stock", "charge"] and variables["undone"] == []


@pytest.mark.parametrize(("body", "named", "words"), [
    ('<bpmn:subProcess id="undo_sub" triggeredByEvent="true"><bpmn:startEvent id="undo_start">'
     '<bpmn:compensateEventDefinition/></bpmn:startEvent></bpmn:subProcess>', "undo_start",
     "a compensation event subprocess undoes the embedded subprocess it is drawn in; here there is none"),
    ('<bpmn:boundaryEvent id="lonely" attachedToRef="t"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>',
     "lonely", "association"),
    ('<bpmn:intermediateThrowEvent id="undo_x"><bpmn:compensateEventDefinition activityRef="t"/>'
     '</bpmn:intermediateThrowEvent>', "undo_x", "activityRef"),
])
def test_compensation_that_cannot_run_is_refused_naming_the_element(conformance_engine, body, named, words):
    file = model('<bpmn:process id="bad" isExecutable="true"><bpmn:startEvent id="s"/><bpmn:userTask id="t"/>'
                 '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>'
                 f'<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>{body}</bpmn:process>', name="bad.bpmn")
    with pytest.raises(InvalidModel) as refused:
        conformance_engine.deployments.deploy([file], actor=ADMIN)
    message = str(refused.value)
    assert named in message and words in message, message


def test_the_fixture_is_the_file_on_disk():
    assert TRIP.content == Path(FIXTURES / "trip_compensation.bpmn").read_text(encoding="utf-8")


def transaction(confirmed_flow: str) -> str:
    """A transaction booking a hotel and a flight; its cancel end event is reached unless `confirmed`."""
    def booking(name: str) -> str:
        return (f'<bpmn:scriptTask id="book_{name}" scriptFormat="python"><bpmn:script>booked = booked + ["{name}"]'
                f'</bpmn:script></bpmn:scriptTask><bpmn:boundaryEvent id="undo_{name}_evt" attachedToRef="book_{name}">'
                f'<bpmn:compensateEventDefinition/></bpmn:boundaryEvent><bpmn:scriptTask id="undo_{name}" '
                f'isForCompensation="true" scriptFormat="python"><bpmn:script>undone = undone + ["{name}"]'
                f'</bpmn:script></bpmn:scriptTask><bpmn:association sourceRef="undo_{name}_evt" '
                f'targetRef="undo_{name}"/>')
    return f"""<bpmn:process id="trip_tx" isExecutable="true"><bpmn:startEvent id="start"/>
      <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="tx"/>
      <bpmn:transaction id="tx"><bpmn:startEvent id="tx_start"/>{booking("hotel")}{booking("flight")}
        <bpmn:exclusiveGateway id="confirmed"/><bpmn:endEvent id="success"/>
        <bpmn:endEvent id="failure"><bpmn:cancelEventDefinition/></bpmn:endEvent>
        <bpmn:sequenceFlow id="t1" sourceRef="tx_start" targetRef="book_hotel"/>
        <bpmn:sequenceFlow id="t2" sourceRef="book_hotel" targetRef="book_flight"/>
        <bpmn:sequenceFlow id="t3" sourceRef="book_flight" targetRef="confirmed"/>
        <bpmn:sequenceFlow id="t4" sourceRef="confirmed" targetRef="success">{confirmed_flow}</bpmn:sequenceFlow>
        <bpmn:sequenceFlow id="t5" sourceRef="confirmed" targetRef="failure">
          <bpmn:conditionExpression>${{not confirmed}}</bpmn:conditionExpression></bpmn:sequenceFlow>
      </bpmn:transaction>
      <bpmn:boundaryEvent id="cancelled" attachedToRef="tx"><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>
      <bpmn:userTask id="after_cancel"/><bpmn:userTask id="after_success"/><bpmn:endEvent id="end"/>
      <bpmn:sequenceFlow id="f1" sourceRef="cancelled" targetRef="after_cancel"/>
      <bpmn:sequenceFlow id="f2" sourceRef="tx" targetRef="after_success"/>
      <bpmn:sequenceFlow id="f3" sourceRef="after_cancel" targetRef="end"/>
      <bpmn:sequenceFlow id="f4" sourceRef="after_success" targetRef="end"/></bpmn:process>"""


def test_a_cancelled_transaction_undoes_its_completed_activities_then_leaves_by_its_cancel_boundary(
        conformance_engine):
    engine = conformance_engine
    deploy(engine, model(transaction("<bpmn:conditionExpression>${confirmed}</bpmn:conditionExpression>")))
    cancelled = engine.instances.start_instance("trip_tx", actor=ADMIN,
                                                variables={"booked": [], "undone": [], "confirmed": False})
    assert open_elements(engine, cancelled.id) == ["after_cancel"]
    steps = [step for step in inspect.completed_elements(engine, cancelled.id) if "__" not in step]
    assert steps == ["start", "tx_start", "book_hotel", "book_flight", "confirmed", "undo_flight", "undo_hotel",
                     "failure", "tx", "cancelled"]
    kept = engine.instances.start_instance("trip_tx", actor=ADMIN,
                                           variables={"booked": [], "undone": [], "confirmed": True})
    assert open_elements(engine, kept.id) == ["after_success"]
    assert inspect.instance(engine, kept.id).variables == {"booked": ["hotel", "flight"], "undone": [],
                                                           "confirmed": True}
