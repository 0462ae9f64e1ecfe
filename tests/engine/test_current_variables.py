"""What a reader sees as a case's variables while it runs (the case page, the inbox, the API)."""

from __future__ import annotations

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState

from orchestrator.definitions import ModelFile, parse_bundle
from orchestrator.engine import current_variables
from orchestrator.serialization import StateSerializer
from tests.conftest import FIXTURES


def test_a_branch_waiting_at_a_join_shows_what_it_brought():
    parsed = parse_bundle([ModelFile("parallel_join.bpmn", (FIXTURES / "parallel_join.bpmn").read_text())],
                          max_bytes=10**6)["parallel_join"]
    workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs)
    workflow.do_engine_steps()
    [branch_a] = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == "a"]
    branch_a.set_data(x="from A")
    branch_a.run()
    workflow.do_engine_steps()
    assert current_variables(workflow) == {"x": "from A"}  # branch B still open, A waits at the join

    serializer = StateSerializer()
    restored = serializer.loads(serializer.dumps(workflow), parsed.spec, parsed.subprocess_specs, None)
    assert current_variables(restored) == {"x": "from A"}
