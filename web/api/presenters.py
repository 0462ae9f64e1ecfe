"""Turn engine views (or a command's committed rows, read the same way) into the plain dicts the API schemas dump."""

from __future__ import annotations

from typing import Any

from orchestrator.models import HumanTask, ProcessDefinition, ProcessInstance
from orchestrator.views import DefinitionView, InstanceView, TaskView

Instance = InstanceView | ProcessInstance
Task = TaskView | HumanTask
Definition = DefinitionView | ProcessDefinition


def instance_view(instance: Instance, definition: Definition) -> dict[str, Any]:
    return {
        "id": instance.id, "definitionKey": definition.key, "definitionVersion": definition.version,
        "businessKey": instance.business_key, "status": instance.status, "startedBy": instance.started_by,
        "startedAt": instance.started_at, "endedAt": instance.ended_at, "nextTimerAt": instance.next_timer_at,
        "variables": instance.variables or {},
    }


def task_view(task: Task, instance: Instance, definition_key: str) -> dict[str, Any]:
    return {
        "id": task.id, "instanceId": task.instance_id, "definitionKey": definition_key,
        "businessKey": instance.business_key, "elementId": task.element_id, "name": task.name,
        "state": task.state, "candidateGroups": task.candidate_groups or [], "assignee": task.assignee,
        "priority": task.priority, "dueAt": task.due_at, "createdAt": task.created_at,
        "completedAt": task.completed_at, "completedBy": task.completed_by,
    }


def field_view(field: dict[str, Any]) -> dict[str, Any]:
    """One form field as clients read it: type, required / read-only, enum values and the other constraints."""
    rules = field.get("validation") or {}
    return {
        "id": field["id"], "label": field.get("label"), "type": field["type"],
        "required": "required" in rules, "readonly": "readonly" in rules, "default": field.get("default"),
        "options": field.get("options") or [],
        "constraints": {k: v for k, v in rules.items() if k not in ("required", "readonly")},
        "properties": field.get("properties") or {},
    }


def task_detail_view(task: Task, instance: Instance, definition_key: str) -> dict[str, Any]:
    """The task plus its form: each field with type, constraints and the current value of its variable."""
    variables = instance.variables or {}
    form = [{**field_view(field), "value": variables.get(field["id"])} for field in task.form or []]
    return {**task_view(task, instance, definition_key), "form": form, "variables": variables}


def start_form_view(definition: Definition, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"key": definition.key, "version": definition.version, "name": definition.name,
            "form": [field_view(field) for field in fields]}


def definitions_view(definitions: list[DefinitionView]) -> list[dict[str, Any]]:
    """Group versions by key; the first of each key is the newest."""
    grouped: dict[str, dict[str, Any]] = {}
    for definition in definitions:
        entry = grouped.setdefault(definition.key, {
            "key": definition.key, "name": definition.name, "latest_version": definition.version,
            "start_messages": definition.start_messages or [], "versions": [],
        })
        entry["versions"].append(definition)
    return list(grouped.values())
