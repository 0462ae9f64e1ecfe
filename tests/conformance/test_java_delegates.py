"""Java delegates, mapped: `camunda:class`, `camunda:delegateExpression` and `camunda:expression` run the
Python connector that declares the name; an unmapped one is refused at deploy naming the element."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect


class Archive:
    """A connector standing in for a Camunda example's Java service."""

    topic = "archive.invoice"
    timeout = 5.0
    system = None
    delegates = ("org.camunda.bpm.example.invoice.service.ArchiveInvoiceService", "archiveService",
                 "${archive.store(execution)}")

    def __init__(self):
        self.calls = []

    def run(self, variables, context):
        self.calls.append((context.element_id, variables.get("invoice")))
        return {"archived": True}


def delegating(attribute: str, value: str) -> str:
    return f"""<bpmn:process id="invoice" isExecutable="true">
      <bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="archive"/>
      <bpmn:serviceTask id="archive" name="Archive invoice" camunda:{attribute}="{value}"/>
      <bpmn:sequenceFlow id="f2" sourceRef="archive" targetRef="end"/><bpmn:endEvent id="end"/>
    </bpmn:process>"""


@pytest.mark.parametrize(("attribute", "value"), [
    ("class", "org.camunda.bpm.example.invoice.service.ArchiveInvoiceService"),
    ("delegateExpression", "${archiveService}"),
    ("delegateExpression", "#{archiveService}"),
    ("expression", "${archive.store(execution)}"),
])
def test_a_mapped_java_delegate_runs_its_connector(conformance_engine, attribute, value):
    archive = conformance_engine.connectors.register(Archive())
    deploy(conformance_engine, model(delegating(attribute, value)))
    started = conformance_engine.instances.start_instance("invoice", actor=ADMIN, variables={"invoice": "INV-7"})
    [job] = inspect.jobs(conformance_engine, started.id)
    assert (job.topic, job.element_id) == ("archive.invoice", "archive")
    assert inspect.run_pending_jobs(conformance_engine, started.id) == ["completed"]
    assert archive.calls == [("archive", "INV-7")]
    assert inspect.instance(conformance_engine, started.id).status == "completed"


def test_an_unmapped_java_delegate_is_refused_naming_the_element(conformance_engine):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(delegating("class", "com.acme.Unknown")))
    message = str(refused.value)
    assert "element 'archive'" in message and "camunda:class 'com.acme.Unknown' names Java code" in message
