"""Values a Camunda 7 model computes at run time: multi-instance collections and built-in counters,
prefixed references, and expressions that name a missing variable — which refuse the command (a start is
answered with the element) or, behind a job, open an incident naming the element; never a raw exception."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


def chain(process_id: str, *elements: str, extra: str = "") -> str:
    """A process running `elements` one after another (each given with its id)."""
    ids = [element.split('id="', 1)[1].split('"', 1)[0] for element in elements]
    flows = "".join(f'<bpmn:sequenceFlow id="flow_{a}_{b}" sourceRef="{a}" targetRef="{b}"/>'
                    for a, b in zip(ids, ids[1:], strict=False))
    return f'{extra}<bpmn:process id="{process_id}" isExecutable="true">{"".join(elements)}{flows}</bpmn:process>'


START, END = '<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>'
REVIEW = '<bpmn:userTask id="review" name="Review" camunda:assignee="${reviewer}"/>'


def test_an_assignee_naming_a_missing_variable_refuses_the_start_naming_the_element(conformance_engine):
    deploy(conformance_engine, model(chain("assigned", START, REVIEW, END)))
    with pytest.raises(ProcessError) as refused:
        conformance_engine.instances.start_instance("assigned", actor=ADMIN)
    assert refused.value.details["element_id"] == "review" and "unknown variable 'reviewer'" in str(refused.value)
    started = conformance_engine.instances.start_instance("assigned", actor=ADMIN, variables={"reviewer": "rita"})
    [task] = inspect.open_tasks(conformance_engine, started.id)
    assert task.assignee == "rita"


def test_behind_a_job_the_same_failure_is_an_incident_naming_the_element(conformance_engine):
    echo = '<bpmn:serviceTask id="fetch" camunda:type="external" camunda:topic="demo.echo"/>'
    deploy(conformance_engine, model(chain("assigned_later", START, echo, REVIEW, END)))
    started = conformance_engine.instances.start_instance("assigned_later", actor=ADMIN)
    inspect.run_pending_jobs(conformance_engine, started.id)
    [incident] = conformance_engine.queries.open_incidents(ADMIN, instance_id=started.id)
    # as in Camunda, the job whose follow-up failed holds the incident; the message names where it failed
    assert incident.element_id == "fetch"
    assert "element 'review'" in incident.message and "unknown variable 'reviewer'" in incident.message
    assert inspect.instance(conformance_engine, started.id).status == "running"


def multi(condition: str = "") -> str:
    return ('<bpmn:userTask id="sign" name="Sign"><bpmn:multiInstanceLoopCharacteristics '
            'camunda:collection="${signers}" camunda:elementVariable="signer">' + condition +
            '</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>')


def test_a_collection_written_as_an_expression_runs_one_instance_per_item(conformance_engine):
    deploy(conformance_engine, model(chain("signing", START, multi(), END)))
    started = conformance_engine.instances.start_instance("signing", actor=ADMIN,
                                                          variables={"signers": ["ann", "bob", "cy"]})
    tasks = inspect.open_tasks(conformance_engine, started.id)
    assert len(tasks) == 3
    for task in tasks:
        conformance_engine.tasks.complete_user_task(task.id, {}, actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"


def test_a_completion_condition_reads_camundas_instance_counters(conformance_engine):
    half = ("<bpmn:completionCondition>${nrOfCompletedInstances / nrOfInstances >= 0.5 "
            "and nrOfActiveInstances &lt; nrOfInstances}</bpmn:completionCondition>")
    deploy(conformance_engine, model(chain("half_signing", START, multi(half), END)))
    started = conformance_engine.instances.start_instance("half_signing", actor=ADMIN,
                                                          variables={"signers": ["ann", "bob", "cy", "dee"]})
    tasks = inspect.open_tasks(conformance_engine, started.id)
    conformance_engine.tasks.complete_user_task(tasks[0].id, {}, actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "running"
    conformance_engine.tasks.complete_user_task(tasks[1].id, {}, actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"  # 2 of 4 are enough
    assert inspect.open_tasks(conformance_engine, started.id) == []


def test_a_prefixed_message_reference_names_the_message(conformance_engine):
    wait = ('<bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="tns:paid"/>'
            '</bpmn:intermediateCatchEvent>')
    body = chain("paying", START, wait, END, extra='<bpmn:message id="paid" name="PaymentReceived"/>')
    deploy(conformance_engine, model(body.replace("<bpmn:message", '<bpmn:message xmlns:tns="x"', 1)))
    started = conformance_engine.instances.start_instance("paying", actor=ADMIN, business_key="ORDER-1")
    conformance_engine.messages.correlate_message("PaymentReceived", business_key="ORDER-1", actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"


def test_a_message_without_name_is_refused_where_it_is_used(conformance_engine):
    wait = ('<bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="nameless"/>'
            '</bpmn:intermediateCatchEvent>')
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(chain("silent", START, wait, END,
                                               extra='<bpmn:message id="nameless" name=""/>')))
    assert "element 'wait': message 'nameless' has no name" in str(refused.value)
