"""User tasks: the caller's work list, one task with its form, claim / unclaim / assign / complete."""

from __future__ import annotations

from flask_smorest import Blueprint

from orchestrator.errors import InvalidInput
from orchestrator.query_filters import TaskFilter
from orchestrator.user_tasks import TaskOutcome
from web.api.context import actor, engine
from web.api.idempotency import command
from web.api.presenters import task_detail_view, task_view
from web.api.problems import PROBLEM
from web.api.schemas import (
    AssignArgs,
    CompleteArgs,
    ProblemSchema,
    TaskDetailSchema,
    TaskListArgs,
    TaskPageSchema,
)
from web.auth.users import groups_of
from web.extensions import db

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks", description="User tasks")


@blp.route("", methods=["GET"])
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, TaskPageSchema)
def list_tasks(args):
    """Tasks of my groups or assigned to me (everything for readers of all), filtered and sorted."""
    criteria = TaskFilter(
        assigned_to_me=args["assignedToMe"], my_groups=args["myGroups"], unassigned=args["unassigned"],
        group=args.get("group"), instance_id=args.get("instanceId"), business_key=args.get("businessKey"),
        definition_key=args.get("definitionKey"), variable=args.get("variable"), equals=args.get("equals"),
        contains=args.get("contains"), due_before=args.get("dueBefore"), state=args["state"], sort=args["sort"],
        descending=args["descending"], limit=args["limit"], offset=args["offset"],
    )
    page = engine().queries.list_tasks(actor(), criteria)
    return {"items": [task_view(task, instance, definition.key) for task, instance, definition in page.items],
            "total": page.total,
            "limit": page.limit, "offset": page.offset}


@blp.route("/<string:task_id>", methods=["GET"])
@blp.response(200, TaskDetailSchema)
def get_task(task_id: str):
    """The task with its form fields (type, required, options, constraints, current value)."""
    return _detail(engine().queries.task_for(actor(), task_id))


def _task_now(*_parsed, task_id: str) -> dict:
    """The task as it is now: the answer to a retried command whose first answer was lost."""
    return _detail(engine().queries.task_for(actor(), task_id))


@blp.route("/<string:task_id>/claim", methods=["POST"])
@blp.response(200, TaskDetailSchema)
@command(_task_now)
def claim(task_id: str):
    return _outcome(engine().tasks.claim_task(task_id, actor=actor()))


@blp.route("/<string:task_id>/unclaim", methods=["POST"])
@blp.response(200, TaskDetailSchema)
@command(_task_now)
def unclaim(task_id: str):
    return _outcome(engine().tasks.unclaim_task(task_id, actor=actor()))


@blp.route("/<string:task_id>/assign", methods=["POST"])
@blp.arguments(AssignArgs)
@blp.response(200, TaskDetailSchema)
@command(_task_now)
def assign(args, task_id: str):
    """Hand the task to a person or API key of one of its groups (admins: to anyone known)."""
    caller = actor()  # first: an anonymous caller must not learn who exists from a 422
    user_groups = groups_of(db.session, args["user"])
    if user_groups is None:
        raise InvalidInput("unknown assignee", {"user": f"no active person or API key named {args['user']!r}"})
    return _outcome(engine().tasks.assign_task(task_id, args["user"], actor=caller, user_groups=user_groups))


@blp.route("/<string:task_id>/complete", methods=["POST"])
@blp.arguments(CompleteArgs, required=False)
@blp.response(200, TaskDetailSchema)
@blp.alt_response(409, description="Already completed, or claimed by someone else", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="Invalid form values; `errors` names each field", schema=ProblemSchema, content_type=PROBLEM)
@command(_task_now)
def complete(args, task_id: str):
    """Complete the task with form values (typed and checked by the form's field definitions)."""
    return _outcome(engine().tasks.complete_user_task(task_id, args["variables"], actor=actor()))


def _outcome(done: TaskOutcome) -> dict:
    """The task as the command committed it: one engine call per request, nothing read back."""
    return task_detail_view(done.task, done.instance, done.definition_key)


def _detail(found: tuple) -> dict:
    task, instance, definition = found
    return task_detail_view(task, instance, definition.key)
