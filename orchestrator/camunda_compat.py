"""Camunda 7 meaning for what SpiffWorkflow reads differently, applied to the XML before parsing:
each rewrite is small, named, and keeps the element ids, so history and diagrams still match the file."""

from __future__ import annotations

import ast
import re
import textwrap

from lxml import etree

from orchestrator import listeners, local_io
from orchestrator.compensation import compile_compensation
from orchestrator.completeness import BPMN_NS, FLOW_NODES, ElementIds
from orchestrator.completeness import bpmn_element as _bpmn
from orchestrator.event_rewrites import link_events, message_throws, signal_broadcasts
from orchestrator.expressions.javascript import JAVASCRIPT_FORMATS
from orchestrator.parser import CAMUNDA_MODEL_NS
from orchestrator.translation import ModelProblem

PLAIN_VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
REFERENCES = ("messageRef", "errorRef", "signalRef", "escalationRef")


def apply_camunda_semantics(root: etree._Element) -> list[ModelProblem]:
    """Rewrite in place; return what cannot be given a meaning (named by element)."""
    read_activiti_as_camunda(root)
    _collection_expressions(root)
    _prefixed_references(root)
    _undeclared_errors(root)
    _printing_groovy(root)
    ids = ElementIds(root)
    message_throws(root, ids)
    problems = compile_compensation(root, ids) + _unnamed_messages(root) + _ignored_extensions(root)
    problems += signal_broadcasts(root, ids)
    for container in _flow_containers(root):
        problems.extend(link_events(container, ids))
        _take_listeners(container, ids)
        _implicit_splits(container, ids)
        _unconditional_gateway_flows(container)
        _implicit_subprocess_end(container, ids)
    return problems


GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                      "complexGateway"})
ALWAYS = "${true}"


def _flow_containers(root: etree._Element) -> list[etree._Element]:
    return [element for element in root.iter(f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess",
                                             f"{{{BPMN_NS}}}transaction")]


def _condition(flow: etree._Element) -> etree._Element | None:
    return flow.find(f"{{{BPMN_NS}}}conditionExpression")


def _always(flow: etree._Element) -> None:
    condition = _bpmn("conditionExpression")
    condition.text = ALWAYS
    flow.append(condition)


def _outgoing(container: etree._Element) -> dict[str, list[etree._Element]]:
    flows: dict[str, list[etree._Element]] = {}
    for flow in container.findall(f"{{{BPMN_NS}}}sequenceFlow"):
        flows.setdefault(flow.get("sourceRef"), []).append(flow)
    return flows


def _implicit_splits(container: etree._Element, ids: ElementIds) -> None:
    """An activity or event with several outgoing flows forks, as in Camunda: all flows (a parallel
    gateway) or, when some carry conditions, each flow whose condition holds (an inclusive gateway; a
    flow without condition is always taken, the activity's default flow when no other is)."""
    for source, flows in _outgoing(container).items():
        node = next((e for e in container if isinstance(e.tag, str) and e.get("id") == source), None)
        if node is None or len(flows) < 2 or etree.QName(node).localname in GATEWAYS:
            continue
        conditional = any(_condition(flow) is not None for flow in flows)
        gateway_id = ids.new(f"{source}__split")
        gateway = _bpmn("inclusiveGateway" if conditional else "parallelGateway", id=gateway_id,
                        default=node.attrib.pop("default", None))
        node.addnext(gateway)
        for flow in flows:
            flow.set("sourceRef", gateway_id)
            if conditional and _condition(flow) is None and flow.get("id") != gateway.get("default"):
                _always(flow)
        gateway.addnext(_bpmn("sequenceFlow", id=ids.new(f"{source}__to_split"), sourceRef=source,
                              targetRef=gateway_id))


def _unconditional_gateway_flows(container: etree._Element) -> None:
    """Camunda takes a gateway's outgoing flow that has no condition (and is not the default) as if its
    condition were true; SpiffWorkflow refuses the model, so the condition is written out."""
    outgoing = _outgoing(container)
    for gateway in container:
        if not isinstance(gateway.tag, str) or etree.QName(gateway).localname not in ("exclusiveGateway",
                                                                                      "inclusiveGateway"):
            continue
        flows = outgoing.get(gateway.get("id"), [])
        if len(flows) < 2:
            continue
        for flow in flows:
            if _condition(flow) is None and flow.get("id") != gateway.get("default"):
                _always(flow)


