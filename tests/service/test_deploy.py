"""Deployments: versioned and idempotent; hostile or broken models rejected with the element named, nothing stored."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidModel
from orchestrator.models import Deployment, DeploymentResource, ProcessDefinition
from tests.conftest import ADMIN, FIXTURES

GOOD = (FIXTURES / "refund_claim.bpmn").read_text()
DMN = (FIXTURES / "routing.dmn").read_text()


def bundle(bpmn: str = GOOD, dmn: str = DMN) -> list[ModelFile]:
    return [ModelFile("refund_claim.bpmn", bpmn), ModelFile("routing.dmn", dmn)]


def stored_rows(engine) -> tuple[int, int, int]:
    with engine.db.transaction() as session:
        return tuple(session.scalar(select(func.count()).select_from(table))
                     for table in (Deployment, DeploymentResource, ProcessDefinition))


@pytest.fixture
def bare_engine(make_engine, database):
    return make_engine(database)


def test_same_content_keeps_its_version_and_a_change_makes_a_new_one(bare_engine):
    [first] = bare_engine.deployments.deploy(bundle(), actor=ADMIN)
    [again] = bare_engine.deployments.deploy(bundle(), actor=ADMIN)
    assert (first.version, first.new) == (1, True)
    assert (again.id, again.version, again.new) == (first.id, 1, False)
    [changed] = bare_engine.deployments.deploy(bundle(GOOD.replace('name="Approve refund"', 'name="Approve the refund"')),
                                   actor=ADMIN)
    assert (changed.version, changed.new) == (2, True)
    assert stored_rows(bare_engine) == (2, 4, 2)


def test_running_instances_keep_their_version(bare_engine):
    bare_engine.deployments.deploy(bundle(), actor=ADMIN)
    old = bare_engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 9000, "customer": "x"})
    bare_engine.deployments.deploy(bundle(GOOD.replace("PT24H", "PT48H")), actor=ADMIN)
    new = bare_engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 9000, "customer": "x"})
    assert new.definition_id != old.definition_id
    assert bare_engine.definitions.get(None, old.definition_id) is not None  # still served from the cache


HOSTILE_CONDITIONS = {
    "import": "${__import__('os').system('id')}",
    "plain_import": "__import__('os').system('id')",
    "class_walk": "().__class__.__base__.__subclasses__()",
    "juel_class_walk": "${''.__class__}",
}


@pytest.mark.parametrize("condition", HOSTILE_CONDITIONS.values(), ids=HOSTILE_CONDITIONS.keys())
def test_unsafe_condition_is_rejected_naming_the_flow(bare_engine, condition):
    hostile = GOOD.replace("${amount &gt; 5000}", condition.replace("&", "&amp;").replace("'", "&apos;"))
    with pytest.raises(InvalidModel) as caught:
        bare_engine.deployments.deploy(bundle(hostile), actor=ADMIN)
    assert any("element 'f_big'" in problem for problem in caught.value.problems), caught.value.problems
    assert stored_rows(bare_engine) == (0, 0, 0)


def test_unknown_topic_and_bad_timer_are_rejected_at_deploy_time(bare_engine):
    broken = GOOD.replace('camunda:topic="test.refund"', 'camunda:topic="erp.nowhere"').replace(
        "<bpmn:timeDuration>PT1H</bpmn:timeDuration>", "<bpmn:timeDuration>one hour</bpmn:timeDuration>")
    with pytest.raises(InvalidModel) as caught:
        bare_engine.deployments.deploy(bundle(broken), actor=ADMIN)
    text = " ".join(caught.value.problems)
    assert "escalate_timer" in text
    assert stored_rows(bare_engine) == (0, 0, 0)
    with pytest.raises(InvalidModel) as caught:
        bare_engine.deployments.deploy(bundle(GOOD.replace('camunda:topic="test.refund"', 'camunda:topic="erp.nowhere"')),
                           actor=ADMIN)
    assert any("element 'refund'" in p and "erp.nowhere" in p for p in caught.value.problems)


def test_bad_dmn_cell_is_rejected_naming_the_decision(bare_engine):
    with pytest.raises(InvalidModel) as caught:
        bare_engine.deployments.deploy(bundle(dmn=DMN.replace("[1000..5000]", "date(&quot;2020&quot;)")), actor=ADMIN)
    assert "routing" in " ".join(caught.value.problems)
    assert stored_rows(bare_engine) == (0, 0, 0)


XXE = """<?xml version="1.0"?>
<!DOCTYPE bpmn [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" name="&xxe;"/></bpmn:process>
</bpmn:definitions>"""

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" name="&lol3;"/></bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("content, expected", [
    ("<bpmn:definitions><unclosed>", "malformed XML"),
    (XXE, "DOCTYPE"),
    (BOMB, "DOCTYPE"),
    ("x" * 6_000_000, "limit"),
], ids=["malformed", "xxe", "entity-bomb", "too-large"])
def test_hostile_xml_is_rejected_and_nothing_is_stored(bare_engine, content, expected):
    with pytest.raises(InvalidModel) as caught:
        bare_engine.deployments.deploy([ModelFile("evil.bpmn", content)], actor=ADMIN)
    assert expected in " ".join(caught.value.problems)
    assert stored_rows(bare_engine) == (0, 0, 0)


def test_non_interrupting_error_event_subprocess_is_rejected_naming_its_start(bare_engine):
    subprocess = """<bpmn:subProcess id="esp" triggeredByEvent="true">
      <bpmn:startEvent id="esp_start" isInterrupting="false"><bpmn:errorEventDefinition id="esp_error"/></bpmn:startEvent>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f_start\""""
    with pytest.raises(InvalidModel) as caught:
        bare_engine.deployments.deploy(bundle(GOOD.replace('<bpmn:sequenceFlow id="f_start"', subprocess)), actor=ADMIN)
    assert any("esp_start" in p and "started by an error always interrupts" in p for p in caught.value.problems)


def test_interrupting_message_event_subprocess_is_accepted(bare_engine):
    subprocess = """<bpmn:subProcess id="esp" triggeredByEvent="true">
      <bpmn:startEvent id="esp_start"><bpmn:messageEventDefinition id="esp_msg" messageRef="msg_parcel"/></bpmn:startEvent>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f_start\""""
    bare_engine.deployments.deploy(bundle(GOOD.replace('<bpmn:sequenceFlow id="f_start"', subprocess)), actor=ADMIN)
