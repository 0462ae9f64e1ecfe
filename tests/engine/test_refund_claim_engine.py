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


@pytest.fixture(scope="module")
def assigned():
    """A small model with a fixed and an expression assignee / priority, then an external service task."""
    files = [ModelFile("assigned_review.bpmn", (FIXTURES / "assigned_review.bpmn").read_text())]
    return parse_bundle(files, max_bytes=10**7)["assigned_review"]


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


def specs_by_id(process) -> dict:
    return {s.bpmn_id: s for s in process.spec.task_specs.values() if getattr(s, "bpmn_id", None)}


def test_extensions_survive_parsing(parsed):
    specs = specs_by_id(parsed)
    approve = extensions_of(specs["approve"])
    assert approve["candidateGroups"] == "sales_manager"
    assert approve["priority"] == "70"
    assert approve["dueDate"] == repr("PT24H")  # a constant duration, evaluated when the task is made
    fields = [(f.id, f.label, f.type, [(v.name, v.config) for v in f.validation])
              for f in specs["approve"].form.fields]
    assert fields == [("approved", "Approve?", "boolean", [("required", None)]),
                      ("note", "Note", "string", [("maxlength", "200")]),
                      ("approvedAmount", "Approved amount", "long", [("min", "0")])]

    route = specs["route"]
    assert extensions_of(route)["decisionRef"] == "routing"
    assert route.dmnEngine.table.decision_id == "routing"  # the deployed DMN table is bound to the task

    remind = extensions_of(specs["remind"])
    assert (remind["type"], remind["topic"]) == ("external", "demo.echo")
    assert [(p["name"], p["value"], p["expression"]) for p in remind["inputParameters"]] == [
        ("customer", "${customer}", "customer"), ("kind", "reminder", repr("reminder"))]
    assert remind["outputParameters"] == []
    refund = extensions_of(specs["refund"])
    assert (refund["type"], refund["topic"]) == ("external", "test.refund")
    assert parsed.start_messages == []


def test_assignee_and_priority_survive_parsing(assigned):
    specs = specs_by_id(assigned)
    review = extensions_of(specs["review"])
    assert (review["assignee"], review["priority"], review["candidateUsers"]) == ("mia", "90", "carl, mia")
    assert "assigneeIsExpression" not in review and "priorityIsExpression" not in review
    assert [(f.id, f.type) for f in specs["review"].form.fields] == [("ok", "boolean")]
    second = extensions_of(specs["second_look"])  # ${…} becomes an expression evaluated with the task's data
    assert (second["assignee"], second["assigneeIsExpression"]) == ("reviewer", True)
    assert (second["priority"], second["priorityIsExpression"]) == ("urgency", True)
    post = extensions_of(specs["post"])
    assert (post["type"], post["topic"]) == ("external", "test.stock")
    assert [(p["name"], p["expression"]) for p in post["inputParameters"]] == [("sku", "sku")]
    assert [(p["name"], p["expression"]) for p in post["outputParameters"]] == [("posted", "test_stock_done")]


def _state_round_trip(workflow, process, script_engine):
    serializer = StateSerializer()
    return serializer.loads(serializer.dumps(workflow), process.spec, process.subprocess_specs, script_engine)


def _full_round_trip(workflow, process, script_engine):
    serializer = full_serializer()
    restored = serializer.deserialize_json(serializer.serialize_json(workflow))
    restored.script_engine = script_engine
    return restored


@pytest.mark.parametrize("round_trip", [_state_round_trip, _full_round_trip], ids=["state", "full"])
def test_started_external_service_task_survives_save_and_restore(assigned, round_trip):
    script_engine = SandboxedScriptEngine()
    workflow = BpmnWorkflow(assigned.spec, assigned.subprocess_specs, script_engine=script_engine)
    workflow.do_engine_steps()
    for element_id, values in (("review", {"ok": True, "reviewer": "carl", "urgency": 10, "sku": "KETTLE-2"}),
                               ("second_look", {})):
        [task] = workflow.get_tasks(state=TaskState.READY)
        assert task.task_spec.bpmn_id == element_id
        task.set_data(**values)
        task.run()
        workflow.do_engine_steps()
    [started] = [t for t in all_tasks(workflow) if t.state == TaskState.STARTED]
    assert isinstance(started.task_spec, ServiceTask) and started.task_spec.bpmn_id == "post"

    restored = round_trip(workflow, assigned, script_engine)
    [waiting] = [t for t in all_tasks(restored) if t.state == TaskState.STARTED]
    assert (waiting.id, waiting.task_spec.bpmn_id) == (started.id, "post")
    assert extensions_of(waiting.task_spec)["topic"] == "test.stock"
    assert waiting.data["sku"] == "KETTLE-2" and not restored.is_completed()

    waiting.data.update({"test_stock_done": True})
    waiting.complete()
    restored.do_engine_steps()
    assert restored.is_completed()
    done = sorted((t for t in all_tasks(restored) if t.state == TaskState.COMPLETED
                   and getattr(t.task_spec, "bpmn_id", None)), key=lambda t: t.last_state_change)
    assert [t.task_spec.bpmn_id for t in done] == ["start", "review", "second_look", "post", "end"]
    assert restored.last_task.data["test_stock_done"] is True


def test_full_serializer_handles_service_tasks(parsed):
    """SpiffWorkflow 3.2's Camunda config cannot serialize a plain ServiceTask; ours can."""
    workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=SandboxedScriptEngine())
    specs = [s for s in parsed.spec.task_specs.values() if isinstance(s, ServiceTask)]
    converted = full_serializer().registry.convert(specs[0])
    assert converted["typename"] == "ServiceTask"
    assert workflow is not None
