"""User tasks: the caller's work list, one task with its form, claim / unclaim / assign / complete."""

from __future__ import annotations

from flask_smorest import Blueprint

from orchestrator.errors import InvalidInput, NotFound
from orchestrator.queries import TaskFilter
from web.api.context import actor, engine
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


@blp.route("/<string:task_id>/claim", methods=["POST"])
@blp.response(200, TaskDetailSchema)
def claim(task_id: str):
    engine().tasks.claim_task(task_id, actor=actor())
    return _detail(engine().queries.task_for(actor(), task_id))


@blp.route("/<string:task_id>/unclaim", methods=["POST"])
@blp.response(200, TaskDetailSchema)
def unclaim(task_id: str):
    _task, instance, definition = engine().queries.task_for(actor(), task_id)
    released = engine().tasks.unclaim_task(task_id, actor=actor())
    try:
        return _detail(engine().queries.task_for(actor(), task_id))
    except NotFound:  # one's own task from outside one's groups: answer with what one just saw, released
        return task_detail_view(released, instance, definition.key)


@blp.route("/<string:task_id>/assign", methods=["POST"])
@blp.arguments(AssignArgs)
@blp.response(200, TaskDetailSchema)
def assign(args, task_id: str):
    """Hand the task to a person or API key of one of its groups (admins: to anyone known)."""
    caller = actor()  # first: an anonymous caller must not learn who exists from a 422
    user_groups = groups_of(db.session, args["user"])
    if user_groups is None:
        raise InvalidInput("unknown assignee", {"user": f"no active person or API key named {args['user']!r}"})
    engine().tasks.assign_task(task_id, args["user"], actor=caller, user_groups=user_groups)
    return _detail(engine().queries.task_for(caller, task_id))


@blp.route("/<string:task_id>/complete", methods=["POST"])
@blp.arguments(CompleteArgs, required=False)
@blp.response(200, TaskDetailSchema)
@blp.alt_response(409, description="Already completed, or claimed by someone else", schema=ProblemSchema, content_type=PROBLEM)
@blp.alt_response(422, description="Invalid form values; `errors` names each field", schema=ProblemSchema, content_type=PROBLEM)
def complete(args, task_id: str):
    """Complete the task with form values (typed and checked by the form's field definitions)."""
    done = engine().tasks.complete_user_task(task_id, args["variables"], actor=actor())
    return task_detail_view(done.task, done.instance, done.definition_key)  # as committed: one engine call


def _detail(found: tuple) -> dict:
    task, instance, definition = found
    return task_detail_view(task, instance, definition.key)
