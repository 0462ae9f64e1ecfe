"""Camunda 7 results for multi-instance activities, as SpiffWorkflow task specs.

In Camunda 7 the element variable and the counters (loopCounter, nrOf*) are local to an instance; whatever
else an instance sets lands in the process scope, so after the activity the process sees it (the last
completion's value wins). SpiffWorkflow's Camunda multi-instance writes back only the element variable
into the collection and drops the rest; without a collection it deep-merges each instance's whole data,
so an instance finishing later puts back the values it started with over what an earlier one set.
"""

from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.task_spec import MultiInstanceTaskConverter
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.defaults import ParallelMultiInstanceTask as BpmnParallelMultiInstanceTask
from SpiffWorkflow.bpmn.specs.defaults import SequentialMultiInstanceTask as BpmnSequentialMultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    ParallelMultiInstanceTask as CamundaParallelMultiInstanceTask,
)
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    SequentialMultiInstanceTask as CamundaSequentialMultiInstanceTask,
)

COUNTERS = frozenset({"loopCounter", "nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances"})
# per variable an instance set in the scope: [the value the running instances started from] or [] (unset)
STARTED_FROM = "loopline_values_instances_started_from"


class InstanceResults(MultiInstanceTask):
    """The merge step of a multi-instance activity with Camunda's meaning. It sits after SpiffWorkflow's
    parallel or sequential class in the method order, so it replaces the merge those call before they
    decide whether the activity is complete."""

    def create_child(self, my_task, item, key_or_index=None):
        # a new instance starts from the scope's current values (sequential: those after the previous merge)
        my_task.internal_data[STARTED_FROM] = {}
        super().create_child(my_task, item, key_or_index)

    def merge_child(self, workflow, child):
        my_task = child.parent
        if self.data_output is not None and self.output_item is not None:
            super().merge_child(workflow, child)  # the element variable back into the collection
        else:
            my_task.internal_data["merged"].append(str(child.id))
        started_from = my_task.internal_data.setdefault(STARTED_FROM, {})
        local = self._local_names()
        for name, value in child.data.items():
            if name in local:
                continue
            before = started_from.get(name, [my_task.data[name]] if name in my_task.data else [])
            if before == [value]:
                continue  # not set by this instance: a sibling's value stays
            started_from.setdefault(name, deepcopy(before))
            my_task.data[name] = deepcopy(value)

    def _local_names(self) -> set[str]:
        """The element variable and the collection stay with the instances, as do Camunda's counters."""
        references = (self.output_item, self.input_item, self.data_output, self.data_input)
        return {ref.bpmn_id for ref in references if ref is not None} | COUNTERS

    def check_cardinality(self, my_task) -> None:
        """Camunda's loopCardinality is a number of instances: refuse anything else naming the element (SpiffWorkflow
        failed with a TypeError, or took a list as the collection and changed the spec every instance shares)."""
        if self.cardinality is None:
            return
        my_task._inherit_data()
        value = my_task.workflow.script_engine.evaluate(my_task, self.cardinality)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise WorkflowTaskException(f"loopCardinality '{self.cardinality}' gave {value!r}, not a number of "
                                        "instances; use camunda:collection to run one instance per item",
                                        task=my_task)


class ParallelMultiInstance(CamundaParallelMultiInstanceTask, InstanceResults):
    """A parallel multi-instance activity whose instances' variables reach the process (see InstanceResults);
    SpiffWorkflow's Camunda set-up at start is done at parse (CamundaLoopParsing)."""

    def _update_hook(self, my_task):
        self.check_cardinality(my_task)
        return BpmnParallelMultiInstanceTask._update_hook(self, my_task)


class SequentialMultiInstance(CamundaSequentialMultiInstanceTask, InstanceResults):
    """A sequential multi-instance activity whose instances' variables reach the process (see InstanceResults);
    SpiffWorkflow's Camunda set-up at start is done at parse (CamundaLoopParsing)."""

    def _update_hook(self, my_task):
        self.check_cardinality(my_task)
        return BpmnSequentialMultiInstanceTask._update_hook(self, my_task)


LOOP_CLASSES = {
    CamundaParallelMultiInstanceTask: ParallelMultiInstance,
    CamundaSequentialMultiInstanceTask: SequentialMultiInstance,
}


class CamundaLoopParsing:
    """Task parsers build Loopline's multi-instance specs instead of SpiffWorkflow's Camunda ones.

    SpiffWorkflow completes these specs when the activity starts, on the spec object: it connects an
    instance's completion to the merge and names the collection as input and the element variable as input
    item. A spec parsed again (another process, a restart) then restores a running activity without them and
    drops the merges of its remaining instances, or appends to the collection instead of writing back.
    They are set here, at parse; a collection without element variable (which SpiffWorkflow fails on) runs
    one instance per item and writes nothing back, as in Camunda."""

    task: object
    spec: object

    def _add_multiinstance_task(self, loop_characteristics):
        super()._add_multiinstance_task(loop_characteristics)
        task = self.task
        task.__class__ = LOOP_CLASSES.get(type(task), type(task))
        if task.cardinality is None:
            task.data_input = TaskDataReference(task.data_output.bpmn_id)
            if task.output_item is None:
                task.data_output = None
        if task.output_item is not None:
            task.input_item = TaskDataReference(task.output_item.bpmn_id)
        self.spec.task_specs[task.task_spec].completed_event.connect(task.merge_child)


# for serializers that embed the spec (exports); the class names differ from SpiffWorkflow's, which the
# serializer would otherwise confuse
MULTI_INSTANCE_CONVERTERS = {cls: MultiInstanceTaskConverter for cls in LOOP_CLASSES.values()}