def _implicit_subprocess_end(container: etree._Element, ids: ElementIds) -> None:
    """A subprocess ends when nothing in it is left to do (Camunda's implicit end); SpiffWorkflow needs
    an end event, so each activity without outgoing flow gets one."""
    if etree.QName(container).localname == "process" or container.find(f"{{{BPMN_NS}}}endEvent") is not None:
        return
    outgoing = _outgoing(container)
    for node in list(container):
        local = etree.QName(node).localname if isinstance(node.tag, str) else None
        if local is None or local in ("sequenceFlow", "boundaryEvent", "endEvent") or local not in FLOW_NODES \
                or node.get("id") in outgoing:
            continue
        end_id = ids.new(f"{node.get('id')}__end")
        container.append(_bpmn("endEvent", id=end_id))
        container.append(_bpmn("sequenceFlow", id=ids.new(f"{node.get('id')}__to_end"),
                               sourceRef=node.get("id"), targetRef=end_id))


ACTIVITI_NS = "http://activiti.org/bpmn"


def read_activiti_as_camunda(root: etree._Element) -> None:
    """Models from Camunda's early days (and its examples) write the extensions in the Activiti namespace,
    which Camunda 7 still reads as its own: read them as camunda:* too."""
    activiti, camunda = f"{{{ACTIVITI_NS}}}", f"{{{CAMUNDA_MODEL_NS}}}"
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith(activiti):
            element.tag = camunda + element.tag[len(activiti):]
        for name in [n for n in element.attrib if n.startswith(activiti)]:
            element.set(camunda + name[len(activiti):], element.attrib.pop(name))


def _collection_expressions(root: etree._Element) -> None:
    """`camunda:collection="${items}"` (the Modeler's usual form) names the variable `items`, which is how
    SpiffWorkflow reads a collection; other expressions are left for the expression checks."""
    attribute = f"{{{CAMUNDA_MODEL_NS}}}collection"
    for loop in root.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
        match = PLAIN_VARIABLE.match(loop.get(attribute) or "")
        if match:
            loop.set(attribute, match.group(1))


def _prefixed_references(root: etree._Element) -> None:
    """`messageRef="tns:orderReceived"` is a QName: the prefix names the definitions' own namespace, so
    the reference is the id after the colon."""
    ids = {element.get("id") for element in root.iter() if isinstance(element.tag, str) and element.get("id")}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name in REFERENCES:
            value = element.get(name)
            if value and ":" in value and value not in ids and value.split(":", 1)[1] in ids:
                element.set(name, value.split(":", 1)[1])


def _undeclared_errors(root: etree._Element) -> None:
    """An `errorRef` that names no `<error>` is, in Camunda 7, the error code itself: declare it so."""
    declared = {error.get("id") for error in root.iter(f"{{{BPMN_NS}}}error")}
    for definition in root.iter(f"{{{BPMN_NS}}}errorEventDefinition"):
        code = definition.get("errorRef")
        if code and code not in declared:
            root.insert(0, _bpmn("error", id=code, name=code, errorCode=code))
            declared.add(code)


_GROOVY_PRINT = re.compile(r"""^(?:\w+:)?\s*print(?:ln)?\s*\(?\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\$]|\\.)*")\s*\)?\s*;?$""")


def _printing_groovy(root: etree._Element) -> None:
    """A Groovy script that only prints fixed text (`println "Order cooked"`, a common placeholder) changes
    nothing in the process: it runs as an empty Python script. Any other Groovy is refused on its element."""
    for script in root.iter(f"{{{BPMN_NS}}}scriptTask", f"{{{CAMUNDA_MODEL_NS}}}script"):
        if (script.get("scriptFormat") or "").strip().lower() != "groovy" or script.get("resource") is not None:
            continue
        if script.tag != f"{{{BPMN_NS}}}scriptTask" and not etree.QName(script.getparent()).localname.endswith(
                "Listener"):
            continue  # a parameter's script gives a value: printing gives none
        holder = script.find(f"{{{BPMN_NS}}}script") if script.tag == f"{{{BPMN_NS}}}scriptTask" else script
        text = holder.text if holder is not None else ""
        lines = [line.strip() for line in (text or "").splitlines()]
        lines = [line for line in lines if line and not line.startswith("//")]
        if lines and all(_GROOVY_PRINT.match(line) for line in lines):
            script.set("scriptFormat", "python")
            holder.text = "pass"


