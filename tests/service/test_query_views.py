"""The query side answers with frozen views, never ORM rows, and applies authorization itself."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect as python_inspect
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Row

from orchestrator.actors import Actor
from orchestrator.db import Base
from orchestrator.definitions import ParsedProcess
from orchestrator.errors import Forbidden, NotFound
from orchestrator.models import Attachment
from orchestrator.query_filters import IncidentFilter, InstanceFilter, JobFilter, TaskFilter
from orchestrator.settings import RetryPolicy
from orchestrator.views import View
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect

STRANGER = Actor("stranger", groups=frozenset({"warehouse"}), roles=frozenset({"staff"}))
COMMENTER = Actor("owner", roles=frozenset({"process_owner"}))


def leaks(value: Any) -> Iterator[Any]:
    """Every ORM object or SQLAlchemy row reachable from a query's answer."""
    if isinstance(value, Base | Row):
        yield value
    elif isinstance(value, dict):
        for item in (*value.keys(), *value.values()):
            yield from leaks(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from leaks(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, ParsedProcess | type):
        for field in dataclasses.fields(value):
            yield from leaks(getattr(value, field.name))


def views_in(value: Any) -> Iterator[View]:
    if isinstance(value, View):
        yield value
    if isinstance(value, list | tuple):
        for item in value:
            yield from views_in(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, ParsedProcess | View | type):
        for field in dataclasses.fields(value):
            yield from views_in(getattr(value, field.name))


def public_methods(group: object) -> set[str]:
    return {name for name, _ in python_inspect.getmembers(type(group), python_inspect.isfunction)
            if not name.startswith("_")}


def files_of(engine, instance_id: str) -> list[str]:
    return [a.id for a in engine.attachments.attachments_of(ADMIN, instance_id)]


@pytest.fixture
def cases(make_engine, database, ledger):
    """An engine with three cases: one worked to its message wait (with a comment and a file), one waiting
    for approval (task and timers), one whose job became an incident."""
    engine = make_engine(database, topic_retry={"test.refund": RetryPolicy(max_attempts=1, backoff_base=0.001,
                                                                           backoff_max=0.001)})
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    worked = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="W",
                                             variables={"amount": 10, "customer": "c"})
    assert inspect.run_pending_jobs(engine, worked.id) == ["completed"]
    engine.comments.add_comment(worked.id, "parcel is on its way", actor=COMMENTER)
    with engine.db.transaction() as session:
        data = b"%PDF-1.4 receipt"
        session.add(Attachment(id=str(uuid.uuid4()), instance_id=worked.id, task_id=None, field_id="receipt",
                               filename="receipt.pdf", content_type="application/pdf", size=len(data),
                               sha256=hashlib.sha256(data).hexdigest(), content=data, uploaded_by="admin",
                               uploaded_at=engine.now()))
    waiting = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="A",
                                              variables={"amount": 9000, "customer": "c"})
    ledger.script("test.refund", "transient")
    failed = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="F",
                                             variables={"amount": 10, "customer": "c"})
    assert inspect.run_pending_jobs(engine, failed.id) == ["incident"]
    return engine, worked.id, waiting.id, failed.id


