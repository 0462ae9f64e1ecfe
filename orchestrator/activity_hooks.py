"""The patch of SpiffWorkflow's task life cycle where Camunda 7 opens and closes an activity (the other patch of
that cycle, `prediction`, fixes a SpiffWorkflow bug).

SpiffWorkflow has no activity instances with scopes and listeners, so Loopline hooks the points every BPMN task
passes through:
- when a task is updated and becomes ready (or is entered to wait for its event): the activity's input
  mapping (`local_io`), then its start listeners and a user task's create listeners (`listeners`);
- when it completes: a user task's complete listeners and the end listeners, then the output mapping.
Both act only on specs the parser marked, so every other task runs as SpiffWorkflow runs it.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.util.task import TaskState

from orchestrator import listeners, local_io

_update = TaskSpec._update
_update_hook = BpmnTaskSpec._update_hook
_on_complete_hook = BpmnTaskSpec._on_complete_hook


def _update_opening_the_activity(self, my_task):
    _update(self, my_task)
    if listeners.of(self):
        listeners.start_once(my_task, ready=my_task.has_state(TaskState.READY))


def _update_hook_with_inputs(self, my_task):
    ready = _update_hook(self, my_task)
    if ready and local_io.marked(self):
        local_io.open_scope(my_task)
    if ready and isinstance(self, SubWorkflowTask) and listeners.of(self):
        listeners.start_once(my_task, ready=True)  # a subprocess copies its variables in right after this hook
    return ready


def _on_complete_hook_closing_the_activity(self, my_task):
    if listeners.of(self):
        listeners.finish(my_task)
    if local_io.marked(self):
        local_io.close_scope(my_task)
    _on_complete_hook(self, my_task)


BpmnTaskSpec._update = _update_opening_the_activity
BpmnTaskSpec._update_hook = _update_hook_with_inputs
BpmnTaskSpec._on_complete_hook = _on_complete_hook_closing_the_activity
