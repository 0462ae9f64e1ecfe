"""What changed between two versions of a BPMN model, element by element (matched by id).

Each element is compared by a canonical form of its own XML: its type, attributes, documentation and the
children that belong to it (extension elements such as camunda:formData or camunda:inputOutput, timer
definitions, conditions, loop characteristics). Its diagram shape (DI), the flow elements it contains (a
subprocess's steps are elements of their own) and its incoming/outgoing references (the flows say that) are
left out, so moving a shape changes nothing and removing a flow changes only the flow."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# well-known prefixes, so a detail reads as the model's author wrote it whatever prefix the file chose
PREFIXES = {BPMN_NS: "", "http://camunda.org/schema/1.0/bpmn": "camunda:",
            "http://www.w3.org/2001/XMLSchema-instance": "xsi:"}
# elements that hold other elements: their children with an id are compared on their own
CONTAINERS = {"definitions", "process", "subProcess", "transaction", "adHocSubProcess", "collaboration",
              "laneSet", "childLaneSet", "lane"}
# children that only point at other elements (the flows and lanes already say it) or only group them
REFERENCES = {"incoming", "outgoing", "flowNodeRef", "laneSet", "childLaneSet"}
# parts of an element that may carry an id of their own but belong to it (a subprocess's loop, its data)
OWN_PARTS = {"documentation", "extensionElements", "multiInstanceLoopCharacteristics",
             "standardLoopCharacteristics", "ioSpecification", "property", "dataInputAssociation",
             "dataOutputAssociation", "conditionExpression", "completionCondition"}
FLOWS = {"sequenceFlow", "messageFlow", "association"}
SHORT_TEXT = 120
MAX_DETAILS = 50


@dataclass(frozen=True)
class Detail:
    """One difference inside a changed element: where (`name`, `camunda:dueDate`,
    `extensionElements/camunda:formData/camunda:formField[sku]@label`) and the short texts before and after
    (None where there was nothing)."""

    what: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ElementChange:
    id: str
    change: str  # added | removed | changed
    type: str  # BPMN element type, e.g. userTask (the new one when it changed)
    name: str | None
    details: tuple[Detail, ...] = ()


@dataclass(frozen=True)
class ModelDiff:
    elements: tuple[ElementChange, ...]
    flows: tuple[ElementChange, ...]

    @property
    def empty(self) -> bool:
        return not self.elements and not self.flows

    def ids(self, change: str) -> list[str]:
        """Ids of the elements and flows with this kind of change (added, removed, changed)."""
        return [c.id for c in (*self.elements, *self.flows) if c.change == change]


def diff_models(old: etree._Element, new: etree._Element) -> ModelDiff:
    """The elements and flows added, removed and changed from `old` to `new` (roots of parsed BPMN files)."""
    before, after = model_items(old), model_items(new)
    changes: list[ElementChange] = []
    for item_id, element in after.items():
        if item_id not in before:
            changes.append(ElementChange(item_id, "added", local_name(element), element.get("name")))
    for item_id, element in before.items():
        if item_id not in after:
            changes.append(ElementChange(item_id, "removed", local_name(element), element.get("name")))
        else:
            details = element_details(element, after[item_id])
            if details:
                changed = after[item_id]
                changes.append(ElementChange(item_id, "changed", local_name(changed),
                                             changed.get("name") or element.get("name"), tuple(details)))
    order = {"removed": 0, "changed": 1, "added": 2}
    changes.sort(key=lambda c: (order[c.change], c.id))
    return ModelDiff(tuple(c for c in changes if c.type not in FLOWS),
                     tuple(c for c in changes if c.type in FLOWS))


def model_items(root: etree._Element) -> dict[str, etree._Element]:
    """Every BPMN element with an id that a container holds (processes, flow elements, flows, lanes,
    participants, messages, errors, signals), by id; the diagram (DI) is another namespace and never one."""
    items: dict[str, etree._Element] = {}

    def walk(container: etree._Element) -> None:
        for child in container:
            if not isinstance(child.tag, str) or etree.QName(child).namespace != BPMN_NS:
                continue
            if child.get("id") and local_name(child) not in ("laneSet", "childLaneSet", *OWN_PARTS):
                items.setdefault(child.get("id"), child)
            if local_name(child) in CONTAINERS:
                walk(child)

    walk(root)
    return items


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def element_details(old: etree._Element, new: etree._Element) -> list[Detail]:
    """What differs between two versions of one element, type first, then attributes, then its own children."""
    details: list[Detail] = []
    if old.tag != new.tag:
        details.append(Detail("type", local_name(old), local_name(new)))
    _compare(_canonical(old), _canonical(new), "", details)
    return details[:MAX_DETAILS]


def _canonical(element: etree._Element) -> etree._Element:
    """A copy of the element without the children compared on their own, the references, comments and
    whitespace-only text."""
    copy = etree.Element(element.tag, dict(element.attrib))
    copy.text = (element.text or "").strip() or None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child)
        if etree.QName(child).namespace == BPMN_NS and (name in REFERENCES or (
                child.get("id") and name not in OWN_PARTS and local_name(element) in CONTAINERS)):
            continue
        copy.append(_canonical(child))
    return copy


def _compare(old: etree._Element, new: etree._Element, path: str, details: list[Detail]) -> None:
    prefix = f"{path}@" if path else ""
    for attribute in sorted(set(old.attrib) | set(new.attrib), key=_attribute_name):
        if old.get(attribute) != new.get(attribute):
            details.append(Detail(prefix + _attribute_name(attribute), _short(old.get(attribute)),
                                  _short(new.get(attribute))))
    if (old.text or "") != (new.text or ""):
        details.append(Detail(path or "text", _short(old.text), _short(new.text)))
    before, after = _keyed_children(old), _keyed_children(new)
    for key in list(dict.fromkeys([*before, *after])):
        where = f"{path}/{key}" if path else key
        if key not in after:
            details.append(Detail(where, _short(_readable(before[key])), None))
        elif key not in before:
            details.append(Detail(where, None, _short(_readable(after[key]))))
        elif _xml_text(before[key]) != _xml_text(after[key]):
            _compare(before[key], after[key], where, details)


def _keyed_children(element: etree._Element) -> dict[str, etree._Element]:
    """Children by a readable key: their tag, with their id or name when they have one (formField[sku],
    inputParameter[to]), else their position among children of that tag."""
    keyed: dict[str, etree._Element] = {}
    seen: dict[str, int] = {}
    for child in element:
        tag = _tag_name(child.tag)
        label = child.get("id") or child.get("name") or child.get("key")
        if label is None:
            seen[tag] = seen.get(tag, 0) + 1
            key = tag if seen[tag] == 1 else f"{tag}[{seen[tag]}]"
        else:
            key = f"{tag}[{label}]"
        keyed.setdefault(key, child)
    return keyed


def _tag_name(tag: str) -> str:
    name = etree.QName(tag)
    if name.namespace is None:
        return name.localname
    return PREFIXES.get(name.namespace, "{" + name.namespace + "}") + name.localname


def _attribute_name(attribute: str) -> str:
    return _tag_name(attribute)


def _xml_text(element: etree._Element) -> str:
    """The canonical XML of an element (C14N: attribute order and namespace prefixes do not matter)."""
    return etree.tostring(element, method="c14n").decode("utf-8")


def _readable(element: etree._Element) -> str:
    """An element as a short line: its attributes and text, then its children's, e.g.
    `id=sku label=SKU type=string; validation: constraint name=required`."""
    parts = [f"{_attribute_name(name)}={value}" for name, value in sorted(element.attrib.items())]
    if element.text:
        parts.append(element.text)
    words = " ".join(parts)
    children = "; ".join(f"{_tag_name(child.tag)}: {_readable(child)}" for child in element)
    return f"{words}; {children}" if words and children else words or children


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= SHORT_TEXT else text[:SHORT_TEXT - 1] + "…"
