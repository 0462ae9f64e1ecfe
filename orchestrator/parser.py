"""Camunda 7 flavour BPMN/DMN parsing that keeps the extensions SpiffWorkflow's CamundaParser drops."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import ERROR_EVENT_XPATH, ReceiveTaskParser
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EndEvent,
    IntermediateThrowEvent,
    ManualTask,
    NoneTask,
    ReceiveTask,
    ScriptTask,
    ServiceTask,
    StartEvent,
    TransactionSubprocess,
)
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaEndEventParser,
    CamundaEventDefinitionParser,
    CamundaIntermediateCatchEventParser,
    CamundaIntermediateThrowEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import (
    CAMUNDA_MODEL_NS,
    BusinessRuleTaskParser,
    CallActivityParser,
    CamundaTaskParser,
    ScriptTaskParser,
    SubWorkflowParser,
    UserTaskParser,
)
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.camunda.specs.user_task import UserTask

from orchestrator import (
    activity_hooks,  # noqa: F401 - installs the task life-cycle patch
    listeners,
    local_io,
    prediction,  # noqa: F401 - installs the prediction fix
)
from orchestrator.call_activities import BINDINGS as CALL_BINDINGS
from orchestrator.call_activities import MappedCallActivity, read_mappings
from orchestrator.decisions import DecisionEngine
from orchestrator.dmn import DecisionTable, parse_decisions
from orchestrator.error_events import CaughtErrorEventDefinition, PropagatedErrorEventDefinition
from orchestrator.event_specs import (
    EventGateway,
    EventSubprocessStart,
    EventSubprocessTask,
    RacingCatchEvent,
    ScopeEndJoin,
    check_event_subprocess_start,
)
from orchestrator.expressions import ExpressionError
from orchestrator.multi_instance import CamundaLoopParsing
from orchestrator.timer_events import bounded

CAMUNDA = "{" + CAMUNDA_MODEL_NS + "}"

# camunda:* attributes copied onto `task_spec.extensions` under the same name.
KEPT_ATTRIBUTES = (
    "candidateGroups",
    "candidateUsers",
    "assignee",
    "dueDate",
    "followUpDate",
    "priority",
    "formKey",
    "type",
    "topic",
    "decisionRef",
    "resultVariable",
    "mapDecisionResult",
    "class",
    "expression",
    "delegateExpression",
)


class CamundaExtensionsMixin:
    """Copy camunda:* attributes, properties and inputOutput parameters into `extensions`."""

    node: Any

    def parse_extensions(self, node=None) -> dict[str, Any]:
        node = self.node if node is None else node
        extensions: dict[str, Any] = {}
        for prop in node.findall(f"./{{*}}extensionElements/{CAMUNDA}properties/{CAMUNDA}property"):
            extensions.setdefault("properties", {})[prop.get("name")] = prop.get("value")
        for attribute in KEPT_ATTRIBUTES:
            value = node.get(CAMUNDA + attribute)
            if value is not None:
                extensions[attribute] = value
        io = node.find(f"./{{*}}extensionElements/{CAMUNDA}inputOutput")
        if io is not None:
            extensions["inputParameters"] = [_parameter(p) for p in io.findall(f"{CAMUNDA}inputParameter")]
            extensions["outputParameters"] = [_parameter(p) for p in io.findall(f"{CAMUNDA}outputParameter")]
            if etree.QName(node).localname in local_io.ELEMENTS:
                extensions[local_io.LOCAL_IO] = True  # the activity's own variables (orchestrator.local_io)
        for unsupported in ("connector",):  # listeners are refused on every element (camunda_compat)
            if node.find(f"./{{*}}extensionElements/{CAMUNDA}{unsupported}") is not None:
                extensions.setdefault("unsupported", []).append(f"camunda:{unsupported}")
        return extensions


def _mark_local_io(container, spec) -> None:
    """Events and receive tasks are read by parsers without Camunda extensions: give their specs the
    inputOutput mapping here, as `CamundaExtensionsMixin` gives the others (orchestrator.local_io)."""
    for element in container:
        if not isinstance(element.tag, str) or etree.QName(element).localname not in local_io.ELEMENTS:
            continue
        io = element.find(f"./{{*}}extensionElements/{CAMUNDA}inputOutput")
        task_spec = spec.task_specs.get(element.get("id"))
        if io is None or task_spec is None or extensions_of(task_spec).get(local_io.LOCAL_IO):
            continue
        extensions = dict(extensions_of(task_spec))
        extensions["inputParameters"] = [_parameter(p) for p in io.findall(f"{CAMUNDA}inputParameter")]
        extensions["outputParameters"] = [_parameter(p) for p in io.findall(f"{CAMUNDA}outputParameter")]
        extensions[local_io.LOCAL_IO] = True
        task_spec.extensions = extensions


def _parameter(node) -> dict[str, Any]:
    """A camunda input/output parameter: a text value, a list, a map or a script (checked by the translation)."""
    name = node.get("name")
    children = [child for child in node if isinstance(child.tag, str)]
    if not children:
        return {"name": name, "kind": "text", "value": node.text or ""}
    child = children[0]
    local = etree.QName(child).localname
    if local == "list":
        return {"name": name, "kind": "list", "value": [item.text or "" for item in child]}
    if local == "map":
        return {"name": name, "kind": "map", "value": {e.get("key"): e.text or "" for e in child}}
    if local == "script":
        return {"name": name, "kind": "script", "value": child.text or "", "resource": child.get("resource"),
                "language": (child.get("scriptFormat") or "").strip().lower()}
    return {"name": name, "kind": local, "value": None}


class MessageEventDefinition(CamundaMessageEventDefinition):
    """A message whose variables become process variables, as in Camunda (unless resultVariable is set)."""

    def update_internal_data(self, my_task, event):
        my_task.internal_data[self.name] = event.payload

    def update_task_data(self, my_task):
        payload = my_task.internal_data.get(self.name)
        if payload is None:
            return
        variables = payload.get("payload") if isinstance(payload, dict) else payload
        if self.result_var:
            my_task.data[self.result_var] = variables
        elif isinstance(variables, dict):
            my_task.set_data(**variables)


class LooplineMessageParsing(CamundaExtensionsMixin):
    """Event parsers that build Loopline's message definition and keep camunda properties."""

    def parse_message_event(self, message_event):
        parsed = super().parse_message_event(message_event)
        return MessageEventDefinition(
            parsed.name, parsed.correlation_properties, parsed.expression, parsed.result_var
        )


