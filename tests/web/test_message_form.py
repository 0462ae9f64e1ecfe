"""The case page's form for a message the case waits for starts with the variables the model expects it to bring:
named after the catch, set by nothing in the process, not yet in the case."""

from __future__ import annotations

import re

from orchestrator.definitions import ModelFile
from tests.conftest import ADMIN
from tests.security.test_roles import sign_in
from tests.support import inspect

OWNER = ("olga@example.com", ("process_owner",), ())
MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:message id="m" name="ParcelScanned"/>
  <bpmn:process id="parcel_wait" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="heavy">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${weightKg &gt; 20 &amp;&amp; depot == "north"}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="done"/>
    <bpmn:userTask id="heavy" name="Lift it"/>
    <bpmn:sequenceFlow id="f5" sourceRef="heavy" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_the_message_form_offers_the_variables_the_model_expects(app, web_engine):
    web_engine.deployments.deploy([ModelFile("parcel_wait.bpmn", MODEL)], actor=ADMIN)
    case = web_engine.instances.start_instance("parcel_wait", actor=ADMIN, business_key="P-1",
                                               variables={"depot": "north"})
    owner = sign_in(app, *OWNER)
    page = owner.get(f"/instances/{case.id}").data.decode()
    form = page[page.index('id="case-messages"'):]
    names = re.findall(r'name="var_name"[^>]*?(?:value="([^"]*)")?>', form)
    assert names[0] == "weightKg" and names[1:] == ["", "", ""]  # depot is in the case already: not asked
    answer = owner.post(f"/instances/{case.id}/messages", follow_redirects=True, data={
        "csrf_token": owner.csrf, "message": "ParcelScanned", "var_name": ["weightKg", "", "", ""],
        "var_value": ["25", "", "", ""]})
    assert "Message ParcelScanned delivered." in answer.data.decode()
    assert [t.element_id for t in inspect.open_tasks(web_engine, case.id)] == ["heavy"]
