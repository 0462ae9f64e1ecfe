"""Camunda 7 meaning for events SpiffWorkflow reads differently, rewritten in the XML before parsing (part of
camunda_compat): message throw events run their implementation, signal throws broadcast to other cases, link
events go on at their catch. Element ids are kept; added elements are named `<id>__…`."""

from __future__ import annotations

from lxml import etree

from orchestrator.completeness import BPMN_NS, ElementIds
from orchestrator.completeness import bpmn_element as _bpmn
from orchestrator.parser import CAMUNDA_MODEL_NS
from orchestrator.translation import ModelProblem

IMPLEMENTATIONS = ("type", "topic", "class", "delegateExpression", "expression", "resultVariable", "taskPriority")


def message_throws(root: etree._Element, ids: ElementIds) -> None:
    """A message throw event does what its implementation does, as in Camunda 7, which sends no message by itself:
    one with camunda:type/topic, class, delegateExpression or expression on its message definition becomes a
    service task with the event's id (an end event is then followed by a plain end `<id>__end`); one without
    passes through."""
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    for event in list(root.iter(f"{{{BPMN_NS}}}intermediateThrowEvent", f"{{{BPMN_NS}}}endEvent")):
        definition = event.find(f"{{{BPMN_NS}}}messageEventDefinition")
        if definition is None:
            continue
        implementation = {camunda + name: definition.get(camunda + name) for name in IMPLEMENTATIONS
                          if definition.get(camunda + name) is not None}
        event.remove(definition)
        if not implementation:
            continue
        task = _bpmn("serviceTask", id=event.get("id"), name=event.get("name"))
        task.attrib.update(implementation)
        for child in list(event):
            task.append(child)
        event.addprevious(task)
        event.getparent().remove(event)
        if etree.QName(event).localname == "endEvent":
            end_id = ids.new(f"{event.get('id')}__end")
            task.addnext(_bpmn("endEvent", id=end_id))
            task.getparent().append(_bpmn("sequenceFlow", id=ids.new(f"{event.get('id')}__to_end"),
                                          sourceRef=event.get("id"), targetRef=end_id))


SEND_SIGNAL_TOPIC = "loopline.send_signal"  # the broadcast step's connector (orchestrator.bpmn_signals)


def signal_broadcasts(root: etree._Element, ids: ElementIds) -> list[ModelProblem]:
    """A signal throw event reaches the catches of its own case at once (SpiffWorkflow) and every other case
    waiting for it through the step `<throw>__broadcast` put right after it (before it, for an end event): a job
    on `loopline.send_signal` (orchestrator.bpmn_signals). A process started by a signal is refused on its
    start event."""
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    names = {s.get("id"): s.get("name") or s.get("id") for s in root.iter(f"{{{BPMN_NS}}}signal")}
    problems = []
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
            definition = start.find(f"{{{BPMN_NS}}}signalEventDefinition")
            if definition is not None:
                name = names.get(definition.get("signalRef"), definition.get("signalRef"))
                problems.append(ModelProblem(start.get("id"), f"a process started by signal '{name}' is not "
                                                              "supported; start it with a message or a timer"))
    for event in list(root.iter(f"{{{BPMN_NS}}}intermediateThrowEvent", f"{{{BPMN_NS}}}endEvent")):
        definition = event.find(f"{{{BPMN_NS}}}signalEventDefinition")
        if definition is None:
            continue
        event_id, container = event.get("id"), event.getparent()
        step_id = ids.new(f"{event_id}__broadcast")
        step = _bpmn("serviceTask", id=step_id, name=event.get("name"))
        step.set(camunda + "type", "external")
        step.set(camunda + "topic", SEND_SIGNAL_TOPIC)
        mapping = etree.SubElement(etree.SubElement(step, f"{{{BPMN_NS}}}extensionElements"), camunda + "inputOutput")
        etree.SubElement(mapping, camunda + "inputParameter", name="signalName").text = names.get(
            definition.get("signalRef"), definition.get("signalRef"))
        event.addnext(step)
        end = etree.QName(event).localname == "endEvent"
        for flow in container.findall(f"{{{BPMN_NS}}}sequenceFlow"):
            if not end and flow.get("sourceRef") == event_id:
                flow.set("sourceRef", step_id)
            elif end and flow.get("targetRef") == event_id:
                flow.set("targetRef", step_id)
        source, target = (step_id, event_id) if end else (event_id, step_id)
        container.append(_bpmn("sequenceFlow", id=ids.new(f"{event_id}__to_broadcast"), sourceRef=source,
                               targetRef=target))
    return problems


def link_events(container: etree._Element, ids: ElementIds) -> list[ModelProblem]:
    """A link throw event goes on at the link catch event of the same name in its scope, as in Camunda 7 (a way to
    draw a long flow as two ends): the throw gets a flow `<throw>__link` to the catch, and both pass through."""
    def links(local: str) -> list[tuple[etree._Element, str]]:
        found = []
        for event in container.findall(f"{{{BPMN_NS}}}{local}"):
            definition = event.find(f"{{{BPMN_NS}}}linkEventDefinition")
            if definition is not None:
                found.append((event, (definition.get("name") or "").strip()))
                event.remove(definition)
        return found

    catches = {}
    for event, name in links("intermediateCatchEvent"):
        event.tag = f"{{{BPMN_NS}}}intermediateThrowEvent"  # a plain event: it passes the token on
        catches.setdefault(name, event)
    problems = []
    for throw, name in links("intermediateThrowEvent"):
        target = catches.get(name)
        if target is None:
            problems.append(ModelProblem(throw.get("id"), f"no link catch event named '{name}' in the same process "
                                                          "or subprocess; this link leads nowhere"))
            continue
        container.append(_bpmn("sequenceFlow", id=ids.new(f"{throw.get('id')}__link"), sourceRef=throw.get("id"),
                               targetRef=target.get("id")))
    return problems