class CaughtErrorParsing:
    """Error boundary and start events keep camunda:errorCodeVariable / errorMessageVariable (see error_events)."""

    def parse_error_event(self, error_event):
        parsed = super().parse_error_event(error_event)
        return CaughtErrorEventDefinition(parsed.name, parsed.code, description=parsed.description,
                                          code_variable=error_event.get(CAMUNDA + "errorCodeVariable"),
                                          message_variable=error_event.get(CAMUNDA + "errorMessageVariable"))


class BoundedTimerParsing:
    """Timer events get Loopline's bounded, constant-time definitions (see orchestrator.timer_events)."""

    def parse_timer_event(self, event):
        return bounded(super().parse_timer_event(event))


class LooplineStartEventParser(CaughtErrorParsing, BoundedTimerParsing, LooplineMessageParsing,
                               CamundaStartEventParser):
    """A start event keeps its camunda:formData, so people can start the process from a form; the start
    event of an event subprocess is an EventSubprocessStart (interrupting unless isInterrupting="false")."""

    def create_task(self):
        in_event_subprocess = self.process_parser.node.get("triggeredByEvent") == "true"
        if in_event_subprocess:
            check_event_subprocess_start(self.node)
            self.spec_class = EventSubprocessStart
        elif self.node.find("{*}errorEventDefinition") is not None:
            self.raise_validation_exception("an error start event can only start an event subprocess (as in "
                                            "Camunda); use a none, message or timer start event here")
        task = super().create_task()
        task.form = UserTaskParser.get_form(self)
        if in_event_subprocess:
            task.interrupting = self.node.get("isInterrupting", "true").lower() != "false"
        return task

    def get_enum_field(self, xml_field):
        return UserTaskParser.get_enum_field(self, xml_field)

    def get_event_definition(self, xpaths):
        """The start of an event subprocess may also be an error (SpiffWorkflow's start events read none, so
        the event subprocess would start at once)."""
        if self.process_parser.node.get("triggeredByEvent") == "true":
            xpaths = [*xpaths, ERROR_EVENT_XPATH]
        return super().get_event_definition(xpaths)


