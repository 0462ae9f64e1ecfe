"""JavaScript script tasks run as in Camunda 7: variables by name, writes through `execution`, the script's value
kept by `camunda:resultVariable`; a faulty script is refused at deploy or stops the command naming the element."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidModel, ProcessError
from orchestrator.expressions import ScriptError
from orchestrator.expressions.javascript import run_javascript
from tests.conformance.conftest import deploy, model
from tests.conformance.test_runtime_values import END, START, chain
from tests.conftest import ADMIN
from tests.support import inspect

WAIT = '<bpmn:userTask id="wait"/>'


def script(text: str, script_format: str = "javascript", extra: str = "") -> str:
    return (f'<bpmn:scriptTask id="work" name="Work" scriptFormat="{script_format}"{extra}>'
            f"<bpmn:script><![CDATA[{text}]]></bpmn:script></bpmn:scriptTask>")


def test_a_javascript_script_reads_variables_and_writes_through_execution(conformance_engine):
    text = """
      var total = 0;
      for (var i = 0; i < items.length; i++) { total += items[i].qty; }
      execution.setVariable("total", total);
      execution.setVariable("key", execution.getBusinessKey() + "/" + execution.getCurrentActivityId());
      execution.removeVariable("draft");
      scratch = "a global, not a process variable";
      total * 2"""
    deploy(conformance_engine, model(chain("p", START, script(text, "JavaScript",
                                                               ' camunda:resultVariable="doubled"'), WAIT, END)))
    started = conformance_engine.instances.start_instance(
        "p", actor=ADMIN, business_key="RMA-7", variables={"items": [{"qty": 2}, {"qty": 3}], "draft": True})
    variables = inspect.instance(conformance_engine, started.id).variables
    assert variables["total"] == 5 and variables["doubled"] == 10 and variables["key"] == "RMA-7/work"
    assert "draft" not in variables and "scratch" not in variables and "i" not in variables
    # the instance was saved waiting at the user task; it goes on from the stored state
    [task] = inspect.open_tasks(conformance_engine, started.id)
    conformance_engine.tasks.complete_user_task(task.id, {}, actor=ADMIN)
    assert inspect.instance(conformance_engine, started.id).status == "completed"


def test_a_script_that_fails_stops_the_command_naming_the_element_and_line(conformance_engine):
    deploy(conformance_engine, model(chain("p", START, script("var a = 1;\nmissing.field"), WAIT, END)))
    with pytest.raises(ProcessError) as refused:
        conformance_engine.instances.start_instance("p", actor=ADMIN)
    assert refused.value.details["element_id"] == "work"
    assert "JavaScript line 2: ReferenceError: 'missing' is not defined" in str(refused.value)


def test_a_script_that_never_ends_is_stopped_by_its_time_limit(conformance_engine):
    deploy(conformance_engine, model(chain("p", START, script("while (true) {}"), WAIT, END)))
    with pytest.raises(ProcessError) as refused:
        conformance_engine.instances.start_instance("p", actor=ADMIN)
    assert refused.value.details["element_id"] == "work" and "exceeded its time limit" in str(refused.value)


def test_a_javascript_syntax_error_is_refused_at_deploy_naming_the_element_and_line(conformance_engine):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(chain("p", START, script("var a = 1;\nvar b = (a;"), END)))
    assert "element 'work': script: JavaScript line 2: SyntaxError" in str(refused.value), str(refused.value)


def test_a_script_from_a_resource_is_refused_on_its_element(conformance_engine):
    task = ('<bpmn:scriptTask id="work" scriptFormat="javascript" camunda:resource="deployment://work.js"/>')
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, model(chain("p", START, task, END)))
    assert "element 'work': a script loaded from camunda:resource is not supported" in str(refused.value)


@pytest.mark.parametrize(("text", "words"), [
    ("var parts = []; for (;;) parts.push(new Array(100000).fill(1));", "more than 64 MB of memory"),
    ("function deeper() { return deeper(); } deeper();", "stack overflow"),
    ('execution.setVariable("big", "x".repeat(9000000));', "the variables the script set are too large"),
    ("var loop = {}; loop.self = loop; execution.setVariable('loop', loop);", "circular"),
    ("typeof require + typeof process + typeof std + typeof os + typeof fetch + typeof XMLHttpRequest", None),
])
def test_the_javascript_sandbox_has_limits_and_no_way_out(text, words):
    if words is None:  # nothing to reach files, the network or the host: every such name is undefined
        assert run_javascript(text, {}, {}, 1.0)["value"] == "undefined" * 6
        return
    with pytest.raises(ScriptError, match=words):
        run_javascript(text, {}, {}, 1.0)


def test_a_variable_named_like_a_javascript_global_does_not_replace_it():
    outcome = run_javascript('JSON.stringify({a: execution.getVariable("JSON")})', {"JSON": 3}, {}, 1.0)
    assert outcome["value"] == '{"a":3}'
