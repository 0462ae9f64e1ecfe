"""The model diff: two versions of returns.bpmn compared element by element, by id."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from orchestrator.model_diff import BPMN_NS, Detail, diff_models
from orchestrator.xml_safety import parse_model_xml

RETURNS = Path(__file__).resolve().parents[2] / "bpmn" / "returns.bpmn"
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
LIMIT = 10 * 1024 * 1024
REMOVED_FLOW = "f_gw_keep_item_to_issue_return_label"


def returns() -> etree._Element:
    return parse_model_xml(RETURNS.read_text(encoding="utf-8"), "returns.bpmn", LIMIT)


def by_id(root: etree._Element, element_id: str) -> etree._Element:
    [found] = root.xpath("//*[@id=$id]", id=element_id)
    return found


def edited_returns() -> etree._Element:
    """returns.bpmn as a process owner edits it: a task renamed, a user task's due date changed, a flow deleted
    (with its diagram edge and the references to it), a task added (with its shape, in a lane); its shapes moved."""
    root = returns()
    by_id(root, "review_return").set("name", "Review the return request")
    by_id(root, "receive_parcel").set("{http://camunda.org/schema/1.0/bpmn}dueDate", "PT48H")
    flow = by_id(root, REMOVED_FLOW)
    flow.getparent().remove(flow)
    for ref in root.xpath("//bpmn:incoming|//bpmn:outgoing", namespaces={"bpmn": BPMN_NS}):
        if ref.text == REMOVED_FLOW:
            ref.getparent().remove(ref)
    edge = root.xpath("//di:BPMNEdge[@bpmnElement=$id]", id=REMOVED_FLOW, namespaces={"di": "http://www.omg.org/spec/BPMN/20100524/DI"})
    for found in edge:
        found.getparent().remove(found)
    process = by_id(root, "returns")
    task = etree.SubElement(process, f"{{{BPMN_NS}}}task", id="check_serial", name="Check the serial number")
    lane = by_id(root, "lane_warehouse")
    etree.SubElement(lane, f"{{{BPMN_NS}}}flowNodeRef").text = task.get("id")
    plane = root.find(f".//{{{DI_NS}}}BPMNPlane")
    shape = etree.SubElement(plane, f"{{{DI_NS}}}BPMNShape", id="check_serial_di", bpmnElement="check_serial")
    etree.SubElement(shape, f"{{{DC_NS}}}Bounds", x="100", y="900", width="100", height="80")
    for bounds in root.iter(f"{{{DC_NS}}}Bounds"):  # moving shapes changes no element
        bounds.set("x", str(float(bounds.get("x")) + 10))
    return root


def test_an_unchanged_model_has_no_changes():
    assert diff_models(returns(), returns()).empty


def test_the_edited_returns_model_shows_exactly_the_edits():
    diff = diff_models(returns(), edited_returns())
    assert [(c.id, c.change, c.type) for c in diff.elements] == [
        ("receive_parcel", "changed", "userTask"),
        ("review_return", "changed", "userTask"),
        ("check_serial", "added", "task"),
    ]
    changed = {c.id: c for c in diff.elements}
    assert changed["review_return"].details == (Detail("name", "Review return request", "Review the return request"),)
    assert changed["review_return"].name == "Review the return request"
    assert changed["receive_parcel"].details == (Detail("camunda:dueDate", "PT24H", "PT48H"),)
    assert [(c.id, c.change, c.type) for c in diff.flows] == [(REMOVED_FLOW, "removed", "sequenceFlow")]
    assert diff.ids("added") == ["check_serial"] and diff.ids("removed") == [REMOVED_FLOW]


def test_extension_elements_timers_and_conditions_are_compared_by_their_parts():
    old = returns()
    new = returns()
    field = new.xpath("//*[@id='issue_return_label']//camunda:formField",
                      namespaces={"camunda": "http://camunda.org/schema/1.0/bpmn"})[0]
    field.set("label", field.get("label") + " (new)")
    timer = new.xpath("//bpmn:timeDuration", namespaces={"bpmn": BPMN_NS})[0]
    old_timer = timer.text
    timer.text = "PT99H"
    condition = new.xpath("//bpmn:conditionExpression", namespaces={"bpmn": BPMN_NS})[0]
    condition.text = "${false}"
    diff = diff_models(old, new)
    whats = {c.id: [d.what for d in c.details] for c in (*diff.elements, *diff.flows)}
    label_change = [w for w in whats["issue_return_label"] if w.endswith("@label")]
    assert label_change and label_change[0].startswith("extensionElements/camunda:formData/camunda:formField[")
    [boundary] = [c for c in diff.elements if c.id == timer.getparent().getparent().get("id")]
    assert boundary.details[0].before == old_timer and boundary.details[0].after == "PT99H"
    assert boundary.details[0].what.startswith("timerEventDefinition")
    flow_id = condition.getparent().get("id")
    assert [c.id for c in diff.flows] == [flow_id] and whats[flow_id] == ["conditionExpression"]
