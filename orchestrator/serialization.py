"""Save and restore workflow state with the spec stored by reference (the deployment cache holds it)."""

from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from orchestrator.timer_events import TIMER_CONVERTERS

# SpiffWorkflow 3.2's Camunda config forgets the plain ServiceTask: full serialization would fail.
# Loopline's bounded timer definitions need their converters too.
FULL_CONFIG = {**CAMUNDA_CONFIG, ServiceTask: BpmnTaskSpecConverter, **TIMER_CONVERTERS}


class WorkflowStateConverter(BpmnWorkflowConverter):
    """Like SpiffWorkflow's converter, minus the specs: they come from the deployment on restore."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def full_serializer() -> BpmnWorkflowSerializer:
    """A serializer that embeds the spec, for exports; fixed for service tasks."""
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(FULL_CONFIG))


class StateSerializer:
    """Workflow state to JSON text and back; the script engine is re-attached on every restore."""

    def __init__(self):
        registry = BpmnWorkflowSerializer.configure(FULL_CONFIG)
        WorkflowStateConverter(BpmnWorkflow, registry)
        self._serializer = BpmnWorkflowSerializer(registry)

    def dumps(self, workflow: BpmnWorkflow) -> str:
        registry = self._serializer.registry
        registry._encoder_mode = True
        try:
            dct = self._serializer.to_dict(workflow)
            dct[BpmnWorkflowSerializer.VERSION_KEY] = self._serializer.VERSION
            return json.dumps(dct, cls=self._serializer._encoder_cls, separators=(",", ":"))
        finally:
            registry._encoder_mode = False

    def loads(self, text: str, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
        dct = json.loads(text)
        self._serializer.migrate(dct)
        workflow = self._serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
        workflow.script_engine = script_engine  # subprocesses read the top workflow's engine
        return workflow
