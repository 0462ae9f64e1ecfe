"""Event constructs with Camunda 7 semantics: event-based gateways (the first event wins, the others are
removed), event subprocesses (message and timer starts, interrupting or not, in a process or in an embedded
subprocess) and messages correlated to one recipient of a multi-instance wait. Each command restores the
stored state, so every scenario also runs saved and restored between steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.errors import InvalidModel
from orchestrator.models import MessageSubscription
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect

MESSAGES = '<bpmn:message id="m_paid" name="Paid"/><bpmn:message id="m_cancel" name="Cancelled"/>'


def flows(*pairs: tuple[str, str], prefix: str = "f") -> str:
    return "".join(f'<bpmn:sequenceFlow id="{prefix}{i}" sourceRef="{a}" targetRef="{b}"/>'
                   for i, (a, b) in enumerate(pairs))


def message_catch(element_id: str, message: str = "m_paid", key: str | None = None) -> str:
    properties = (f'<bpmn:extensionElements><camunda:properties><camunda:property name="correlationKey" '
                  f'value="{key}"/></camunda:properties></bpmn:extensionElements>') if key else ""
    return (f'<bpmn:intermediateCatchEvent id="{element_id}">{properties}<bpmn:messageEventDefinition '
            f'messageRef="{message}"/></bpmn:intermediateCatchEvent>')


def timer(duration: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>"


def process(process_id: str, body: str) -> str:
    return f'{MESSAGES}<bpmn:process id="{process_id}" isExecutable="true">{body}</bpmn:process>'


def subscriptions(engine, instance_id: str) -> list[tuple[str, str]]:
    with engine.db.transaction() as session:
        rows = session.scalars(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id))
        return sorted((row.message_name, row.element_id) for row in rows)


def state(engine, instance_id: str):
    return inspect.instance(engine, instance_id)


def open_elements(engine, instance_id: str) -> list[str]:
    return sorted(task.element_id for task in inspect.open_tasks(engine, instance_id))


def path(engine, instance_id: str) -> list[str]:
    return inspect.completed_elements(engine, instance_id)


def cancelled(engine, instance_id: str) -> list[str]:
    return [e.element_id for e in inspect.history(engine, instance_id) if e.type == "element_cancelled"]


# --- event-based gateway -------------------------------------------------------------------------------

RACE = process("race", (
    '<bpmn:startEvent id="start"/><bpmn:eventBasedGateway id="gw"/>'
    + message_catch("paid") + message_catch("cancel", "m_cancel")
    + f'<bpmn:intermediateCatchEvent id="late">{timer("P7D")}</bpmn:intermediateCatchEvent>'
    '<bpmn:endEvent id="done"/><bpmn:endEvent id="withdrawn"/><bpmn:endEvent id="timed_out"/>'
    + flows(("start", "gw"), ("gw", "paid"), ("gw", "cancel"), ("gw", "late"), ("paid", "done"),
            ("cancel", "withdrawn"), ("late", "timed_out"))))


def test_event_gateway_waits_for_each_event_and_the_message_that_comes_first_wins(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(RACE))
    row = engine.instances.start_instance("race", actor=ADMIN, business_key="R-1")
    assert subscriptions(engine, row.id) == [("Cancelled", "cancel"), ("Paid", "paid")]
    assert state(engine, row.id).next_timer_at == clock.now() + timedelta(days=7)

    engine.messages.correlate_message("Paid", actor=ADMIN, business_key="R-1", variables={"amount": 5})
    instance = state(engine, row.id)
    assert instance.status == "completed" and instance.next_timer_at is None
    assert path(engine, row.id)[-2:] == ["paid", "done"]
    assert sorted(cancelled(engine, row.id)) == ["cancel", "late"]
    assert subscriptions(engine, row.id) == []


def test_event_gateway_timer_that_comes_first_removes_the_message_subscriptions(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(RACE))
    row = engine.instances.start_instance("race", actor=ADMIN, business_key="R-2")
    clock.set(clock.now() + timedelta(days=7, seconds=1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert state(engine, row.id).status == "completed"
    assert path(engine, row.id)[-2:] == ["late", "timed_out"]
    assert sorted(cancelled(engine, row.id)) == ["cancel", "paid"]
    assert subscriptions(engine, row.id) == []
    with pytest.raises(Exception, match="no process instance is waiting"):
        engine.messages.correlate_message("Paid", actor=ADMIN, business_key="R-2")


def test_event_gateway_may_only_lead_to_catch_events(conformance_engine):
    body = process("bad_race", '<bpmn:startEvent id="start"/><bpmn:eventBasedGateway id="gw"/>'
                   '<bpmn:userTask id="work"/><bpmn:endEvent id="end"/>'
                   + flows(("start", "gw"), ("gw", "work"), ("work", "end")))
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    assert "event-based gateway 'gw'" in str(refused.value)


# --- event subprocesses --------------------------------------------------------------------------------

def event_subprocess(start: str, interrupting: bool, handler: str = "", sub_id: str = "on_event") -> str:
    """An event subprocess whose start `start` (an event definition) leads to `handler` (a user task id) or to
    its end."""
    flag = "" if interrupting else ' isInterrupting="false"'
    inner = (f'<bpmn:startEvent id="{sub_id}_start"{flag}>{start}</bpmn:startEvent>'
             f'<bpmn:endEvent id="{sub_id}_end"/>')
    if handler:
        inner += f'<bpmn:userTask id="{handler}" camunda:candidateGroups="qa"/>'
        inner += flows((f"{sub_id}_start", handler), (handler, f"{sub_id}_end"), prefix=f"{sub_id}_f")
    else:
        inner += flows((f"{sub_id}_start", f"{sub_id}_end"), prefix=f"{sub_id}_f")
    return f'<bpmn:subProcess id="{sub_id}" triggeredByEvent="true">{inner}</bpmn:subProcess>'


PAID = '<bpmn:messageEventDefinition messageRef="m_paid"/>'
MAIN = ('<bpmn:startEvent id="start"/><bpmn:userTask id="work" camunda:candidateGroups="qa"/>'
        '<bpmn:serviceTask id="book" camunda:type="external" camunda:topic="demo.echo"/>'
        '<bpmn:endEvent id="end"/>' + flows(("start", "work"), ("start", "book"), ("work", "end"), ("book", "end")))


def test_non_interrupting_message_event_subprocess_handles_each_message(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(process("noted", MAIN + event_subprocess(PAID, interrupting=False))))
    row = engine.instances.start_instance("noted", actor=ADMIN, business_key="N-1")
    assert subscriptions(engine, row.id) == [("Paid", "on_event_start")]
    for _ in range(2):
        engine.messages.correlate_message("Paid", actor=ADMIN, business_key="N-1")
    assert path(engine, row.id).count("on_event_end") == 2
    assert open_elements(engine, row.id) == ["work"]  # the main flow goes on
    assert subscriptions(engine, row.id) == [("Paid", "on_event_start")]  # and the next message is awaited

    inspect.run_pending_jobs(engine, row.id)
    [task] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(task.id, {}, actor=ADMIN)
    assert state(engine, row.id).status == "completed"  # the waiting event subprocess does not hold it
    assert subscriptions(engine, row.id) == []


def test_non_interrupting_handler_still_running_keeps_the_process_open(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(process("noted", MAIN + event_subprocess(PAID, False, handler="check"))))
    row = engine.instances.start_instance("noted", actor=ADMIN, business_key="N-2")
    engine.messages.correlate_message("Paid", actor=ADMIN, business_key="N-2")
    assert open_elements(engine, row.id) == ["check", "work"]
    inspect.run_pending_jobs(engine, row.id)
    work = next(t for t in inspect.open_tasks(engine, row.id) if t.element_id == "work")
    engine.tasks.complete_user_task(work.id, {}, actor=ADMIN)
    assert state(engine, row.id).status == "running"
    # as in Camunda, the process is still the handler's scope: a further message starts another handler
    assert subscriptions(engine, row.id) == [("Paid", "on_event_start")]
    [check] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(check.id, {}, actor=ADMIN)
    assert state(engine, row.id).status == "completed"
    assert subscriptions(engine, row.id) == []


def test_interrupting_message_event_subprocess_cancels_the_process_and_completes_it(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(process("stopped", MAIN + event_subprocess(PAID, True, handler="refund"))))
    row = engine.instances.start_instance("stopped", actor=ADMIN, business_key="I-1")
    assert [job.status for job in inspect.jobs(engine, row.id)] == ["pending"]
    engine.messages.correlate_message("Paid", actor=ADMIN, business_key="I-1", variables={"reason": "x"})
    assert open_elements(engine, row.id) == ["refund"]
    assert [job.status for job in inspect.jobs(engine, row.id)] == ["cancelled"]
    assert sorted(cancelled(engine, row.id)) == ["book", "work"]
    assert subscriptions(engine, row.id) == []
    [refund] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(refund.id, {}, actor=ADMIN)
    instance = state(engine, row.id)
    assert instance.status == "completed" and instance.variables["reason"] == "x"
    assert "end" not in path(engine, row.id)


def test_interrupting_message_event_subprocess_cancels_each_instance_of_a_multi_instance_subprocess(
        conformance_engine):
    engine = conformance_engine
    inner = ('<bpmn:startEvent id="r_start"/><bpmn:userTask id="check" camunda:assignee="${reviewer}"/>'
             '<bpmn:endEvent id="r_end"/>' + flows(("r_start", "check"), ("check", "r_end"), prefix="r"))
    body = ('<bpmn:startEvent id="start"/><bpmn:subProcess id="review"><bpmn:multiInstanceLoopCharacteristics '
            f'camunda:collection="reviewers" camunda:elementVariable="reviewer"/>{inner}</bpmn:subProcess>'
            '<bpmn:endEvent id="end"/>' + flows(("start", "review"), ("review", "end"))
            + event_subprocess(PAID, True, handler="refund"))
    deploy(engine, model(process("reviewed", body)))
    row = engine.instances.start_instance("reviewed", actor=ADMIN, business_key="M-1",
                                          variables={"reviewers": ["ann", "bob"]})
    engine.messages.correlate_message("Paid", actor=ADMIN, business_key="M-1")
    assert open_elements(engine, row.id) == ["refund"]
    assert sorted(cancelled(engine, row.id)).count("check") == 2
    [refund] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(refund.id, {}, actor=ADMIN)
    assert state(engine, row.id).status == "completed"


def test_interrupting_timer_event_subprocess_in_an_embedded_subprocess_completes_that_subprocess(
        conformance_engine, clock):
    engine = conformance_engine
    inner = ('<bpmn:startEvent id="s_start"/><bpmn:userTask id="work" camunda:candidateGroups="qa"/>'
             '<bpmn:endEvent id="s_end"/>' + flows(("s_start", "work"), ("work", "s_end"), prefix="s")
             + event_subprocess(timer("PT1H"), True, handler="escalate", sub_id="deadline"))
    body = ('<bpmn:startEvent id="start"/>' f'<bpmn:subProcess id="handle">{inner}</bpmn:subProcess>'
            '<bpmn:userTask id="after" camunda:candidateGroups="qa"/><bpmn:endEvent id="end"/>'
            + flows(("start", "handle"), ("handle", "after"), ("after", "end")))
    deploy(engine, model(process("scoped", body)))
    row = engine.instances.start_instance("scoped", actor=ADMIN)
    assert state(engine, row.id).next_timer_at == clock.now() + timedelta(hours=1)
    clock.set(clock.now() + timedelta(hours=1, seconds=1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert open_elements(engine, row.id) == ["escalate"]
    assert cancelled(engine, row.id) == ["work"]
    assert state(engine, row.id).next_timer_at is None
    [escalate] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(escalate.id, {}, actor=ADMIN)
    assert open_elements(engine, row.id) == ["after"]  # the embedded subprocess completed: its flow goes on


def test_timer_event_subprocess_that_never_fires_is_removed_when_the_process_ends(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(process("reminded", MAIN + event_subprocess(timer("P1D"), False, handler="remind"))))
    row = engine.instances.start_instance("reminded", actor=ADMIN)
    assert state(engine, row.id).next_timer_at is not None
    inspect.run_pending_jobs(engine, row.id)
    [work] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(work.id, {}, actor=ADMIN)
    instance = state(engine, row.id)
    assert instance.status == "completed" and instance.next_timer_at is None


@pytest.mark.parametrize("start, interrupting, words", [
    ('<bpmn:errorEventDefinition errorRef="E1"/>', False, "started by an error always interrupts its scope"),
    ("<bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>", True,
     "started by a timer cycle"),
    ('<bpmn:signalEventDefinition signalRef="s"/>', True, "started by a signal event"),
], ids=["non-interrupting error", "cycle", "signal"])
def test_event_subprocess_starts_not_supported_are_refused_naming_the_start(conformance_engine, start,
                                                                            interrupting, words):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(process("refused", MAIN + event_subprocess(start, interrupting))))
    assert any("on_event_start" in problem and words in problem for problem in refused.value.problems), \
        refused.value.problems


# --- one message per recipient -------------------------------------------------------------------------

def test_a_correlation_key_completes_only_the_matching_wait_of_a_multi_instance(conformance_engine):
    engine = conformance_engine
    inner = ('<bpmn:startEvent id="sent"/>' + message_catch("ack", key="recipient") + '<bpmn:endEvent id="acked"/>'
             + flows(("sent", "ack"), ("ack", "acked"), prefix="s"))
    body = ('<bpmn:startEvent id="start"/><bpmn:subProcess id="per_recipient">'
            '<bpmn:multiInstanceLoopCharacteristics camunda:collection="recipients" '
            f'camunda:elementVariable="recipient"/>{inner}</bpmn:subProcess><bpmn:endEvent id="end"/>'
            + flows(("start", "per_recipient"), ("per_recipient", "end")))
    deploy(engine, model(process("acks", body)))
    row = engine.instances.start_instance("acks", actor=ADMIN, business_key="A-1",
                                          variables={"recipients": ["A", "B"]})
    engine.messages.correlate_message("Paid", actor=ADMIN, business_key="A-1", correlation_keys={"recipient": "A"})
    assert path(engine, row.id).count("ack") == 1
    assert subscriptions(engine, row.id) == [("Paid", "ack")]
    engine.messages.correlate_message("Paid", actor=ADMIN, business_key="A-1", correlation_keys={"recipient": "B"})
    assert path(engine, row.id).count("ack") == 2
    assert state(engine, row.id).status == "completed"


def test_non_interrupting_timer_event_subprocess_fires_once_beside_the_main_flow(conformance_engine, clock):
    engine = conformance_engine
    deploy(engine, model(process("reminded", MAIN + event_subprocess(timer("P1D"), False, handler="remind"))))
    row = engine.instances.start_instance("reminded", actor=ADMIN, variables={"order": 7})
    clock.set(clock.now() + timedelta(days=1, seconds=1))
    assert engine.timers.fire_due_timers() == [row.id]
    assert open_elements(engine, row.id) == ["remind", "work"]
    assert state(engine, row.id).next_timer_at is None  # a duration fires once
    for task in inspect.open_tasks(engine, row.id):
        engine.tasks.complete_user_task(task.id, {}, actor=ADMIN)
    inspect.run_pending_jobs(engine, row.id)
    assert state(engine, row.id).status == "completed"
    assert path(engine, row.id).count("on_event_end") == 1


def test_a_message_throw_event_runs_its_implementation_as_camunda_does(conformance_engine):
    """Camunda 7 sends no message for a throw event: its camunda:type/topic (or delegate) runs like a service
    task, and without one the event passes through."""
    engine = conformance_engine
    body = ('<bpmn:message id="m_done" name="Done"/><bpmn:process id="tell" isExecutable="true">'
            '<bpmn:startEvent id="start"/><bpmn:intermediateThrowEvent id="quiet"><bpmn:messageEventDefinition '
            'messageRef="m_done"/></bpmn:intermediateThrowEvent><bpmn:intermediateThrowEvent id="notify">'
            '<bpmn:messageEventDefinition messageRef="m_done" camunda:type="external" camunda:topic="demo.echo"/>'
            '</bpmn:intermediateThrowEvent><bpmn:endEvent id="finish"><bpmn:messageEventDefinition '
            'messageRef="m_done" camunda:type="external" camunda:topic="demo.echo"/></bpmn:endEvent>'
            + flows(("start", "quiet"), ("quiet", "notify"), ("notify", "finish")) + "</bpmn:process>")
    deploy(engine, model(body))
    row = engine.instances.start_instance("tell", actor=ADMIN)
    assert [job.element_id for job in inspect.jobs(engine, row.id)] == ["notify"]
    inspect.run_pending_jobs(engine, row.id)
    assert [job.element_id for job in inspect.jobs(engine, row.id, status="pending")] == ["finish"]
    inspect.run_pending_jobs(engine, row.id)
    assert state(engine, row.id).status == "completed"
    assert [e for e in path(engine, row.id) if "__" not in e] == ["start", "quiet", "notify", "finish"]


SIGNAL = '<bpmn:signal id="s_stop" name="Stop"/>'


def test_a_signal_thrown_in_the_case_reaches_its_catch(conformance_engine):
    body = (SIGNAL + '<bpmn:process id="signals" isExecutable="true"><bpmn:startEvent id="start"/>'
            '<bpmn:parallelGateway id="fork"/><bpmn:intermediateCatchEvent id="stopped"><bpmn:signalEventDefinition '
            'signalRef="s_stop"/></bpmn:intermediateCatchEvent><bpmn:intermediateThrowEvent id="stop">'
            '<bpmn:signalEventDefinition signalRef="s_stop"/></bpmn:intermediateThrowEvent>'
            '<bpmn:parallelGateway id="join"/><bpmn:endEvent id="end"/>'
            + flows(("start", "fork"), ("fork", "stopped"), ("fork", "stop"), ("stopped", "join"), ("stop", "join"),
                    ("join", "end")) + "</bpmn:process>")
    deploy(conformance_engine, model(body))
    row = conformance_engine.instances.start_instance("signals", actor=ADMIN)
    assert "stopped" in path(conformance_engine, row.id)  # caught at once, in the thrower's own command
    assert inspect.run_pending_jobs(conformance_engine, row.id) == ["completed"]  # then the broadcast to others
    assert state(conformance_engine, row.id).status == "completed"


def waiting_for_stop(process_id: str) -> str:
    """A process whose work can be stopped by the signal Stop (a boundary event), else waits at `work`."""
    return (f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:startEvent id="start"/>'
            '<bpmn:userTask id="work"/><bpmn:endEvent id="end"/><bpmn:endEvent id="stopped_end"/>'
            '<bpmn:boundaryEvent id="stopped" attachedToRef="work"><bpmn:signalEventDefinition signalRef="s_stop"/>'
            '</bpmn:boundaryEvent>' + flows(("start", "work"), ("work", "end"), ("stopped", "stopped_end"))
            + "</bpmn:process>")


def test_a_signal_thrown_by_one_case_reaches_every_case_waiting_for_it(conformance_engine):
    engine = conformance_engine
    thrower = ('<bpmn:process id="stopper" isExecutable="true"><bpmn:startEvent id="start"/>'
               '<bpmn:intermediateThrowEvent id="stop"><bpmn:signalEventDefinition signalRef="s_stop"/>'
               '</bpmn:intermediateThrowEvent><bpmn:userTask id="after"/><bpmn:endEvent id="end"/>'
               + flows(("start", "stop"), ("stop", "after"), ("after", "end")) + "</bpmn:process>")
    deploy(engine, model(SIGNAL + waiting_for_stop("worker") + thrower))
    first = engine.instances.start_instance("worker", actor=ADMIN)
    second = engine.instances.start_instance("worker", actor=ADMIN)
    throwing = engine.instances.start_instance("stopper", actor=ADMIN)
    # the broadcast is a job after the throw: durable, retried, run after the thrower's own transaction
    [job] = inspect.jobs(engine, throwing.id)
    assert (job.topic, job.element_id) == ("loopline.send_signal", "stop__broadcast")
    assert inspect.run_pending_jobs(engine, throwing.id) == ["completed"]
    for row in (first, second):
        assert state(engine, row.id).status == "completed"
        assert path(engine, row.id)[-2:] == ["stopped", "stopped_end"]
        assert "signal_received" in [event.type for event in inspect.history(engine, row.id)]
    assert open_elements(engine, throwing.id) == ["after"]


def test_a_signal_sent_by_the_engine_sets_its_variables_in_each_catching_case(conformance_engine):
    engine = conformance_engine
    deploy(engine, model(SIGNAL + waiting_for_stop("worker")))
    waiting = engine.instances.start_instance("worker", actor=ADMIN)
    outcome = engine.bpmn_signals.send_signal("Stop", {"reason": "recall"}, actor=ADMIN)
    assert outcome.delivered == [waiting.id] and outcome.refused == {}
    assert state(engine, waiting.id).variables == {"reason": "recall"}
    assert engine.bpmn_signals.send_signal("Stop", actor=ADMIN).delivered == []  # nobody waits any more


def test_a_process_started_by_a_signal_is_refused_on_its_start_event(conformance_engine):
    body = (SIGNAL + '<bpmn:process id="signals" isExecutable="true"><bpmn:startEvent id="waiting">'
            '<bpmn:signalEventDefinition signalRef="s_stop"/></bpmn:startEvent><bpmn:endEvent id="end"/>'
            + flows(("waiting", "end")) + "</bpmn:process>")
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(body))
    assert "element 'waiting': a process started by signal 'Stop' is not supported" in str(refused.value)
