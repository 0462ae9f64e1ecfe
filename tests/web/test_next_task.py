"""'Complete and open my next task': no request waits for service steps; the browser reloads a waiting page."""

from __future__ import annotations

import html
import re

from orchestrator.definitions import ModelFile
from orchestrator.models import HumanTask
from tests.conftest import ADMIN
from tests.support import inspect
from tests.support.transactions import count_transactions
from tests.web.test_pages import signed_in, site  # noqa: F401  (the site fixture)


def _user_task(element_id: str) -> str:
    return f'<bpmn:userTask id="{element_id}" name="{element_id}" camunda:candidateGroups="customer_service" />'


STEPS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://loopline.dev/test">'
    '<bpmn:process id="two_steps" isExecutable="true"><bpmn:startEvent id="start" />'
    + _user_task("first") + '<bpmn:serviceTask id="book" camunda:type="external" camunda:topic="test.stock" />'
    + _user_task("second") + '<bpmn:endEvent id="end" />'
    + "".join(f'<bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}" />' for n, (a, b) in enumerate(
        [("start", "first"), ("first", "book"), ("book", "second"), ("second", "end")]))
    + "</bpmn:process></bpmn:definitions>")


def test_the_next_task_opens_once_the_service_step_ran_without_a_waiting_request(site, web_engine):  # noqa: F811
    web_engine.deployments.deploy([ModelFile("steps.bpmn", STEPS)], actor=ADMIN)
    clerk = signed_in(site, "customer.service")
    instance = web_engine.instances.start_instance("two_steps", actor=ADMIN, business_key="STEPS-1")
    [first] = inspect.open_tasks(web_engine, instance.id)

    done = clerk.post(f"/tasks/{first.id}", data={"csrf_token": clerk.csrf, "after": "next"})
    assert done.status_code == 200  # answered at once: the job has not run yet
    page = done.data.decode()
    refresh = re.search(r'http-equiv="refresh" content="1; url=([^"]+)"', page)
    assert refresh and "Opening your next task" in page

    assert inspect.run_pending_jobs(web_engine, instance.id) == ["completed"]  # the worker runs the step
    after = clerk.get(html.unescape(refresh.group(1)))
    with web_engine.db.reading() as session:
        second = session.query(HumanTask).filter_by(instance_id=instance.id, element_id="second").one()
    assert after.status_code == 302 and after.headers["Location"].endswith(f"/tasks/{second.id}")


def test_the_waiting_page_gives_up_and_tells_nothing_about_other_cases(site, web_engine):  # noqa: F811
    web_engine.deployments.deploy([ModelFile("steps.bpmn", STEPS)], actor=ADMIN)
    clerk = signed_in(site, "customer.service")
    instance = web_engine.instances.start_instance("two_steps", actor=ADMIN, business_key="STEPS-2")
    [first] = inspect.open_tasks(web_engine, instance.id)
    clerk.post(f"/tasks/{first.id}", data={"csrf_token": clerk.csrf, "after": "next"})
    last_look = clerk.get(f"/cases/{instance.id}/next-task?looks=10&otherwise=/inbox")
    assert last_look.status_code == 302 and last_look.headers["Location"].endswith("/inbox")
    elsewhere = clerk.get(f"/cases/{instance.id}/next-task?otherwise=https://evil.example/")
    page = html.unescape(elsewhere.data.decode())  # (the language switch repeats the address it came from)
    assert 'href="https://evil' not in page and "url=https://evil" not in page
    assert "evil" not in elsewhere.headers.get("Location", "")
    warehouse = signed_in(site, "warehouse")  # sees no task of this case, may not read it
    assert warehouse.get(f"/cases/{instance.id}/next-task").status_code == 404


def test_completing_on_the_task_page_is_one_engine_transaction(site, web_engine, monkeypatch):  # noqa: F811
    web_engine.deployments.deploy([ModelFile("steps.bpmn", STEPS)], actor=ADMIN)
    clerk = signed_in(site, "customer.service")
    instance = web_engine.instances.start_instance("two_steps", actor=ADMIN, business_key="STEPS-3")
    [first] = inspect.open_tasks(web_engine, instance.id)
    opened = count_transactions(web_engine, monkeypatch)
    done = clerk.post(f"/tasks/{first.id}", data={"csrf_token": clerk.csrf})
    assert done.status_code == 302 and done.headers["Location"].endswith("/inbox")
    assert opened == ["write"]  # the form is read by the task's fields inside the completing command
    assert [task.element_id for task in inspect.open_tasks(web_engine, instance.id)] == []  # the job runs next
