"""A fix of SpiffWorkflow's task-tree prediction: a loop without a gateway no longer predicts forever.

`TaskSpec._predict` keeps the specs it has seen on a path, but compares them with tasks (never equal) and
records only tasks in a predicted state. A cycle of tasks that are all definitely coming (a service task, a
timer and back, started after a parallel gateway) then grows the predicted tree until Python's recursion limit:
the instance cannot even start. Here a path stops at a spec it has already passed, whatever the task's state,
and the task it stopped at is predicted on when it becomes ready (SpiffWorkflow predicts definite tasks only
once, ahead of time, so it would have no next step).
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec
from SpiffWorkflow.util.task import TaskState


def _predict(self, my_task, seen=None, looked_ahead=0, mask=TaskState.PREDICTED_MASK):
    seen = [] if seen is None else seen
    if my_task.has_state(mask):
        self._predict_hook(my_task)
    seen.append(self)
    look_ahead = my_task.has_state(TaskState.DEFINITE_MASK) or looked_ahead + 1 < self.lookahead
    for child in my_task.children:
        if child.has_state(mask) and child.task_spec not in seen and look_ahead:
            child.task_spec._predict(child, seen[:], looked_ahead + 1, mask)


_on_ready = BpmnTaskSpec._on_ready


def _on_ready_predicting(self, my_task):
    if not my_task.children and self.outputs:  # where a loop's prediction stopped
        self._predict(my_task, mask=TaskState.READY | TaskState.FUTURE | TaskState.PREDICTED_MASK)
    _on_ready(self, my_task)


BpmnTaskSpec._predict = _predict
BpmnTaskSpec._on_ready = _on_ready_predicting
