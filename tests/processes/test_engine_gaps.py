"""Constructs the models once had to avoid because the engine could not run them; each was pinned by a
strict xfail until the engine learned it, and now keeps it learned on the bundled models (see the README
of bpmn/ and the notes in each test)."""

from __future__ import annotations

from orchestrator.definitions import ModelFile
from tests.conftest import ADMIN
from tests.processes.driver import INTEGRATION, Run, staff
from tests.processes.test_capa import PROBLEM, ROOT_CAUSE, TEAM, classify

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="gap_defs" targetNamespace="http://loopline.dev/test">'
    '<bpmn:message id="msg_ack" name="Acknowledged" />'
)
TAIL = "</bpmn:process></bpmn:definitions>"


def flows(*pairs: tuple[str, str]) -> str:
    return "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />' for i, (a, b) in enumerate(pairs)
    )


def deploy(engine, process_id: str, body: str) -> None:
    engine.deployments.deploy(
        [
            ModelFile(
                f"{process_id}.bpmn",
                f'{HEAD}<bpmn:process id="{process_id}" isExecutable="true">{body}{TAIL}',
            )
        ],
        actor=ADMIN,
    )


def test_countersign_verdicts_reach_the_process(fast_engine):
    run = Run.start(fast_engine, "capa", {"source": "audit", "sku": "KETTLE-2", "problemSummary": "x"})
    classify(run, capa_type="packaging", severity="major", party="warehouse")
    run.run_jobs("open_capa_ticket")
    run.complete("form_team", TEAM)
    run.complete("describe_problem", PROBLEM)
    run.complete("define_containment", {"containmentActions": "none", "quarantineStock": False})
    run.complete("analyse_root_cause", ROOT_CAUSE)
    tasks = run.open_tasks()
    assert len(tasks) > 1
    for task in tasks:
        verdict = "object" if task.candidate_groups == ["engineering"] else "agree"
        fast_engine.tasks.complete_user_task(
            task.id, {"countersignVerdict": verdict}, actor=staff(task.candidate_groups[0])
        )
    # Camunda: the last completion's variables land in the process; the element variable stays local
    assert run.variables["countersignVerdict"] == verdict
    assert "department" not in run.variables
    assert run.open_task_ids() == ["review_countersign"]


def test_event_based_gateway_waits_for_a_message_or_a_timer(fast_engine):
    deploy(
        fast_engine,
        "gap_event_gateway",
        (
            '<bpmn:startEvent id="start" /><bpmn:eventBasedGateway id="gw" />'
            '<bpmn:intermediateCatchEvent id="ack"><bpmn:messageEventDefinition messageRef="msg_ack" />'
            "</bpmn:intermediateCatchEvent>"
            '<bpmn:intermediateCatchEvent id="late"><bpmn:timerEventDefinition><bpmn:timeDuration>P7D</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
            '<bpmn:endEvent id="done" /><bpmn:endEvent id="timed_out" />'
            + flows(("start", "gw"), ("gw", "ack"), ("gw", "late"), ("ack", "done"), ("late", "timed_out"))
        ),
    )
    run = Run.start(fast_engine, "gap_event_gateway", {}, business_key="EG-1")
    fast_engine.messages.correlate_message("Acknowledged", actor=INTEGRATION, business_key="EG-1")
    assert run.path[-1] == "done"


def test_one_recipient_acknowledges_in_a_multi_instance_wait(fast_engine):
    deploy(
        fast_engine,
        "gap_per_recipient",
        (
            '<bpmn:startEvent id="start" />'
            '<bpmn:subProcess id="per_recipient"><bpmn:multiInstanceLoopCharacteristics camunda:collection="recipients" '
            'camunda:elementVariable="recipient" />'
            '<bpmn:startEvent id="sent" />'
            '<bpmn:intermediateCatchEvent id="ack"><bpmn:extensionElements><camunda:properties>'
            '<camunda:property name="correlationKey" value="recipient" /></camunda:properties></bpmn:extensionElements>'
            '<bpmn:messageEventDefinition messageRef="msg_ack" /></bpmn:intermediateCatchEvent>'
            '<bpmn:endEvent id="acked" />'
            + flows(("sent", "ack"), ("ack", "acked")).replace('id="f', 'id="s')
            + '</bpmn:subProcess><bpmn:endEvent id="all_acked" />'
            + flows(("start", "per_recipient"), ("per_recipient", "all_acked"))
        ),
    )
    run = Run.start(fast_engine, "gap_per_recipient", {"recipients": ["A", "B", "C"]}, business_key="PR-1")
    fast_engine.messages.correlate_message(
        "Acknowledged", actor=INTEGRATION, business_key="PR-1", correlation_keys={"recipient": "A"}
    )
    assert run.path.count("ack") == 1


def test_event_subprocess_handles_each_acknowledgement(fast_engine):
    deploy(
        fast_engine,
        "gap_event_subprocess",
        (
            '<bpmn:startEvent id="start" /><bpmn:userTask id="work" camunda:candidateGroups="qa" /><bpmn:endEvent id="end" />'
            + flows(("start", "work"), ("work", "end"))
            + '<bpmn:subProcess id="on_ack" triggeredByEvent="true"><bpmn:startEvent id="ack" isInterrupting="false">'
            '<bpmn:messageEventDefinition messageRef="msg_ack" /></bpmn:startEvent><bpmn:endEvent id="ack_done" />'
            + flows(("ack", "ack_done")).replace('id="f', 'id="e')
            + "</bpmn:subProcess>"
        ),
    )
    run = Run.start(fast_engine, "gap_event_subprocess", {}, business_key="ES-1")
    for _ in range(2):
        fast_engine.messages.correlate_message("Acknowledged", actor=INTEGRATION, business_key="ES-1")
    assert run.path.count("ack_done") == 2
