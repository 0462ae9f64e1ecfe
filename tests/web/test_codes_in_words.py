"""Codes the engine stores are shown as words in the page's language: a step without a name by its kind, job,
message, case and breaker statuses, channels, staff groups and the local systems' record kinds
(web/pages/labels.py)."""

from __future__ import annotations

import html
import re

from integrations.notify.models import Channel, NotificationStatus
from integrations.registry import JobContext
from orchestrator.models import CircuitState, InstanceStatus, JobStatus
from orchestrator.query_filters import InstanceFilter
from tests.conftest import ADMIN
from tests.support.inspect import jobs
from tests.web.test_decisions_and_lists import demo_site  # noqa: F401 (a fixture)
from tests.web.test_pages import signed_in, site, start_return  # noqa: F401 (site is a fixture)

RAW_CODES = {*InstanceStatus, *JobStatus, *NotificationStatus, *CircuitState, *Channel,
             "ready", "customer_service", "sales_manager", "asset_management",
             "stock_movement", "credit_note", "ticket", "activity"}  # and what the local ERP, QMS, CRM booked


def in_chinese(app, who: str):
    client = signed_in(app, who)
    client.post("/language", data={"csrf_token": client.csrf, "lang": "zh_Hans_CN", "next": "/inbox"})
    return client


def shown_texts(page: str) -> list[str]:
    """The text of every table cell, option and badge, one entry per line of it (a <br> starts a line). A text box
    holding a value to edit (the case-data editor) shows it as stored, which is the point of it: left out."""
    texts = []
    page = re.sub(r"<textarea[^>]*>.*?</textarea>", "", page, flags=re.S)
    for cell in re.findall(r"<(?:td|option|span class=\"badge[^\"]*\")[^>]*>(.*?)</(?:td|option|span)>", page, re.S):
        for line in re.sub(r"<br\s*/?>", "\n", cell).split("\n"):
            if text := html.unescape(re.sub(r"<[^>]+>", " ", line)).strip():
                texts.append(text)
    return texts


def timeline(page: str) -> str:
    return page[page.index('class="timeline"'):]


def test_a_step_without_a_name_is_shown_by_its_kind_not_its_id(site, web_engine):  # noqa: F811
    clerk = signed_in(site, "customer.service")
    assert start_return(clerk).status_code == 302
    [(instance, _)] = web_engine.queries.list_instances(ADMIN, InstanceFilter()).items
    english = timeline(clerk.get(f"/instances/{instance.id}").data.decode())
    assert '<span class="unnamed-step" title="gw_review_merge">Exclusive gateway</span>' in english
    assert "gw_review_merge" not in re.sub(r"<[^>]+>", "", english)  # the id is a hover hint only
    chinese = timeline(in_chinese(site, "customer.service").get(f"/instances/{instance.id}").data.decode())
    assert '<span class="unnamed-step" title="gw_review_merge">排他网关</span>' in chinese


def test_the_timeline_shows_what_a_step_captured_by_label_and_option_name(site, web_engine):  # noqa: F811
    clerk = signed_in(site, "customer.service")
    assert start_return(clerk).status_code == 302
    [(instance, _)] = web_engine.queries.list_instances(ADMIN, InstanceFilter()).items
    [task] = web_engine.queries.open_human_tasks_for(ADMIN, instance.id)
    web_engine.tasks.complete_user_task(task.id, {"reviewDecision": "accept"}, actor=ADMIN)
    chinese = timeline(in_chinese(site, "customer.service").get(f"/instances/{instance.id}").data.decode())
    assert "<dt>审核结论</dt><dd>接受退货</dd>" in chinese
    assert "reviewDecision" not in chinese and ">accept<" not in chinese


def test_chinese_pages_show_statuses_channels_breakers_and_groups_as_words(demo_site, web_engine):  # noqa: F811
    web_engine.connectors.get("notify.email").run(
        {"to": "ada@example.com", "name": "Ada", "template": "return_received", "variables": {"rmaNumber": "RMA-1"}},
        JobContext(2, "i", "RMA-1", "mail", "notify.email", 1, "k-2"))
    for _ in range(web_engine.integration_settings.breaker_threshold):
        web_engine.breakers.record_failure("erp", web_engine.now(), "ConnectionError")
    owner = in_chinese(demo_site, "owner")
    case = next(instance for instance, _ in web_engine.queries.list_instances(ADMIN, InstanceFilter()).items
                if jobs(web_engine, instance.id))
    pages = {path: owner.get(path).data.decode()
             for path in ("/operations/", "/operations/messages", "/operations/jobs", "/instances",
                          f"/instances/{case.id}")}
    pages["/inbox"] = in_chinese(demo_site, "customer.service").get("/inbox").data.decode()
    for path, page in pages.items():
        raw = sorted({text for text in shown_texts(page) if text in RAW_CODES})
        assert not raw, f"{path} shows codes: {raw}"
    assert "打开（暂停调用）" in pages["/operations/"] and "电子邮件" in pages["/operations/messages"]
    assert "库存变动" in pages["/operations/"] and "工单" in pages["/operations/"]
    assert "已发送" in pages["/operations/messages"] and "已完成" in pages["/operations/jobs"]
    assert "客服" in pages["/inbox"]
    job_steps = {job.element_id for job in jobs(web_engine, case.id)}
    for path in (f"/instances/{case.id}", "/operations/jobs"):  # steps by their names, not their ids
        assert job_steps and not job_steps & set(shown_texts(pages[path])), path
