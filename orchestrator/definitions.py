"""Turn a bundle of BPMN/DMN files into ready-to-run process specs, rejecting bad models whole."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

from orchestrator.call_activities import bundle_subprocess_specs, deployed_calls
from orchestrator.camunda_compat import apply_camunda_semantics
from orchestrator.case_metrics import MetricSpec, metric_problems, metric_spec
from orchestrator.compensation import CompensationPlan, mark_specs, plan_of
from orchestrator.completeness import assign_missing_ids, missing_from_spec, structural_problems
from orchestrator.delegates import bind_delegates
from orchestrator.expressions import ExpressionError, translate_expression, translate_timer
from orchestrator.forms import describe_form
from orchestrator.model_texts import ModelTexts, bundle_texts, model_stem, translates
from orchestrator.parser import CAMUNDA_MODEL_NS, LooplineParser
from orchestrator.translation import ModelProblem, SpecTranslator
from orchestrator.xml_safety import UnsafeXmlError, parse_model_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# SpiffWorkflow's task spec classes (and Loopline's subclasses of them) → the BPMN element they run
ELEMENT_KINDS = {
    "ExclusiveGateway": "exclusiveGateway", "ParallelGateway": "parallelGateway",
    "InclusiveGateway": "inclusiveGateway", "EventBasedGateway": "eventBasedGateway",
    "StartEvent": "startEvent", "EndEvent": "endEvent", "BoundaryEvent": "boundaryEvent",
    "IntermediateCatchEvent": "intermediateCatchEvent", "IntermediateThrowEvent": "intermediateThrowEvent",
    "SendTask": "sendTask", "ReceiveTask": "receiveTask", "UserTask": "userTask", "ManualTask": "manualTask",
    "ServiceTask": "serviceTask", "ScriptTask": "scriptTask", "BusinessRuleTask": "businessRuleTask",
    "CallActivity": "callActivity", "TransactionSubprocess": "transaction", "SubWorkflowTask": "subProcess",
    "NoneTask": "task",
}


@dataclass(frozen=True)
class ModelFile:
    name: str
    content: str

    @property
    def kind(self) -> str:
        """Camunda 7's file names: .dmn and .dmn11.xml are DMN, the rest (.bpmn, .bpmn20.xml) BPMN;
        `<model>.<language>.json` translates a model's texts (orchestrator.model_texts)."""
        if self.name.lower().endswith(".json"):
            return "texts"
        return "dmn" if self.name.lower().endswith((".dmn", ".dmn11.xml")) else "bpmn"


@dataclass
class ParsedProcess:
    """One executable process with everything needed to run it."""

    key: str
    name: str | None
    spec: object
    subprocess_specs: dict
    source_file: str
    content_hash: str
    start_messages: list[str] = field(default_factory=list)
    # the none start event's camunda:formData (empty: the process is started by API or message only)
    start_form: list[dict] = field(default_factory=list)
    # process-level camunda:properties: variables shown as the case's key data in the inbox
    summary_fields: list[str] = field(default_factory=list)
    # the start-form field whose value becomes the business key (e.g. rmaNumber)
    business_key_field: str | None = None
    # camunda:initiator of the start event: the variable that receives who started the instance
    initiator_variable: str | None = None
    # names, documentation, form labels and option names in each language the bundle translates them to
    texts: ModelTexts = field(default_factory=ModelTexts)
    # process-level camunda:properties (summaryFields, metric.*, …)
    properties: dict[str, str] = field(default_factory=dict)

    @cached_property
    def metrics(self) -> MetricSpec:
        """What this process's cases feed into their management figures (see case_metrics)."""
        return metric_spec(self.properties, self._task_specs())

    @cached_property
    def form_fields(self) -> dict[str, dict]:
        """Each variable's first form field in the model (start form first): its label and enum names."""
        fields: dict[str, dict] = {}
        forms = [self.start_form] + [describe_form(getattr(spec, "form", None))
                                     for spec in self.spec.task_specs.values()]
        for form in forms:
            for field_ in form:
                fields.setdefault(field_["id"], field_)
        return fields

    @cached_property
    def has_service_tasks(self) -> bool:
        """Whether an instance can own job rows at all; without service tasks a command never syncs jobs.
        A deployed process it calls may have some."""
        return self.has_deployed_calls or any(isinstance(spec, ServiceTask) for spec in self._task_specs())

    @cached_property
    def has_message_catches(self) -> bool:
        """Whether an instance can wait for a message or a signal; without such catches it has no
        subscriptions. A deployed process it calls may have some."""
        return self.has_deployed_calls or any(
            isinstance(spec, CatchingEvent)
            and isinstance(spec.event_definition, MessageEventDefinition | SignalEventDefinition)
            for spec in self._task_specs())

    @cached_property
    def has_deployed_calls(self) -> bool:
        """Whether a call activity resolves its called process among deployed definitions when it starts."""
        return bool(deployed_calls((self.spec, *self.subprocess_specs.values())))

    def _task_specs(self):
        for process in (self.spec, *self.subprocess_specs.values()):
            yield from process.task_specs.values()

    @cached_property
    def element_kinds(self) -> dict[str, str]:
        """Each step's BPMN element kind by id (exclusiveGateway, userTask, …), to name a step that has no name."""
        kinds = {}
        for spec in self._task_specs():
            kind = next((ELEMENT_KINDS[c.__name__] for c in type(spec).__mro__ if c.__name__ in ELEMENT_KINDS), None)
            if getattr(spec, "bpmn_id", None) and kind:
                kinds.setdefault(spec.bpmn_id, kind)
        return kinds

    @cached_property
    def field_labels(self) -> dict[str, str]:
        return {name: field_.get("label") or name for name, field_ in self.form_fields.items()}

    def search_text(self, business_key: str | None, variables: dict) -> str:
        """What the inbox's text search matches: the business key and the summary fields, as shown."""
        parts = [business_key or ""]
        for name in self.summary_fields:
            value = variables.get(name)
            if value not in (None, ""):
                parts.append(f"{value} {self.display_value(name, value)}")
        return " | ".join(parts).lower()[:4000]

    def display_value(self, name: str, value):
        """An enum value as its option's name (e.g. 'no_reason' → '7-day no reason'), others unchanged."""
        options = self.form_fields.get(name, {}).get("options") or []
        return next((o["name"] for o in options if o["id"] == value and o.get("name")), value)


