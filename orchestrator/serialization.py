"""Save and restore workflow state with the spec stored by reference (the deployment cache holds it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from orchestrator.call_activities import CALLED_SPEC_ATTRIBUTE
from orchestrator.error_events import ERROR_CONVERTERS
from orchestrator.event_specs import EVENT_CONVERTERS
from orchestrator.multi_instance import MULTI_INSTANCE_CONVERTERS
from orchestrator.timer_events import TIMER_CONVERTERS

# SpiffWorkflow 3.2's Camunda config forgets the plain ServiceTask: full serialization would fail.
# Loopline's bounded timer definitions, event, error and multi-instance specs need their converters too.
FULL_CONFIG = {**CAMUNDA_CONFIG, ServiceTask: BpmnTaskSpecConverter, **TIMER_CONVERTERS, **EVENT_CONVERTERS,
               **MULTI_INSTANCE_CONVERTERS, **ERROR_CONVERTERS}


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


class CalledSubWorkflowConverter(BpmnSubWorkflowConverter):
    """Keeps the pinned spec name (`child@3`) a call to a deployed process runs, so a restore finds that
    version (SpiffWorkflow looks the spec up by the call activity's calledElement)."""

    def to_dict(self, workflow):
        dct = super().to_dict(workflow)
        called = getattr(workflow, CALLED_SPEC_ATTRIBUTE, None)
        if called is not None:
            dct["called_spec"] = called
        return dct

    def from_dict(self, dct, task, top_workflow):
        called = dct.get("called_spec")
        if called is None:
            return super().from_dict(dct, task, top_workflow)
        subprocess = self.target_class(top_workflow.subprocess_specs[called], task.id, top_workflow,
                                       deserializing=True)
        subprocess.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=subprocess)
        subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(subprocess, dct)
        setattr(subprocess, CALLED_SPEC_ATTRIBUTE, called)
        return subprocess


def full_serializer() -> BpmnWorkflowSerializer:
    """A serializer that embeds the spec, for exports; fixed for service tasks."""
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(FULL_CONFIG))


class StateSerializer:
    """Workflow state to JSON text and back; the script engine is re-attached on every restore."""

    def __init__(self, called_specs: Callable[[Iterable[str]], dict] | None = None):
        registry = BpmnWorkflowSerializer.configure(FULL_CONFIG)
        WorkflowStateConverter(BpmnWorkflow, registry)
        CalledSubWorkflowConverter(BpmnSubWorkflow, registry)
        self._serializer = BpmnWorkflowSerializer(registry)
        self._called_specs = called_specs  # pinned names → specs of the deployed versions calls run

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
        called = {sub["called_spec"] for sub in dct["subprocesses"].values() if "called_spec" in sub}
        if called and self._called_specs is not None:
            subprocess_specs = {**subprocess_specs, **self._called_specs(called)}
        workflow = self._serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
        workflow.script_engine = script_engine  # subprocesses read the top workflow's engine
        return workflow
