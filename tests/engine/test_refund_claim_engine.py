"""Engine ring: the fixture model on SpiffWorkflow alone (no database), each scenario run twice —
straight through, and saved + restored after every step — and both must take the same path."""

from __future__ import annotations

from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState

from orchestrator.clock import ManualClock, using_clock
from orchestrator.definitions import ModelFile, parse_bundle
from orchestrator.effects import all_tasks, next_timer_at
from orchestrator.parser import MessageEventDefinition, extensions_of
from orchestrator.script_engine import SandboxedScriptEngine
from orchestrator.serialization import StateSerializer, full_serializer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def parsed():
    files = [ModelFile(n, (FIXTURES / n).read_text()) for n in ("refund_claim.bpmn", "routing.dmn")]
    return parse_bundle(files, max_bytes=10**7)["refund_claim"]


class Driver:
    """Drives a workflow like the engine does, optionally through a save/restore after every step."""

    def __init__(self, parsed, restore: bool):
        self.parsed = parsed
        self.restore = restore
        self.clock = ManualClock()
        self.script_engine = SandboxedScriptEngine()
        self.serializer = StateSerializer()
        with using_clock(self.clock):
            self.workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=self.script_engine)

    def step(self, action=None):
        with using_clock(self.clock):
            if action is not None:
                action(self.workflow)
            self.workflow.refresh_timers()
            self.workflow.do_engine_steps()
            if self.restore:
                text = self.serializer.dumps(self.workflow)
                self.workflow = self.serializer.loads(text, self.parsed.spec, self.parsed.subprocess_specs,
                                                      self.script_engine)

    def start(self, **variables):
        def seed(workflow):
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(variables)
        self.step(seed)

    def ready(self, element_id):
        [task] = [t for t in all_tasks(self.workflow)
                  if t.state == TaskState.READY and t.task_spec.bpmn_id == element_id]
        return task

    def started_service(self, element_id):
        return [t for t in all_tasks(self.workflow) if t.state == TaskState.STARTED
                and isinstance(t.task_spec, ServiceTask) and t.task_spec.bpmn_id == element_id]

    def complete(self, element_id, **values):
        def run(workflow):
            task = self.ready(element_id)
            task.set_data(**values)
            task.run()
        self.step(run)

    def finish_job(self, element_id, **result):
        def run(workflow):
            [task] = self.started_service(element_id)
            task.data.update(result)
            task.complete()
        self.step(run)

    def message(self, name, **variables):
        self.step(lambda wf: wf.send_event(BpmnEvent(MessageEventDefinition(name), {"payload": variables})))

    def path(self):
        done = [t for t in all_tasks(self.workflow) if t.state == TaskState.COMPLETED
                and getattr(t.task_spec, "bpmn_id", None)]
        return [t.task_spec.bpmn_id for t in sorted(done, key=lambda t: t.last_state_change)]


SCENARIOS = {}


def scenario(function):
    SCENARIOS[function.__name__] = function
    return function


@scenario
def small_refund(d: Driver):
    d.start(amount=700, customer="ACME")
    assert d.workflow.last_task.data.get("route") == "auto"
    d.finish_job("refund", refunded=True)
    d.message("ParcelReceived", carrier="DHL")
    assert d.workflow.is_completed()
    return d.path()


@scenario
def approved_refund(d: Driver):
    d.start(amount=7000, customer="ACME")
    d.complete("approve", approved=True)
    d.finish_job("refund")
    d.message("ParcelReceived")
    assert d.workflow.is_completed()
    return d.path()


@scenario
def rejected(d: Driver):
    d.start(amount=7000, customer="ACME")
    d.complete("approve", approved=False)
    assert d.workflow.is_completed()
    return d.path()


@scenario
def reminder_then_approval(d: Driver):
    d.start(amount=7000, customer="ACME")
    assert next_timer_at(d.workflow) is not None
    d.clock.advance(seconds=2)
    d.step()
    assert d.started_service("remind") and d.ready("approve")
    d.finish_job("remind")
    d.complete("approve", approved=False)
    assert d.workflow.is_completed()
    return d.path()


@scenario
def escalation(d: Driver):
    d.start(amount=7000, customer="ACME")
    d.clock.advance(hours=1, seconds=1)
    d.step()
    assert "escalated_end" in d.path()
    return d.path()


@pytest.mark.parametrize("name", SCENARIOS)
def test_same_path_with_and_without_save_restore(parsed, name):
    straight = SCENARIOS[name](Driver(parsed, restore=False))
    restored = SCENARIOS[name](Driver(parsed, restore=True))
    assert straight == restored
    assert straight[0] == "start"


def test_extensions_survive_parsing(parsed):
    specs = {s.bpmn_id: s for s in parsed.spec.task_specs.values() if getattr(s, "bpmn_id", None)}
    assert extensions_of(specs["approve"])["candidateGroups"] == "sales_manager"
    assert extensions_of(specs["approve"])["priority"] == "70"
    assert extensions_of(specs["refund"])["topic"] == "test.refund"
    assert extensions_of(specs["remind"])["inputParameters"][0]["name"] == "customer"
    assert parsed.start_messages == []


def test_full_serializer_handles_service_tasks(parsed):
    """SpiffWorkflow 3.2's Camunda config cannot serialize a plain ServiceTask; ours can."""
    workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=SandboxedScriptEngine())
    specs = [s for s in parsed.spec.task_specs.values() if isinstance(s, ServiceTask)]
    converted = full_serializer().registry.convert(specs[0])
    assert converted["typename"] == "ServiceTask"
    assert workflow is not None