class DeploymentError(ValueError):
    """The bundle cannot be deployed; `problems` lists every reason, each naming file or element."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def parse_bundle(
    files: Sequence[ModelFile],
    *,
    max_bytes: int,
    known_topics: Callable[[], Iterable[str]] | None = None,
    delegates: Mapping[str, str] | None = None,
) -> dict[str, ParsedProcess]:
    """Parse, lint and translate a bundle; raise DeploymentError listing every problem found.
    `delegates` maps Java delegate names (camunda:class, ...) to connector topics."""
    if not files:
        raise DeploymentError(["no files given"])
    parser = LooplineParser()
    problems: list[str] = []
    roots: dict[str, etree._Element] = {}
    for model in sorted(files, key=lambda f: (f.kind != "dmn", f.name)):
        if model.kind == "texts":
            continue
        try:
            root = parse_model_xml(model.content, model.name, max_bytes)
            roots[model.name] = root
            if model.kind == "dmn":
                parser.add_dmn_xml(root, filename=model.name)
            else:
                assign_missing_ids(root)
                lint = apply_camunda_semantics(root)  # first: the rewrites give later checks Camunda's reading
                lint += bind_delegates(root, delegates or {}) + structural_problems(root) + _lint_bpmn(root)
                problems.extend(f"{model.name}: {p}" for p in lint)
                if not lint:
                    parser.add_bpmn_xml(etree.ElementTree(root), filename=model.name)
        except UnsafeXmlError as exc:
            problems.append(str(exc))
        except (ValidationException, ExpressionError) as exc:
            problems.append(f"{model.name}: {_describe(exc)}")
    texts, text_problems = bundle_texts(files, {f.name: roots[f.name] for f in files if f.name in roots})
    problems.extend(text_problems)
    if problems:
        raise DeploymentError(problems)

    decision_names = [f.name for f in files if f.kind == "dmn"]
    decision_files = [f for f in sorted(files, key=lambda f: f.name)  # with their translations
                      if f.kind == "dmn" or any(translates(f.name, name) for name in decision_names)]
    dmn_hash_part = "".join(f.name + f.content for f in decision_files)
    processes: dict[str, ParsedProcess] = {}
    for model in files:
        if model.kind != "bpmn":
            continue
        for process, process_id, process_name, properties in _executable_processes(roots[model.name]):
            try:
                spec = parser.get_spec(process_id)
                subprocess_specs = bundle_subprocess_specs(parser, process_id)
            except (ValidationException, ExpressionError) as exc:
                problems.append(f"{model.name}: process '{process_id}': {_describe(exc)}")
                continue
            problems.extend(f"{model.name}: {p}" for p in missing_from_spec(process, spec, subprocess_specs))
            translated = SpecTranslator(known_topics).translate(spec, subprocess_specs)
            problems.extend(f"{model.name}: {p}" for p in translated)
            problems.extend(f"{model.name}: process '{process_id}': {p}" for p in metric_problems(properties))
            texts_part = "".join(f.name + f.content for f in sorted(files, key=lambda f: f.name)
                                 if f.kind == "texts" and f.name.startswith(model_stem(model.name) + "."))
            digest = hashlib.sha256((model.content + dmn_hash_part + texts_part).encode("utf-8")).hexdigest()
            processes[process_id] = ParsedProcess(
                key=process_id,
                name=process_name,
                spec=spec,
                subprocess_specs=subprocess_specs,
                source_file=model.name,
                content_hash=digest,
                start_messages=_start_messages(spec),
                start_form=_start_form(spec),
                summary_fields=[f.strip() for f in properties.get("summaryFields", "").split(",") if f.strip()],
                business_key_field=properties.get("businessKeyField") or None,
                initiator_variable=_initiator_variable(process),
                texts=texts[model.name],
                properties=dict(properties),
            )
    if problems:
        raise DeploymentError(problems)
    if not processes and any(model.kind == "bpmn" for model in files):
        raise DeploymentError(['no executable process (isExecutable="true") in the bundle'])
    # a called process of the bundle may throw compensation: every spec carries the bundle's plan
    plan = CompensationPlan()
    for root in roots.values():
        plan = plan | plan_of(root)
    for process in processes.values():
        mark_specs([process.spec, *process.subprocess_specs.values()], plan)
    return processes  # empty for a DMN-only bundle: its decisions serve processes deployed later


def _describe(exc: Exception) -> str:
    element = getattr(exc, "id", None) or getattr(exc, "node_id", None)
    message = plain_words(getattr(exc, "message", None) or str(exc))
    return f"element '{element}': {message}" if element else message


# what the parser library says → what a process owner can act on
LIBRARY_PHRASES = {
    "There is no support implemented for this task type": "this kind of element is not supported",
    "Unsupported Catch Event": "this kind of catching event is not supported",
    "Unsupported Throw Event": "this kind of throwing event is not supported",
    "perhaps a form has the same ID": "two elements have the same id, or a flow leads to an element that "
                                      "does not exist",
}
LIBRARY_REPR = re.compile(r"\b[A-Z]\w*(Error|Exception)\(")
# an element written out (with attributes, self-closing or closing), not a word in angle brackets
XML_DUMP = re.compile(r"b'<|<\?xml|<[A-Za-z][\w:.-]*\s+[\w:.-]+=|<[A-Za-z][\w:.-]*\s*/>|</[A-Za-z]")


def plain_words(message: str) -> str:
    """A parser message without library class names, Python reprs or XML dumps."""
    for phrase, words in LIBRARY_PHRASES.items():
        if phrase in message:
            return words
    if LIBRARY_REPR.search(message) or XML_DUMP.search(message):
        return "the engine cannot read this element as it is written; check its settings against bpmn/README.md"
    return message.strip()


def _executable_processes(root: etree._Element) -> list[tuple[etree._Element, str, str | None, dict[str, str]]]:
    """(element, id, name, camunda properties) of each executable process."""
    return [
        (process, process.get("id"), process.get("name"), _process_properties(process))
        for process in root.iter(f"{{{BPMN_NS}}}process")
        if process.get("isExecutable", "true").lower() == "true"
    ]


def _initiator_variable(process: etree._Element) -> str | None:
    """The variable a start event's camunda:initiator names (Camunda sets it to the starting user)."""
    for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
        if start.get(f"{{{CAMUNDA_MODEL_NS}}}initiator"):
            return start.get(f"{{{CAMUNDA_MODEL_NS}}}initiator").strip()
    return None