class LooplineEndEventParser(LooplineMessageParsing, CamundaEndEventParser):
    """An error end event throws its error to the catcher Camunda 7 would pick (see error_events)."""

    def parse_error_event(self, error_event):
        parsed = super().parse_error_event(error_event)
        return PropagatedErrorEventDefinition(parsed.name, parsed.code, description=parsed.description)


class LooplineIntermediateCatchEventParser(BoundedTimerParsing, LooplineMessageParsing,
                                           CamundaIntermediateCatchEventParser):
    pass


class LooplineIntermediateThrowEventParser(LooplineMessageParsing, CamundaIntermediateThrowEventParser):
    pass


class LooplineBoundaryEventParser(CaughtErrorParsing, BoundedTimerParsing, LooplineMessageParsing,
                                  CamundaBoundaryEventParser):
    pass


class LooplineReceiveTaskParser(LooplineMessageParsing, CamundaEventDefinitionParser, ReceiveTaskParser):
    """A receive task waits for its message like a message catch event (SpiffWorkflow's parser would build a
    message no correlation reaches)."""


class LooplineTaskParser(CamundaLoopParsing, CamundaExtensionsMixin, CamundaTaskParser):
    pass


class LooplineEventGatewayParser(TaskParser):
    """An event-based gateway that activates the catch events after it (see event_specs.EventGateway)."""

    def handles_multiple_outgoing(self):
        return True


class LooplinePassThroughParser(LooplineTaskParser):
    """Camunda 7 runs a plain task and a manual task as pass-through activities: nothing waits there
    (SpiffWorkflow would hold them for someone to complete)."""

    def create_task(self):
        task = super().create_task()
        task.manual = False
        return task


class LooplineUserTaskParser(CamundaLoopParsing, CamundaExtensionsMixin, UserTaskParser):
    pass


class LooplineScriptTaskParser(CamundaLoopParsing, CamundaExtensionsMixin, ScriptTaskParser):
    """Keeps the script's language: JavaScript runs in its own engine (script_engine)."""

    def parse_extensions(self, node=None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        if node is None:
            extensions["scriptFormat"] = (self.node.get("scriptFormat") or "").strip().lower()
        return extensions


class LooplineSubWorkflowParser(CamundaLoopParsing, CamundaExtensionsMixin, SubWorkflowParser):
    """An embedded subprocess, or an event subprocess when triggeredByEvent (the Camunda parser ignores it)."""

    def create_task(self):
        if self.node.get("triggeredByEvent") == "true":
            self.spec_class = EventSubprocessTask
        return super().create_task()


class LooplineProcessParser(ProcessParser):
    """Event subprocesses start waiting with their scope, whatever their event (SpiffWorkflow starts those
    with a message start only on a message, and only at the top of a process), and the scope's end join
    completes the scope while they only wait (see event_specs)."""

    def add_tasks(self):
        super().add_tasks()
        listeners.attach(self.node, self.spec)
        _mark_local_io(self.node, self.spec)
        start = self.spec.start
        for name in start.trigger_specs:
            start.connect(self.spec.task_specs[name])
            self.spec.task_specs[name].connect(self.spec.end)
        start.trigger_specs = []
        if any(isinstance(spec, EventSubprocessTask) for spec in start.outputs):
            self.spec.end.__class__ = ScopeEndJoin


class LooplineCallActivityParser(CamundaLoopParsing, CamundaExtensionsMixin, CallActivityParser):
    """A call activity passing variables by its camunda:in / camunda:out mappings, as Camunda 7 does; a called
    process outside the bundle (or a fixed version) is resolved among deployed definitions when the call starts."""

    def create_task(self):
        if not (self.node.get("calledElement") or "").strip():
            self.raise_validation_exception(
                "a call activity needs calledElement, the id of the process it calls" + (
                    " (calling a CMMN case with camunda:caseRef is not supported)"
                    if self.node.get(CAMUNDA + "caseRef") else ""))
        try:
            variables_in, variables_out = read_mappings(self.node, "in"), read_mappings(self.node, "out")
        except (ExpressionError, ValueError) as exc:
            self.raise_validation_exception(str(exc))
        subworkflow_spec = SubprocessParser.get_call_activity_spec(self)
        binding = self.node.get(f"{CAMUNDA}calledElementBinding", "latest").strip() or "latest"
        version = self.node.get(f"{CAMUNDA}calledElementVersion")
        if binding not in CALL_BINDINGS:
            self.raise_validation_exception(
                f"calledElementBinding {binding!r} is not supported; use latest, deployment or version")
        if binding == "version" and not (version or "").strip():
            self.raise_validation_exception('calledElementBinding "version" needs camunda:calledElementVersion')
        in_bundle = subworkflow_spec in self.process_parser.parser.process_parsers
        return MappedCallActivity(self.spec, self.bpmn_id, subworkflow_spec, variables_in=variables_in,
                                  variables_out=variables_out, binding=binding,
                                  called_version=(version or "").strip() or None, in_bundle=in_bundle,
                                  **self.bpmn_attributes)


class LooplineBusinessRuleTaskParser(CamundaLoopParsing, CamundaExtensionsMixin, BusinessRuleTaskParser):
    """A business rule task evaluated by Loopline's DMN engine (hit policies SpiffWorkflow lacks)."""

    def create_task(self):
        decision_ref = self.get_decision_ref(self.node)
        table = self.process_parser.parser.get_decision_table(decision_ref, self.node)
        engine = DecisionEngine(
            table,
            result_variable=self.node.get(CAMUNDA + "resultVariable"),
            map_decision_result=self.node.get(CAMUNDA + "mapDecisionResult") or "resultList",
        )
        return BusinessRuleTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)

    @staticmethod
    def get_decision_ref(node):
        ref = node.get(CAMUNDA + "decisionRef")
        if not ref:
            raise ValidationException(
                "business rule task needs camunda:decisionRef (only DMN decisions are supported)", node=node
            )
        return ref


