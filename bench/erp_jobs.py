"""Jobs that wait on an outside system: bench_jobs with both service tasks POSTing to a stand-in ERP
(tests.support.http_stub.StubServer, answering after a fixed delay) through the real `http.request` connector.
Service tasks in real processes wait on such systems for tens of milliseconds; while one worker waits, a
second one can work.
"""

from __future__ import annotations

from orchestrator.definitions import ModelFile


def bench_erp_model(url: str) -> ModelFile:
    """start → book stock (POST to the ERP) → notify (POST) → end."""
    calls = "".join(f"""
    <bpmn:serviceTask id="{step}" camunda:type="external" camunda:topic="http.request">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="method">POST</camunda:inputParameter>
        <camunda:inputParameter name="url">{url}/{step}</camunda:inputParameter>
        <camunda:inputParameter name="body"><camunda:map><camunda:entry key="step">{step}</camunda:entry></camunda:map></camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>{outgoing}</bpmn:outgoing>
    </bpmn:serviceTask>""" for step, incoming, outgoing in (("book", "f1", "f2"), ("notify", "f2", "f3")))
    return ModelFile("bench_erp_jobs.bpmn", f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench_erp_defs" targetNamespace="http://loopline.dev/bench">
  <bpmn:process id="bench_erp_jobs" name="Bench jobs that wait on an ERP" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>{calls}
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="book" />
    <bpmn:sequenceFlow id="f2" sourceRef="book" targetRef="notify" />
    <bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""")