def _unnamed_messages(root: etree._Element) -> list[ModelProblem]:
    """A message without a name can never be correlated: refuse it where it is used."""
    unnamed = {m.get("id") for m in root.iter(f"{{{BPMN_NS}}}message") if not (m.get("name") or "").strip()}
    problems = []
    for definition in root.iter(f"{{{BPMN_NS}}}messageEventDefinition", f"{{{BPMN_NS}}}receiveTask",
                                f"{{{BPMN_NS}}}sendTask"):
        if definition.get("messageRef") in unnamed:
            owner = definition if definition.get("id") and etree.QName(definition).localname != \
                "messageEventDefinition" else definition.getparent()
            problems.append(ModelProblem(owner.get("id"), f"message '{definition.get('messageRef')}' has no name; "
                                                          "give it the name senders correlate with"))
    return problems


PYTHON_SCRIPTS = {"", "python", "python3", "text/x-python"}
CONDITION_LANGUAGES = {"", "juel", "python", "python3"}
# where camunda:inputOutput is applied: the job's input and the result's output mapping, or the activity's own
# variables (orchestrator.local_io)
MAPPED_IO = {"serviceTask", "sendTask", *local_io.ELEMENTS}


def _ignored_extensions(root: etree._Element) -> list[ModelProblem]:
    """Camunda settings this engine would otherwise skip without a word: listeners, input/output
    mappings outside service tasks, variable mappings outside call activities, scripts in other languages
    than JavaScript and Python. Each is refused on its element until it is supported."""
    problems = []
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    kinds = {element.get("id"): etree.QName(element).localname for element in root.iter(f"{{{BPMN_NS}}}*")}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        local = etree.QName(element).localname
        extensions = element.find(f"{{{BPMN_NS}}}extensionElements")
        where = element.get("id") or local
        if extensions is not None:
            problems.extend(_listener_problems(element, extensions, where, kinds))
            io = extensions.find(camunda + "inputOutput")
            if io is not None:
                problems.extend(_mapping_problems(element, io, where))
            mappings = [m for m in extensions if isinstance(m.tag, str) and m.tag in (camunda + "in", camunda + "out")]
            if mappings and local != "callActivity":
                problems.append(ModelProblem(where, f"camunda:in/camunda:out on a {local} are not supported "
                                                    "(they pass variables on call activities only)"))
        if local == "conditionExpression" and (element.get("language") or "").strip().lower() not in CONDITION_LANGUAGES:
            problems.append(ModelProblem(element.getparent().get("id") or "conditionExpression",
                                         f"condition language '{element.get('language')}' is not supported; write the "
                                         "condition in JUEL (${...}) or Python"))
        if local == "scriptTask":
            script_format = (element.get("scriptFormat") or "").strip().lower()
            if script_format not in PYTHON_SCRIPTS | JAVASCRIPT_FORMATS:
                problems.append(ModelProblem(where, f"scriptFormat '{element.get('scriptFormat')}' is not supported; "
                                                    "set the script's format to javascript or python"))
            if element.get(camunda + "resource") is not None:
                problems.append(ModelProblem(where, "a script loaded from camunda:resource is not supported; put "
                                                    "the script in the model"))
            if element.get(camunda + "resultVariable") is not None and script_format in PYTHON_SCRIPTS:
                problems.extend(_keep_script_result(element, camunda + "resultVariable", where))
    return problems


def _mapping_problems(element: etree._Element, io: etree._Element, where: str) -> list[ModelProblem]:
    """camunda:inputOutput where Camunda 7 refuses it too (gateways, event subprocesses, outputs on an end event),
    and on multi-instance activities (not applied here)."""
    local = etree.QName(element).localname
    if local not in MAPPED_IO:
        return [ModelProblem(where, f"camunda:inputOutput on a {local} is not applied (Camunda 7 refuses it too); "
                                    "map the values on a task or event next to it")]
    if element.get("triggeredByEvent") == "true":
        return [ModelProblem(where, "camunda:inputOutput on an event subprocess is not applied (Camunda 7 refuses "
                                    "it too); map the values on its start event or a task inside")]
    if local == "endEvent" and io.find(f"{{{CAMUNDA_MODEL_NS}}}outputParameter") is not None:
        return [ModelProblem(where, "an end event cannot have output parameters (Camunda 7 refuses them too)")]
    if local in local_io.ELEMENTS and element.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics") is not None:
        return [ModelProblem(where, "camunda:inputOutput on a multi-instance activity is not applied by this "
                                    "engine; map the values in a task before it")]
    return []


LISTENER_HOSTS = FLOW_NODES | {"process", "sequenceFlow"}