def _process_properties(process: etree._Element) -> dict[str, str]:
    path = f"./{{{BPMN_NS}}}extensionElements/{{{CAMUNDA_MODEL_NS}}}properties/{{{CAMUNDA_MODEL_NS}}}property"
    return {prop.get("name"): prop.get("value") or "" for prop in process.findall(path)}


EXPRESSION_ELEMENTS = {
    "conditionExpression": ("condition", translate_expression),
    "condition": ("condition", translate_expression),
    "completionCondition": ("completion condition", translate_expression),
    "loopCardinality": ("loop cardinality", translate_expression),
    "timeDuration": ("timer", translate_timer),
    "timeDate": ("timer", translate_timer),
    "timeCycle": ("timer", translate_timer),
}


def _lint_bpmn(root: etree._Element) -> list[ModelProblem]:
    """Check every expression where it is written (naming the flow or event), and reject constructs
    SpiffWorkflow 3.2 parses but runs wrongly."""
    problems = []
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        local = etree.QName(element).localname
        if local not in EXPRESSION_ELEMENTS or not (element.text or "").strip():
            continue
        what, translate = EXPRESSION_ELEMENTS[local]
        owner = element.getparent()
        if local.startswith("time"):
            owner = owner.getparent()  # timerEventDefinition → the event
        try:
            translate(element.text.strip())
        except ExpressionError as exc:
            problems.append(ModelProblem(owner.get("id") or local, f"{what} {element.text.strip()!r}: {exc}"))
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == "standardLoopCharacteristics":
            parent = element.getparent()
            problems.append(
                ModelProblem(
                    parent.get("id"),
                    "standard loops are not supported (they stall after ~330 iterations); "
                    "model the loop with a gateway and keep it short",
                )
            )
    return problems


def _start_form(spec) -> list[dict]:
    """Fields of the form on the process's none start event (message and timer starts have none)."""
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, StartEvent) and getattr(task_spec, "event_definition", None) is not None \
                and type(task_spec.event_definition).__name__ == "NoneEventDefinition":
            return describe_form(getattr(task_spec, "form", None))
    return []


def _start_messages(spec) -> list[str]:
    names = []
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, StartEvent) and isinstance(definition, MessageEventDefinition):
            names.append(definition.name)
    return names
