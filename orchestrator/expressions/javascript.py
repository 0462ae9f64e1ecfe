"""JavaScript scripts (script tasks and script listeners) run in QuickJS, as Camunda 7 runs them.

Camunda 7 hands a JavaScript script the process variables by name and an `execution` object; the script
writes variables only through `execution.setVariable` / `setVariables` / `removeVariable` (assigning a
global does not store it), and its value — the value of its last statement — is what `camunda:resultVariable`
keeps. This module gives a script exactly that, and nothing more: QuickJS has no file, network, module or
timer access unless the host adds it, and none is added. Each run gets a fresh context with its own memory
and time limit; it runs inside the sandbox process (``script_process``), under that process's OS limits too.

Values cross as JSON: variables in, the changed variables and the script's value out.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.expressions.scripts import MAX_SOURCE_LENGTH, ScriptError

# scriptFormat values Camunda 7 resolves to its JavaScript engine
JAVASCRIPT_FORMATS = frozenset({"javascript", "ecmascript", "js", "nashorn", "graal.js", "application/javascript",
                                "text/javascript"})
MEMORY_LIMIT = 64 * 1024 * 1024
STACK_LIMIT = 512 * 1024
MAX_OUTCOME_CHARS = 8_000_000  # what a script hands back (variables it set and its value), as JSON
_LINE = re.compile(r"<input>:(\d+)")

# Built once per run before the script: `execution` (and `task` for task listeners) over a copy of the
# variables; the variables as globals unless a global of that name exists; `print`/`console` swallowed.
_PRELUDE = r"""
var __loopline = (function (input) {
  var vars = input.variables, context = input.context, changed = {}, removed = {};
  var own = function (name) { return Object.prototype.hasOwnProperty.call(vars, String(name)); };
  var set = function (name, value) {
    name = String(name); vars[name] = value === undefined ? null : value; changed[name] = true;
    delete removed[name];
  };
  var scope = {
    getVariable: function (name) { return own(name) ? vars[String(name)] : null; },
    hasVariable: function (name) { return own(name); },
    getVariables: function () { return Object.assign({}, vars); },
    getVariableNames: function () { return Object.keys(vars); },
    setVariable: set,
    setVariables: function (values) { Object.keys(values || {}).forEach(function (k) { set(k, values[k]); }); },
    removeVariable: function (name) { name = String(name); delete vars[name]; delete changed[name];
                                      removed[name] = true; },
    getProcessInstanceId: function () { return context.processInstanceId; },
    getBusinessKey: function () { return context.businessKey; },
    getProcessBusinessKey: function () { return context.businessKey; },
    getActivityId: function () { return context.activityId; },
    getCurrentActivityId: function () { return context.activityId; },
    getCurrentActivityName: function () { return context.activityName; },
    getEventName: function () { return context.eventName; },
    getProcessDefinitionId: function () { return context.processDefinitionId; }
  };
  ["Variable", "Variables", "VariableNames"].forEach(function (n) { scope["get" + n + "Local"] = scope["get" + n]; });
  scope.setVariableLocal = set;
  scope.hasVariableLocal = scope.hasVariable;
  scope.removeVariableLocal = scope.removeVariable;
  var task = Object.assign({}, scope, {
    getId: function () { return context.taskId; },
    getName: function () { return context.activityName; },
    getTaskDefinitionKey: function () { return context.activityId; },
    getAssignee: function () { return context.assignee; },
    getExecution: function () { return scope; }
  });
  return {
    execution: scope, task: task, variables: vars,
    finish: function (value) {
      var out = {};
      Object.keys(changed).forEach(function (k) { out[k] = vars[k]; });
      var kept = value;
      if (typeof kept === "function" || typeof kept === "symbol" || kept === undefined) kept = null;
      return JSON.stringify({set: out, removed: Object.keys(removed), value: kept});
    }
  };
})(JSON.parse(__loopline_input));
var execution = __loopline.execution;
var task = __loopline.task;
var print = function () {};
var console = {log: print, info: print, warn: print, error: print, debug: print};
Object.keys(__loopline.variables).forEach(function (name) {
  if (!(name in globalThis)) globalThis[name] = __loopline.variables[name];
});
"""


def _quickjs():
    import quickjs  # imported where scripts run: the sandbox process and the deploy check

    return quickjs


def _context(time_limit: float):
    quickjs = _quickjs()
    context = quickjs.Context()
    context.set_memory_limit(MEMORY_LIMIT)
    context.set_max_stack_size(STACK_LIMIT)
    context.set_time_limit(max(time_limit, 0.05))
    return quickjs, context


def _error(exc: Exception, line_offset: int = 0) -> ScriptError:
    """A QuickJS exception as a ScriptError: its first line, and the script line it names."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    match = _LINE.search(text)
    line = int(match.group(1)) - line_offset if match else None
    if first == "InternalError: interrupted":
        first = "the script exceeded its time limit"
    elif first == "InternalError: out of memory":
        first = f"the script used more than {MEMORY_LIMIT // (1024 * 1024)} MB of memory"
    return ScriptError(f"JavaScript line {line}: {first}" if line and line > 0 else f"JavaScript: {first}",
                       line=line if line and line > 0 else None)


def check_javascript(source: str) -> None:
    """Deploy-time check: the script must parse. It is compiled as an uncalled function, so nothing runs."""
    if not isinstance(source, str):
        raise ScriptError("script must be text")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ScriptError(f"script is longer than {MAX_SOURCE_LENGTH} characters")
    _, context = _context(1.0)
    try:
        context.eval("(function () {\n" + source + "\n})")
    except Exception as exc:  # a SyntaxError from QuickJS, whatever its class
        raise _error(exc, line_offset=1) from None


def run_javascript(source: str, variables: dict[str, Any], context: dict[str, Any],
                   time_limit: float) -> dict[str, Any]:
    """Run ``source``; return {"set": {name: value}, "removed": [names], "value": the script's value}."""
    _, js = _context(time_limit)
    try:
        js.set("__loopline_input", json.dumps({"variables": variables, "context": context}))
        js.eval(_PRELUDE)
    except Exception as exc:  # the variables themselves exhausted a limit
        raise ScriptError(f"the script's variables could not be handed to it: {_error(exc).message}") from None
    js.set("__loopline_source", source)
    try:  # an indirect eval runs the script at global scope and gives its completion value
        outcome = js.eval("__loopline.finish((0, eval)(__loopline_source))")
    except Exception as exc:  # any failure inside the script
        raise _error(exc) from None
    if len(outcome) > MAX_OUTCOME_CHARS:
        raise ScriptError(f"JavaScript: the variables the script set are too large (over {MAX_OUTCOME_CHARS:,} "
                          "characters as JSON)")
    return json.loads(outcome)