class LooplineParser(CamundaParser):
    """CamundaParser plus extensions, external service tasks and Loopline's DMN tables."""

    PROCESS_PARSER_CLASS = LooplineProcessParser

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (LooplineUserTaskParser, UserTask),
        full_tag("startEvent"): (LooplineStartEventParser, StartEvent),
        full_tag("endEvent"): (LooplineEndEventParser, EndEvent),
        full_tag("intermediateCatchEvent"): (LooplineIntermediateCatchEventParser, RacingCatchEvent),
        full_tag("eventBasedGateway"): (LooplineEventGatewayParser, EventGateway),
        full_tag("intermediateThrowEvent"): (LooplineIntermediateThrowEventParser, IntermediateThrowEvent),
        full_tag("boundaryEvent"): (LooplineBoundaryEventParser, BoundaryEvent),
        full_tag("serviceTask"): (LooplineTaskParser, ServiceTask),
        full_tag("sendTask"): (LooplineTaskParser, ServiceTask),
        full_tag("receiveTask"): (LooplineReceiveTaskParser, ReceiveTask),
        full_tag("businessRuleTask"): (LooplineBusinessRuleTaskParser, BusinessRuleTask),
        full_tag("task"): (LooplinePassThroughParser, NoneTask),
        full_tag("manualTask"): (LooplinePassThroughParser, ManualTask),
        full_tag("scriptTask"): (LooplineScriptTaskParser, ScriptTask),
        full_tag("subProcess"): (LooplineSubWorkflowParser, CallActivity),
        full_tag("callActivity"): (LooplineCallActivityParser, MappedCallActivity),
        full_tag("transaction"): (LooplineSubWorkflowParser, TransactionSubprocess),
    }

    def __init__(self):
        super().__init__()
        self.decision_tables: dict[str, DecisionTable] = {}

    def add_dmn_xml(self, node, filename=None):
        """Register every decision table of a DMN file (SpiffWorkflow handles only one per file)."""
        for decision_id, table in parse_decisions(node).items():
            if decision_id in self.decision_tables:
                raise ValidationException(f"decision '{decision_id}' is defined twice", file_name=filename)
            self.decision_tables[decision_id] = table

    def get_decision_table(self, decision_ref: str, node) -> DecisionTable:
        if decision_ref not in self.decision_tables:
            known = ", ".join(sorted(self.decision_tables)) or "none"
            raise ValidationException(
                f"decision '{decision_ref}' is not deployed (known decisions: {known})", node=node
            )
        return self.decision_tables[decision_ref]

    def get_engine(self, decision_ref, node):  # pragma: no cover - replaced by get_decision_table
        raise NotImplementedError("Loopline builds decision engines in LooplineBusinessRuleTaskParser")


def extensions_of(task_spec) -> Mapping[str, Any]:
    """The camunda extensions kept for a task spec (empty for specs that have none)."""
    return getattr(task_spec, "extensions", None) or {}