def test_every_query_answers_with_frozen_views_and_no_rows(cases):
    engine, worked, waiting, failed = cases
    [file] = files_of(engine, worked)
    [definition] = engine.queries.list_definitions("refund_claim")
    queries: dict[str, Callable[[str], Any]] = {
        "process_model": lambda case: engine.queries.process_model(definition.id),
        "list_definitions": lambda case: engine.queries.list_definitions(),
        "definition_xml": lambda case: engine.queries.definition_xml("refund_claim"),
        "list_instances": lambda case: engine.queries.list_instances(ADMIN, InstanceFilter()),
        "instance_for": lambda case: engine.queries.instance_for(ADMIN, case),
        "waiting_timers_of": lambda case: engine.queries.waiting_timers_of(ADMIN, case),
        "message_waits_of": lambda case: engine.queries.message_waits_of(ADMIN, case),
        "history_for": lambda case: engine.queries.history_for(ADMIN, case),
        "verify_history": lambda case: engine.queries.verify_history(ADMIN, case),
        "open_human_tasks_for": lambda case: engine.queries.open_human_tasks_for(ADMIN, case),
        "jobs_of": lambda case: engine.queries.jobs_of(ADMIN, case),
        "list_tasks": lambda case: engine.queries.list_tasks(ADMIN, TaskFilter(instance_id=case, state="")),
        "count_tasks": lambda case: engine.queries.count_tasks(ADMIN, {"all": TaskFilter(state="")}),
        "task_for": lambda case: [engine.queries.task_for(ADMIN, task.id)
                                  for task in engine.queries.open_human_tasks_for(ADMIN, case)],
        "open_task_kinds": lambda case: engine.queries.open_task_kinds(ADMIN),
        "list_jobs": lambda case: engine.queries.list_jobs(ADMIN, None),
        "list_incidents": lambda case: engine.queries.list_incidents(ADMIN, open_only=False),
        "find_jobs": lambda case: engine.queries.find_jobs(ADMIN, JobFilter(sort="topic", text="e")),
        "find_incidents": lambda case: engine.queries.find_incidents(ADMIN, IncidentFilter(open_only=False)),
        "open_incidents": lambda case: engine.queries.open_incidents(ADMIN, instance_id=case),
        "definitions_of_cases": lambda case: engine.queries.definitions_of_cases(ADMIN, [case]),
        "case_view": lambda case: engine.case_views.case_view(ADMIN, case),
        "attachments_of": lambda case: engine.attachments.attachments_of(ADMIN, case),
        "attachment_for": lambda case: engine.attachments.attachment_for(ADMIN, file),
        "comments_of": lambda case: engine.comments.comments_of(ADMIN, case),
    }
    # a query added to a group later is walked here too, or this fails
    assert set(queries) == (public_methods(engine.queries) | public_methods(engine.case_views)
                            | public_methods(engine.attachments) | {"comments_of"})

    seen: set[str] = set()
    for case in (worked, waiting, failed):
        for name, query in queries.items():
            answer = query(case)
            assert list(leaks(answer)) == [], name
            for view in views_in(answer):
                seen.add(type(view).__name__)
                first = dataclasses.fields(view)[0].name
                with pytest.raises(dataclasses.FrozenInstanceError):
                    setattr(view, first, None)
    assert seen >= {"DefinitionView", "InstanceView", "TaskView", "JobView", "IncidentView", "HistoryEventView",
                    "AttachmentView", "AttachmentFile"}

    case = engine.case_views.case_view(ADMIN, waiting)
    assert case.open_tasks and case.timers and case.history  # the walk above saw real content
    assert not hasattr(case.instance, "state")  # the workflow state never leaves the engine
    assert engine.case_views.case_view(ADMIN, failed).incidents
    assert [c.payload["text"] for c in engine.comments.comments_of(ADMIN, worked)] == ["parcel is on its way"]
    assert engine.queries.message_waits_of(ADMIN, worked) == [("wait_parcel", "ParcelReceived")]


def test_a_case_the_actor_may_not_read_is_not_found_or_left_out(cases):
    engine, worked, waiting, _failed = cases
    [file] = files_of(engine, worked)
    [task] = engine.queries.open_human_tasks_for(ADMIN, waiting)
    for read in (
        lambda: engine.queries.instance_for(STRANGER, worked),
        lambda: engine.queries.history_for(STRANGER, worked),
        lambda: engine.queries.verify_history(STRANGER, worked),
        lambda: engine.queries.jobs_of(STRANGER, worked),
        lambda: engine.queries.message_waits_of(STRANGER, worked),
        lambda: engine.queries.open_human_tasks_for(STRANGER, waiting),
        lambda: engine.queries.waiting_timers_of(STRANGER, waiting),
        lambda: engine.queries.task_for(STRANGER, task.id),
        lambda: engine.case_views.case_view(STRANGER, worked),
        lambda: engine.attachments.attachments_of(STRANGER, worked),
        lambda: engine.attachments.attachment_for(STRANGER, file),
        lambda: engine.comments.comments_of(STRANGER, worked),
    ):
        with pytest.raises(NotFound):
            read()
    assert engine.queries.list_instances(STRANGER, InstanceFilter()).total == 0
    assert engine.queries.list_tasks(STRANGER, TaskFilter()).items == ()
    for operations in (lambda: engine.queries.open_incidents(STRANGER), lambda: engine.queries.list_jobs(STRANGER, None),
                       lambda: engine.queries.list_incidents(STRANGER),
                       lambda: engine.queries.find_jobs(STRANGER, JobFilter()),
                       lambda: engine.queries.find_incidents(STRANGER, IncidentFilter()),
                       lambda: engine.queries.definitions_of_cases(STRANGER, [worked])):
        with pytest.raises(Forbidden):
            operations()