def _listener_problems(element: etree._Element, extensions: etree._Element, where: str,
                       kinds: dict[str, str]) -> list[ModelProblem]:
    """Listeners run as `orchestrator.listeners` runs them: expressions and JavaScript or Python scripts, on the
    events Camunda 7 fires (on a multi-instance activity, for each instance); a listener calling Java, or on an
    event or element this engine does not fire, is refused on its element."""
    local = etree.QName(element).localname
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    problems = []
    for node in extensions:
        if node.tag not in (camunda + "executionListener", camunda + "taskListener"):
            continue
        kind = etree.QName(node).localname
        label = f"camunda:{kind}"
        event = (node.get("event") or ("take" if local == "sequenceFlow" else "")).strip()
        java = next((name for name in ("class", "delegateExpression") if node.get(name)), None)
        script = node.find(camunda + "script")
        script_format = (script.get("scriptFormat") or "").strip().lower() if script is not None else ""
        if kind == "executionListener":
            events = ("take",) if local == "sequenceFlow" else ("start", "end")
        else:
            events = listeners.TASK_EVENTS if local == "userTask" else ()
        if local not in LISTENER_HOSTS:
            problem = f"{label} on a {local} is never called; put it on the process, an element or a flow"
        elif kind == "taskListener" and local != "userTask":
            problem = f"{label} belongs on a user task, not on a {local}"
        elif event not in events:
            problem = (f"{label} event '{event}' is not supported on a {local}; this engine calls "
                       + " and ".join(events) + " listeners here")
        elif java:
            problem = (f"{label} calls Java code ({java} '{node.get(java)}'); write the listener as an expression or "
                       "a JavaScript or Python script, or do the work in a service task")
        elif node.get("expression") is None and script is None:
            problem = f"{label} has neither an expression nor a script"
        elif script is not None and script.get("resource") is not None:
            problem = f"{label} script loaded from a resource is not supported; put the script in the model"
        elif script is not None and script_format not in PYTHON_SCRIPTS | JAVASCRIPT_FORMATS:
            problem = (f"{label} scriptFormat '{script.get('scriptFormat')}' is not supported; set the listener "
                       "script's format to javascript or python")
        elif local == "sequenceFlow" and kinds.get(element.get("sourceRef")) == "eventBasedGateway":
            problem = f"{label} on a flow leaving an event-based gateway is not supported; put it on the event"
        else:
            continue
        problems.append(ModelProblem(where, problem))
    return problems


def _take_listeners(container: etree._Element, ids: ElementIds) -> None:
    """A flow's `take` listeners run as it is taken: on a pass-through event `<flow>__take` put on the flow (the
    flow keeps its id, source and condition), whose start runs them (`orchestrator.listeners`)."""
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    for flow in container.findall(f"{{{BPMN_NS}}}sequenceFlow"):
        extensions = flow.find(f"{{{BPMN_NS}}}extensionElements")
        taken = [] if extensions is None else extensions.findall(camunda + "executionListener")
        if not taken:
            continue
        event_id = ids.new(f"{flow.get('id')}__take")
        event = _bpmn("intermediateThrowEvent", id=event_id, name=flow.get("name"))
        carried = etree.SubElement(event, f"{{{BPMN_NS}}}extensionElements")
        for listener in taken:
            carried.append(listener)
        flow.addnext(event)
        event.addnext(_bpmn("sequenceFlow", id=ids.new(f"{flow.get('id')}__taken"), sourceRef=event_id,
                            targetRef=flow.get("targetRef")))
        flow.set("targetRef", event_id)


def _keep_script_result(task: etree._Element, attribute: str, where: str) -> list[ModelProblem]:
    """camunda:resultVariable: the script's value is its last expression (as in Groovy or JavaScript), so that
    expression becomes an assignment to the variable, on the same lines (error line numbers stay right)."""
    variable = (task.get(attribute) or "").strip()
    script = task.find(f"{{{BPMN_NS}}}script")
    text = textwrap.dedent(script.text or "") if script is not None else ""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return []  # the script check names the line
    last = body[-1] if body else None
    if not variable.isidentifier() or variable.startswith("_"):
        return [ModelProblem(where, f"camunda:resultVariable '{variable}' is not a variable name")]
    if not isinstance(last, ast.Expr):
        return [ModelProblem(where, "camunda:resultVariable keeps the value of the script's last line, which must "
                                    "be an expression (e.g. `total`), not a statement")]
    lines = text.split("\n")
    first, final = last.lineno - 1, last.end_lineno - 1
    kept = f"{lines[first][:last.col_offset]}{variable} = ({ast.get_source_segment(text, last.value)})"
    lines[first:final + 1] = kept.split("\n")
    script.text = "\n".join(lines)
    del task.attrib[attribute]
    return []
