"""Errors people meet are the site's own pages, in their language, with a way back; machines get problem+json."""

from __future__ import annotations

import pytest
from flask import abort
from sqlalchemy import create_engine

from tests.web.test_pages import signed_in, site  # noqa: F401  (fixture)

FRAMEWORK_WORDS = ("The requested URL was not found on the server", "Werkzeug", "Internal Server Error</h1>",
                   "You don't have the permission")


@pytest.fixture
def failing_site(site):  # noqa: F811
    """The site with two pages that fail, as a bug or a bad request would; errors are not re-raised to the test."""

    def broken():
        raise RuntimeError("a bug")

    site.add_url_rule("/broken", "broken", broken)
    site.add_url_rule("/bad", "bad", lambda: abort(400))
    site.config["PROPAGATE_EXCEPTIONS"] = False
    return site


def _friendly(answer, status: int, *words: str) -> str:
    page = answer.data.decode()
    assert answer.status_code == status
    assert answer.mimetype == "text/html"
    assert f'data-status="{status}"' in page and 'class="topbar"' in page  # inside the site's frame
    for word in words:
        assert word in page, word
    for default in FRAMEWORK_WORDS:
        assert default not in page
    return page


@pytest.mark.parametrize(("language", "texts"), [
    ("en", {404: "Page not found", 403: "Not allowed", 500: "Something went wrong on our side",
            405: "This action is not available here", 400: "This request could not be understood",
            "home": "Back to the inbox", "back": "Back to the previous page"}),
    ("zh_Hans_CN", {404: "找不到页面", 403: "无权访问", 500: "我们这边出了问题",
                    405: "这里不能这样操作", 400: "无法理解这个请求",
                    "home": "返回收件箱", "back": "返回上一页"}),
])
def test_error_pages_of_a_signed_in_person(failing_site, language, texts):
    clerk = signed_in(failing_site, "warehouse")
    clerk.post("/language", data={"csrf_token": clerk.csrf, "lang": language, "next": "/inbox"})
    page = _friendly(clerk.get("/no/such/page"), 404, texts[404], texts["home"], 'href="/inbox"')
    assert "Loopline" in page
    _friendly(clerk.get("/admin/users"), 403, texts[403], texts["home"])
    _friendly(clerk.get("/broken"), 500, texts[500], texts["home"])
    _friendly(clerk.get("/bad"), 400, texts[400])
    refused = clerk.get("/language")  # a form's address opened as a page
    _friendly(refused, 405, texts[405])
    assert "POST" in refused.headers["Allow"]
    came_from = clerk.get("/no/such/page", headers={"Referer": "http://localhost/instances"})
    _friendly(came_from, 404, texts["back"], 'href="/instances"')
    elsewhere = clerk.get("/no/such/page", headers={"Referer": "https://evil.example/instances"})
    assert 'href="https://evil.example' not in elsewhere.data.decode()


def test_a_visitor_gets_the_page_in_the_browser_language_with_the_way_to_sign_in(failing_site):
    visitor = failing_site.test_client()
    _friendly(visitor.get("/nothing-here", headers={"Accept-Language": "zh-CN,zh;q=0.9"}), 404, "找不到页面", "登录")
    _friendly(visitor.get("/nothing-here", headers={"Accept-Language": "en"}), 404, "Page not found", "Sign in")
    _friendly(visitor.get("/broken", headers={"Accept-Language": "en"}), 500, "Something went wrong")


def test_the_operations_page_refuses_with_the_friendly_page(failing_site):
    clerk = signed_in(failing_site, "warehouse")
    _friendly(clerk.get("/operations/"), 403, "Not allowed")


def test_machines_keep_problem_json(failing_site):
    client = failing_site.test_client()
    for path in ("/api/v1/no-such-thing", "/engine-rest/no-such-thing", "/webhooks/no-such-thing"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.mimetype == "application/problem+json", path
        assert answer.get_json()["status"] == 404
    wrong_method = client.delete("/api/v1/process-definitions")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "application/problem+json"


def test_a_database_that_does_not_answer_gives_503_with_retry_after(failing_site):
    def unreachable():  # a real driver error: the database file cannot be opened
        with create_engine("sqlite:////proc/loopline-no-such-folder/loopline.db").connect():
            pass

    failing_site.add_url_rule("/db-down", "db_down", unreachable)
    failing_site.add_url_rule("/api/v1/db-down", "api_db_down", unreachable)
    clerk = signed_in(failing_site, "warehouse")
    answer = clerk.get("/db-down")
    _friendly(answer, 503, "Loopline cannot reach its database", "reload the page")
    assert answer.headers["Retry-After"] == "5"
    clerk.post("/language", data={"csrf_token": clerk.csrf, "lang": "zh_Hans_CN", "next": "/inbox"})
    _friendly(clerk.get("/db-down"), 503, "暂时无法连接数据库")

    api = failing_site.test_client().get("/api/v1/db-down")
    assert (api.status_code, api.mimetype, api.headers["Retry-After"]) == (503, "application/problem+json", "5")
    assert api.json["detail"] == "the database did not answer; try again in a few seconds"
