"""Nothing accepted and then not run: every flow node and sequence flow a model draws must be in the
parsed process, or the deployment is refused naming the elements.

SpiffWorkflow indexes only elements that carry an `id` (optional for flows in the BPMN schema, and left
out by some tools): a flow without one silently cut the process after its source. Ids are generated
for such elements before parsing (deterministically, so a re-parse of the stored file gives the same
process), and after parsing the XML is compared with the parsed specs element by element."""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

from orchestrator.translation import ModelProblem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

# the BPMN elements that take part in a run: each must become a task spec of its process
FLOW_NODES = frozenset({
    "task", "userTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask", "manualTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})
CONTAINERS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
# SpiffWorkflow wraps a task that has boundary events: flows into it reach this spec first
BOUNDARY_SPLIT = ".BoundaryEventSplit"


def _local(element: etree._Element) -> str | None:
    if not isinstance(element.tag, str):
        return None
    name = etree.QName(element)
    return name.localname if name.namespace == BPMN_NS else None


class ElementIds:
    """Ids for the elements Loopline names or adds to a document, each unique in it (`base`, `base_2`, …)."""

    def __init__(self, root: etree._Element):
        self.taken = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}

    def new(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}_{n}"
        self.taken.add(candidate)
        return candidate


def assign_missing_ids(root: etree._Element) -> None:
    """Give every flow node and sequence flow without an id a stable one, unique in the document:
    `Flow_<source>_<target>` for a flow, `<elementType>_<n>` for a node."""
    ids = ElementIds(root)
    for element in root.iter():
        local = _local(element)
        if element.get("id") or local not in FLOW_NODES | {"sequenceFlow"}:
            continue
        if local == "sequenceFlow":
            element.set("id", ids.new(f"Flow_{element.get('sourceRef')}_{element.get('targetRef')}"))
        else:
            element.set("id", ids.new(f"{local}_1"))


UNSUPPORTED = {
    "complexGateway": "complex gateways are not supported (Camunda 7 does not run them either); use an inclusive "
                      "or exclusive gateway",
    "adHocSubProcess": "ad-hoc subprocesses are not supported (Camunda 7 does not run them either); model the "
                       "steps with a gateway or as parallel tasks",
}


def structural_problems(root: etree._Element) -> list[ModelProblem]:
    """What the parser would drop or misread, named before it runs: processes without id, sequence
    flows whose end is missing, and element types no engine here runs."""
    problems = processes_without_id(root)
    ids = {element.get("id") for element in root.iter() if isinstance(element.tag, str) and element.get("id")}
    for element in root.iter():
        local = _local(element)
        if local == "sequenceFlow":
            for end in ("sourceRef", "targetRef"):
                if element.get(end) not in ids:
                    problems.append(ModelProblem(element.get("id"), f"the sequence flow's {end} "
                                                                    f"'{element.get(end) or ''}' is not in the model"))
        elif local in UNSUPPORTED:
            problems.append(ModelProblem(element.get("id"), UNSUPPORTED[local]))
    return problems


def processes_without_id(root: etree._Element) -> list[ModelProblem]:
    """An executable process needs an id: it is the process's key for starting and versioning."""
    return [ModelProblem(process.get("name") or "process",
                         "the process has no id; give it one (it becomes the key the process is started by)")
            for process in root.iter(f"{{{BPMN_NS}}}process")
            if not process.get("id") and process.get("isExecutable", "true").lower() == "true"]


def missing_from_spec(process: etree._Element, spec, subprocess_specs: dict) -> list[ModelProblem]:
    """Elements of this process's XML (and of its embedded subprocesses) that the parsed specs lack,
    and sequence flows the parsed specs do not connect — each named, so the model can be fixed."""
    problems: list[ModelProblem] = []
    for container, container_spec in _containers(process, spec, subprocess_specs):
        if container_spec is None:
            problems.append(ModelProblem(container.get("id"), "this subprocess was not parsed; it would never run"))
            continue
        by_id = _specs_by_element(container_spec)
        targets = {flow.get("targetRef") for flow in _children(container, {"sequenceFlow"})}
        for element in _children(container, FLOW_NODES):
            if element.get("id") in by_id:
                continue
            kind = _local(element)
            if element.get("id") not in targets and kind not in ("startEvent", "boundaryEvent"):
                problems.append(ModelProblem(element.get("id"), f"no sequence flow leads to this {kind}: it would "
                                                                "never run; connect it or remove it"))
            else:  # SpiffWorkflow parses what a start event leads to: anything else is never reached
                problems.append(ModelProblem(element.get("id"), f"no path from a start event reaches this {kind}: "
                                                                "it would never run; connect it or remove it"))
        for flow in _children(container, {"sequenceFlow"}):
            source, target = by_id.get(flow.get("sourceRef")), flow.get("targetRef")
            if source is None or target not in by_id:
                continue  # the missing node is reported above (or the flow points outside its container)
            reached = {getattr(o, "bpmn_id", None) or o.name.removesuffix(BOUNDARY_SPLIT) for o in source.outputs}
            if target not in reached:
                problems.append(ModelProblem(flow.get("id"), f"the sequence flow from '{flow.get('sourceRef')}' to "
                                                             f"'{target}' is not followed by the engine"))
    return problems


def _specs_by_element(spec) -> dict[str, object]:
    """Each element's spec; a multi-instance element's own spec, not its `[child]` copy."""
    found: dict[str, object] = {}
    for name, task_spec in spec.task_specs.items():
        element = getattr(task_spec, "bpmn_id", None)
        if element is not None and (element not in found or name == element):
            found[element] = task_spec
    return found


def _containers(process: etree._Element, spec, subprocess_specs: dict) -> Iterator[tuple[etree._Element, object]]:
    """The process and each embedded subprocess in it, with the spec SpiffWorkflow parsed for it."""
    yield process, spec
    for element in process.iter():
        if _local(element) in CONTAINERS and element is not process:
            yield element, subprocess_specs.get(element.get("id"))


def _children(container: etree._Element, kinds: frozenset[str] | set[str]) -> Iterator[etree._Element]:
    for element in container:
        if _local(element) in kinds:
            yield element


def bpmn_element(local: str, **attributes: str | None) -> etree._Element:
    """A new BPMN element for a rewrite of the XML (attributes given as None are left out)."""
    return etree.Element(f"{{{BPMN_NS}}}{local}", {k: v for k, v in attributes.items() if v is not None})


def is_compensation_boundary(element) -> bool:
    """A compensation boundary event is drawn but never runs as a step: its handler runs inside the throw that
    undoes the activity (orchestrator.compensation), so reachability checks leave it out."""
    return (isinstance(element.tag, str) and etree.QName(element).localname == "boundaryEvent"
            and element.find(f"{{{BPMN_NS}}}compensateEventDefinition") is not None)


def reachable_elements(spec, subprocess_specs: dict) -> set[str]:
    """Every element a run of `spec` can reach: outputs followed from the start, into multi-instance
    activities, embedded and called subprocesses, boundary events and event subprocesses."""
    reached: set[str] = set()
    seen_specs: set[int] = set()
    pending = [spec.start]
    while pending:
        task_spec = pending.pop()
        if id(task_spec) in seen_specs:
            continue
        seen_specs.add(id(task_spec))
        if getattr(task_spec, "bpmn_id", None):
            reached.add(task_spec.bpmn_id)
        pending.extend(task_spec.outputs)
        for name in getattr(task_spec, "trigger_specs", ()):  # event subprocesses started by an event
            pending.append(task_spec._wf_spec.task_specs[name])
        if isinstance(task_spec, LoopTask):  # a multi-instance activity runs its instances' spec
            pending.append(task_spec._wf_spec.task_specs[task_spec.task_spec])
        called = subprocess_specs.get(getattr(task_spec, "spec", None)) if isinstance(
            getattr(task_spec, "spec", None), str) else None
        if called is not None:
            pending.append(called.start)
    return reached

