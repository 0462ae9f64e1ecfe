"""Prune the finished part of a workflow's task tree before it is stored.

SpiffWorkflow keeps every task an instance ever ran in one tree: a loop adds a level per iteration,
so state grows without end and its task searches, which stop at depth 1000, lose the live tasks after
a few hundred iterations. What happened is kept in Loopline's history table; the stored tree only
needs the tasks that can still run and whatever those read from the past:

- the live tasks (not finished) and the last completed task,
- for a join that is still waiting, the earlier arrivals at the same join (their parents tell it which
  inputs are complete), back to the previous time the join fired.

Everything above the lowest common ancestor of those tasks, and every finished branch beside them,
is dropped, and that ancestor hangs directly under the root. In-memory task data is complete (the
serializer stores each task's data as a delta against its current parent), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.task import Task, TaskState

from orchestrator.compensation import settle


def prune_finished_tasks(workflow: BpmnWorkflow, on_drop: Callable[[list[Task]], None] | None = None) -> int:
    """Drop finished tasks no live task can reach back to, in the workflow and its subprocesses;
    ``on_drop`` sees them first (to record what they did). Returns how many were dropped."""
    if workflow.is_completed():
        return 0
    settle(workflow)  # a completed activity with a compensation handler may need undoing after its task is gone
    dropped = 0
    for graph in [workflow, *workflow.subprocesses.values()]:
        dropped += _prune(graph, on_drop)
    for subprocess in _orphan_subprocesses(workflow):
        if on_drop is not None:
            on_drop(list(subprocess.tasks.values()))
        dropped += len(subprocess.tasks)
    return dropped


class PruneWhileRunning:
    """A ``do_engine_steps`` callback that prunes every ``every`` completed tasks, so a loop that runs
    thousands of times inside one command never builds a tree deeper than SpiffWorkflow can search."""

    def __init__(self, workflow: BpmnWorkflow, on_drop: Callable[[list[Task]], None], every: int = 100) -> None:
        self.workflow = workflow
        self.on_drop = on_drop
        self.every = every
        self.completed = 0

    def __call__(self, _task: Task) -> None:
        self.completed += 1
        if self.completed % self.every == 0:
            prune_finished_tasks(self.workflow, self.on_drop)


def _prune(graph, on_drop: Callable[[list[Task]], None] | None) -> int:
    root = graph.task_tree
    anchors = list(_anchors(graph))
    if root is None or not anchors:
        return 0
    keep = _lowest_common_ancestor(anchors)
    if keep is None or keep is root or keep.parent is root:
        return 0
    kept = set(_subtree_ids(keep))
    kept.add(root.id)
    dropped = [task_id for task_id in graph.tasks if task_id not in kept]
    if on_drop is not None:
        on_drop([graph.tasks[task_id] for task_id in dropped])
    keep.data = dict(keep.data)  # its own full copy: its delta is taken against the root from now on
    keep._parent = root.id
    root._children = [keep.id]
    for task_id in dropped:
        del graph.tasks[task_id]
    return len(dropped)


def _anchors(graph) -> Iterator[Task]:
    """Tasks whose ancestors must stay: live ones, the last completed one, earlier arrivals at waiting joins."""
    live = [task for task in graph.tasks.values() if not task.has_state(TaskState.FINISHED_MASK)]
    yield from live
    if graph.last_task is not None and graph.last_task.id in graph.tasks:
        yield graph.last_task
    for join in live:
        if isinstance(join.task_spec, Join):
            yield from _earlier_arrivals(graph, join)


def _earlier_arrivals(graph, join: Task) -> Iterable[Task]:
    """Finished tasks of the join's spec since it last fired: a waiting join counts its inputs from them."""
    ancestors = set(_ancestor_ids(join))
    previous = next((task for task in _ancestors_of(join) if task.task_spec == join.task_spec), None)
    for task in graph.tasks.values():
        if (task.task_spec == join.task_spec and task.has_state(TaskState.FINISHED_MASK)
                and task.id not in ancestors
                and (previous is None or previous.id in _ancestor_ids(task))):
            yield task


def _ancestors_of(task: Task) -> Iterator[Task]:
    parent = task.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _ancestor_ids(task: Task) -> Iterator[UUID]:
    return (ancestor.id for ancestor in _ancestors_of(task))


def _lowest_common_ancestor(tasks: list[Task]) -> Task | None:
    """The deepest task that is an ancestor of (or one of) all ``tasks``."""
    path = [tasks[0], *_ancestors_of(tasks[0])]  # from the task up to the root
    position = {task.id: index for index, task in enumerate(path)}
    lowest = 0
    for task in tasks[1:]:
        node = task
        while node is not None and node.id not in position:
            node = node.parent
        if node is None:
            return None
        lowest = max(lowest, position[node.id])
    return path[lowest]


def _subtree_ids(task: Task) -> Iterator[UUID]:
    stack = [task]
    while stack:
        node = stack.pop()
        yield node.id
        stack.extend(child for child in node.children if child is not None)


def _orphan_subprocesses(workflow: BpmnWorkflow) -> list:
    """Remove and return the subprocesses whose task was pruned: a subprocess lives as long as its task."""
    removed = []
    while True:
        present = set(workflow.tasks)
        for subprocess in workflow.subprocesses.values():
            present.update(subprocess.tasks)
        orphans = [task_id for task_id in workflow.subprocesses if task_id not in present]
        if not orphans:
            return removed
        removed.extend(workflow.subprocesses.pop(task_id) for task_id in orphans)
