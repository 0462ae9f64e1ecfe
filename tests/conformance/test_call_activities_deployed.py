"""Call activities whose called process is deployed separately resolve against deployed definitions, as in
Camunda 7: binding latest when the call starts (a running call keeps its version), deployment, version."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


def child(task_id: str, extra: str = "") -> str:
    """The called process: one user task `task_id`, so a test sees which version runs."""
    return f"""<bpmn:process id="child" isExecutable="true">
      <bpmn:startEvent id="child_start"/><bpmn:sequenceFlow id="c1" sourceRef="child_start" targetRef="{task_id}"/>
      <bpmn:userTask id="{task_id}" name="Child work"/>{extra}
      <bpmn:sequenceFlow id="c2" sourceRef="{task_id}" targetRef="child_end"/><bpmn:endEvent id="child_end"/>
    </bpmn:process>"""


def caller(attributes: str = 'calledElement="child"', mappings: str = "", process_id: str = "caller") -> str:
    return f"""<bpmn:process id="{process_id}" isExecutable="true">
      <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
      <bpmn:callActivity id="call" {attributes}>
        <bpmn:extensionElements>{mappings}</bpmn:extensionElements></bpmn:callActivity>
      <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="after"/><bpmn:userTask id="after" name="After"/>
      <bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/><bpmn:endEvent id="end"/>
    </bpmn:process>"""


def start(engine, key: str = "caller", **variables) -> str:
    return engine.instances.start_instance(key, actor=ADMIN, variables=variables).id


def open_elements(engine, instance_id: str) -> list[str]:
    return sorted(task.element_id for task in inspect.open_tasks(engine, instance_id))


def complete_only_task(engine, instance_id: str, variables: dict | None = None) -> str:
    [task] = inspect.open_tasks(engine, instance_id)
    engine.tasks.complete_user_task(task.id, variables or {}, actor=ADMIN)
    return task.element_id


def forget_specs(engine) -> None:
    """Drop every parsed spec, as a fresh worker process has none: the next command restores from the database."""
    engine.definitions._parsed.clear()
    engine.called_processes._specs.clear()


def test_a_parent_deployed_after_its_child_calls_it_with_its_mappings(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(child("child_work"), "child.bpmn"))
    deploy(engine, model(caller(mappings='<camunda:in source="order" target="orderNumber"/>'
                                         '<camunda:out source="verdict" target="childVerdict"/>'), "caller.bpmn"))
    instance_id = start(engine, order="SO-1", secret="s3")
    assert open_elements(engine, instance_id) == ["child_work"]
    forget_specs(engine)
    complete_only_task(engine, instance_id, {"verdict": "ok", "order": "SO-2"})
    assert open_elements(engine, instance_id) == ["after"]
    variables = inspect.instance(engine, instance_id).variables
    assert (variables["childVerdict"], variables["order"], variables["secret"]) == ("ok", "SO-1", "s3")
    assert "verdict" not in variables
    complete_only_task(engine, instance_id)
    assert inspect.instance(engine, instance_id).status == "completed"
    assert inspect.completed_elements(engine, instance_id)[-3:] == ["call", "after", "end"]


def test_binding_latest_takes_a_new_version_for_new_calls_while_a_running_call_keeps_its_own(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(child("work_v1"), "child.bpmn"))
    deploy(engine, model(caller(), "caller.bpmn"))
    running = start(engine)
    assert open_elements(engine, running) == ["work_v1"]

    [redeployed] = deploy(engine, model(child("work_v2"), "child.bpmn"))
    assert redeployed.version == 2
    later = start(engine)
    assert open_elements(engine, later) == ["work_v2"]

    for cold in (False, True):  # with the specs cached, and restored by a process that never saw them
        if cold:
            forget_specs(engine)
        assert open_elements(engine, running) == ["work_v1"]
    assert complete_only_task(engine, running) == "work_v1"
    assert open_elements(engine, running) == ["after"]
    assert "work_v1" in inspect.completed_elements(engine, running)
    assert complete_only_task(engine, later) == "work_v2"
    assert open_elements(engine, later) == ["after"]


def test_binding_version_calls_the_version_it_names(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(child("work_v1"), "child.bpmn"))
    deploy(engine, model(child("work_v2"), "child.bpmn"))
    deploy(engine, model(caller('calledElement="child" camunda:calledElementBinding="version" '
                                'camunda:calledElementVersion="1"'), "caller.bpmn"))
    instance_id = start(engine)
    assert open_elements(engine, instance_id) == ["work_v1"]
    forget_specs(engine)
    assert complete_only_task(engine, instance_id) == "work_v1"
    assert open_elements(engine, instance_id) == ["after"]


def test_binding_version_naming_a_version_never_deployed_is_refused_naming_the_call(conformance_engine):
    deploy(conformance_engine, model(child("work_v1"), "child.bpmn"))
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(caller('calledElement="child" camunda:calledElementBinding="version" '
                                                'camunda:calledElementVersion="4"'), "caller.bpmn"))
    assert "element 'call'" in str(refused.value) and "4" in str(refused.value)


def test_binding_deployment_keeps_the_version_deployed_with_the_caller(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(caller('calledElement="child" camunda:calledElementBinding="deployment"')
                         + child("work_v1"), "bundle.bpmn"))
    deploy(engine, model(child("work_v2"), "child.bpmn"))
    instance_id = start(engine)
    assert open_elements(engine, instance_id) == ["work_v1"]
    assert complete_only_task(engine, instance_id) == "work_v1"
    assert open_elements(engine, instance_id) == ["after"]


def test_binding_deployment_to_a_process_outside_the_deployment_is_refused(conformance_engine):
    deploy(conformance_engine, model(child("work_v1"), "child.bpmn"))
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(caller('calledElement="child" camunda:calledElementBinding="deployment"'),
                                         "caller.bpmn"))
    assert "element 'call'" in str(refused.value)


def test_a_called_element_naming_no_process_is_refused_at_deploy_naming_the_call(conformance_engine):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(caller('calledElement="nowhere"'), "caller.bpmn"))
    assert "caller.bpmn: element 'call'" in str(refused.value) and "'nowhere'" in str(refused.value)


def test_binding_version_tag_is_refused_naming_the_call(conformance_engine):
    deploy(conformance_engine, model(child("work_v1"), "child.bpmn"))
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(caller('calledElement="child" camunda:calledElementBinding="versionTag" '
                                                'camunda:calledElementVersionTag="v1"'), "caller.bpmn"))
    assert "call" in str(refused.value) and "versionTag" in str(refused.value)


def test_an_expression_called_element_resolves_when_the_call_starts(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(child("work_v1"), "child.bpmn"))
    deploy(engine, model(caller('calledElement="${target}"'), "caller.bpmn"))
    instance_id = start(engine, target="child")
    assert open_elements(engine, instance_id) == ["work_v1"]
    with pytest.raises(ProcessError) as failed:
        start(engine, target="nowhere")
    assert failed.value.details["element_id"] == "call" and "'nowhere'" in str(failed.value)


def test_versions_of_a_called_process_with_the_same_embedded_subprocess_stay_apart(conformance_engine):
    engine = conformance_engine

    def with_subprocess(task_id: str) -> str:
        return f"""<bpmn:process id="child" isExecutable="true">
          <bpmn:startEvent id="child_start"/><bpmn:sequenceFlow id="c1" sourceRef="child_start" targetRef="sub"/>
          <bpmn:subProcess id="sub"><bpmn:startEvent id="sub_start"/>
            <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="{task_id}"/>
            <bpmn:userTask id="{task_id}"/><bpmn:sequenceFlow id="s2" sourceRef="{task_id}" targetRef="sub_end"/>
            <bpmn:endEvent id="sub_end"/></bpmn:subProcess>
          <bpmn:sequenceFlow id="c2" sourceRef="sub" targetRef="child_end"/><bpmn:endEvent id="child_end"/>
        </bpmn:process>"""

    deploy(engine, model(with_subprocess("inner_v1"), "child.bpmn"))
    deploy(engine, model(caller() + """<bpmn:process id="two_calls" isExecutable="true">
      <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="t1" sourceRef="s" targetRef="first"/>
      <bpmn:callActivity id="first" calledElement="child"/>
      <bpmn:sequenceFlow id="t2" sourceRef="first" targetRef="wait"/><bpmn:userTask id="wait"/>
      <bpmn:sequenceFlow id="t3" sourceRef="wait" targetRef="second"/>
      <bpmn:callActivity id="second" calledElement="child"/>
      <bpmn:sequenceFlow id="t4" sourceRef="second" targetRef="e"/><bpmn:endEvent id="e"/>
    </bpmn:process>""", "callers.bpmn"))
    instance_id = start(engine, "two_calls")
    assert complete_only_task(engine, instance_id) == "inner_v1"
    assert open_elements(engine, instance_id) == ["wait"]
    deploy(engine, model(with_subprocess("inner_v2"), "child.bpmn"))
    forget_specs(engine)
    assert complete_only_task(engine, instance_id) == "wait"
    assert complete_only_task(engine, instance_id) == "inner_v2"
    assert inspect.instance(engine, instance_id).status == "completed"


def test_a_service_task_of_the_called_process_gets_its_job(conformance_engine):
    engine = conformance_engine
    deploy(engine, model("""<bpmn:process id="child" isExecutable="true">
      <bpmn:startEvent id="child_start"/><bpmn:sequenceFlow id="c1" sourceRef="child_start" targetRef="fetch"/>
      <bpmn:serviceTask id="fetch" camunda:type="external" camunda:topic="demo.echo"/>
      <bpmn:sequenceFlow id="c2" sourceRef="fetch" targetRef="child_end"/><bpmn:endEvent id="child_end"/>
    </bpmn:process>""", "child.bpmn"))
    deploy(engine, model(caller(), "caller.bpmn"))
    instance_id = start(engine)
    [job] = inspect.jobs(engine, instance_id)
    assert job.element_id == "fetch"
    forget_specs(engine)
    inspect.run_pending_jobs(engine, instance_id)
    assert open_elements(engine, instance_id) == ["after"]
