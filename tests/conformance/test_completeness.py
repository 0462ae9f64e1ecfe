"""Nothing accepted and then not run: a model deploys with every element it draws, or is refused naming
the elements that would not run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.definitions import ModelFile, parse_bundle, plain_words
from orchestrator.errors import InvalidModel
from orchestrator.models import ProcessDefinition
from tests.conformance.conftest import deploy, model, reachable_equals_drawn
from tests.conftest import ADMIN
from tests.support import inspect

REPO = Path(__file__).resolve().parents[2]

FLOWS_WITHOUT_ID = """<bpmn:process id="no_flow_ids" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow sourceRef="start" targetRef="check"/>
  <bpmn:userTask id="check" name="Check the parcel"/>
  <bpmn:sequenceFlow sourceRef="check" targetRef="decide"/>
  <bpmn:exclusiveGateway id="decide" default="to_done"/>
  <bpmn:sequenceFlow sourceRef="decide" targetRef="again">
    <bpmn:conditionExpression>${again == true}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="to_done" sourceRef="decide" targetRef="done"/>
  <bpmn:userTask id="again" name="Check again"/>
  <bpmn:sequenceFlow sourceRef="again" targetRef="done"/>
  <bpmn:endEvent id="done"/>
</bpmn:process>"""


def test_sequence_flows_without_id_run_to_the_end(conformance_engine):
    """The BPMN schema makes a flow's id optional; such a model used to 'complete' right after its start."""
    deploy(conformance_engine, model(FLOWS_WITHOUT_ID))
    started = conformance_engine.instances.start_instance("no_flow_ids", actor=ADMIN)
    [check] = inspect.open_tasks(conformance_engine, started.id)
    assert check.element_id == "check"
    conformance_engine.tasks.complete_user_task(check.id, {"again": True}, actor=ADMIN)
    [again] = inspect.open_tasks(conformance_engine, started.id)
    conformance_engine.tasks.complete_user_task(again.id, {}, actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"
    assert set(inspect.completed_elements(conformance_engine, started.id)) >= {"start", "check", "decide", "again",
                                                                                "done"}


@pytest.mark.parametrize(("body", "element", "words"), [
    ("""<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>
        <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>
        <bpmn:userTask id="lonely" name="Never reached"/></bpmn:process>""",
     "lonely", "no sequence flow leads to this userTask"),
    ("""<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>
        <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>
        <bpmn:userTask id="a"/><bpmn:userTask id="b"/><bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
        <bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="a"/></bpmn:process>""",
     "a", "no path from a start event reaches this userTask"),
    ("""<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>
        <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>
        <bpmn:sequenceFlow id="f_lost" sourceRef="s" targetRef="nowhere"/></bpmn:process>""",
     "f_lost", "targetRef 'nowhere' is not in the model"),
    ("""<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>
        <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="cx"/><bpmn:complexGateway id="cx"/>
        <bpmn:sequenceFlow id="f2" sourceRef="cx" targetRef="e"/><bpmn:endEvent id="e"/></bpmn:process>""",
     "cx", "complex gateways are not supported"),
    ("""<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>
        <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="adhoc"/>
        <bpmn:adHocSubProcess id="adhoc"><bpmn:task id="x"/></bpmn:adHocSubProcess>
        <bpmn:sequenceFlow id="f2" sourceRef="adhoc" targetRef="e"/><bpmn:endEvent id="e"/></bpmn:process>""",
     "adhoc", "ad-hoc subprocesses are not supported"),
    ("""<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/>
        <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="book"/><bpmn:userTask id="book"/>
        <bpmn:boundaryEvent id="undo_booking" attachedToRef="book"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
        <bpmn:userTask id="cancel_booking" isForCompensation="true"/>
        <bpmn:sequenceFlow id="f2" sourceRef="book" targetRef="e"/><bpmn:endEvent id="e"/></bpmn:process>""",
     "undo_booking", "needs an association to its handler"),
    ("""<bpmn:process name="Unnamed key" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process>""",
     "Unnamed key", "the process has no id"),
])
def test_what_would_not_run_is_refused_naming_the_element(conformance_engine, body, element, words):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    message = str(refused.value)
    assert f"element '{element}'" in message and words in message, message
    with conformance_engine.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == 0  # nothing stored


@pytest.mark.parametrize("folder", ["bpmn", "tests/fixtures"])
def test_every_shipped_model_reaches_every_element_it_draws(folder):
    files = [ModelFile(path.name, path.read_text(encoding="utf-8"))
             for path in sorted((REPO / folder).iterdir()) if path.suffix in (".bpmn", ".dmn")]
    decisions = [file for file in files if file.kind == "dmn"]
    for file in files:
        if file.kind == "bpmn":
            reachable_equals_drawn(file, parse_bundle([*decisions, file], max_bytes=10**8))


@pytest.mark.parametrize(("library_text", "plain"), [
    ("NotImplementedError('Unsupported Catch Event: %r', b'<boundaryEvent id=\"x\"/>')",
     "this kind of catching event is not supported"),
    ("TypeError(\"NodeParser.raise_validation_exception() got an unexpected keyword argument 'node'\")",
     "the engine cannot read this element as it is written"),
    ("When looking for a task spec, we found two items, perhaps a form has the same ID? (nowhere)",
     "two elements have the same id"),
    ("condition 'a < 1 and b > 2': unknown variable 'a'", "condition 'a < 1 and b > 2': unknown variable 'a'"),
])
def test_refusals_speak_the_process_owners_words(library_text, plain):
    """No library class names, Python reprs or XML dumps reach the person deploying."""
    assert plain_words(library_text).startswith(plain)
