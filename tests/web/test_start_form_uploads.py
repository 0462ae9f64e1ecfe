"""A file attached on any bundled process's start form reaches the new case; a refused start keeps what was
typed, stores nothing and asks for the files again."""

from __future__ import annotations

import io
import re

import pytest

from orchestrator.forms import date_limits
from orchestrator.models import Attachment, ProcessDefinition, ProcessInstance
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.web.test_pages import PNG, signed_in
from web.auth.demo import seed_demo_users

PDF = b"%PDF-1.4\n% evidence\n"


@pytest.fixture
def site(app, web_engine):
    """The app with the bundled models deployed and the demo people."""
    web_engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    return app


def valid_value(field: dict, today: str, key: str) -> str | None:
    """A value the field's rules accept, as a person would type it."""
    rules, kind = field.get("validation") or {}, field["type"]
    if kind == "enum":
        return field["options"][0]["id"]
    if kind == "boolean":
        return "false"
    if kind == "date":
        return today
    if kind in ("long", "double"):
        return str(int(float(rules.get("min") or 1)))
    if "email" in rules:
        return "ada@example.com"
    if "phone" in rules:
        return "+44 7700 900123"
    if "pattern" in rules:  # the example the model gives (placeholder, "e.g. …" in the help), else left blank
        texts = [str(v) for v in (field.get("properties") or {}).values()]
        examples = [word.strip(".,;:") for text in texts for word in text.split()]
        fitting = [word for word in examples if re.fullmatch(str(rules["pattern"]), word)]
        if fitting or "required" not in rules:
            return fitting[0] if fitting else None
        pytest.fail(f"no value fits the pattern of {field['id']}: give the model an example")
    text = f"{key}-{field['id']}"
    return text.ljust(int(rules.get("minlength") or 0), "x")[: int(rules.get("maxlength") or 200)]


def start_forms_with_files(engine) -> list[tuple[str, list[dict]]]:
    found = []
    for definition in engine.start_forms.startable_definitions():
        _, form = engine.start_forms.start_form(definition.key)
        if any(field["type"] == "file" for field in form):
            found.append((definition.key, form))
    return found


def filled(form: list[dict], today: str, key: str) -> dict:
    values = {field["id"]: valid_value(field, today, key) for field in form
              if field["type"] != "file" and "readonly" not in (field.get("validation") or {})}
    return {name: value for name, value in values.items() if value is not None}


def files_for(form: list[dict]) -> dict:
    return {field["id"]: [(io.BytesIO(PNG), "photo.png"), (io.BytesIO(PDF), "receipt.pdf")]
            for field in form if field["type"] == "file"}


def test_every_bundled_start_form_takes_its_files_into_the_new_case(site, web_engine):
    forms = start_forms_with_files(web_engine)
    assert "returns" in [key for key, _ in forms]  # the photos of a return at least
    person = signed_in(site, "admin")
    today = date_limits(web_engine.now())["notPast"]
    for key, form in forms:
        assert person.get(f"/new/{key}").status_code == 200
        answer = person.post(f"/new/{key}", content_type="multipart/form-data",
                             data={**filled(form, today, key.upper()), **files_for(form), "csrf_token": person.csrf})
        # started: to my first task of it, to the case, or to the page that waits for its service steps
        assert answer.status_code in (200, 302) and "form-errors" not in answer.data.decode(), (
            key, answer.status_code, answer.data.decode()[:3000])
        with web_engine.db.reading() as session:
            [case] = session.query(ProcessInstance).join(
                ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id).filter(
                ProcessDefinition.key == key).all()
            stored = session.query(Attachment).filter_by(instance_id=case.id).all()
        for field in (f for f in form if f["type"] == "file"):
            references = case.variables[field["id"]]
            assert [(r["filename"], r["contentType"]) for r in references] == [
                ("photo.png", "image/png"), ("receipt.pdf", "application/pdf")], key
            assert {r["attachmentId"] for r in references} <= {row.id for row in stored}
        assert sorted(row.content for row in stored) == sorted([PNG, PDF] * len(files_for(form)))


def test_a_refused_start_with_files_keeps_the_typed_values_and_stores_nothing(site, web_engine):
    person = signed_in(site, "customer.service")
    [form] = [form for key, form in start_forms_with_files(web_engine) if key == "returns"]
    values = filled(form, date_limits(web_engine.now())["notPast"], "RMA-KEPT")
    answer = person.post("/new/returns", content_type="multipart/form-data", data={
        **values, "customerEmail": "x(at)example", "customerName": "Kept Name", **files_for(form),
        "csrf_token": person.csrf})
    page = answer.data.decode()
    assert answer.status_code == 422
    assert re.search(r'data-field="customerEmail".*?class="error"[^>]*>must be an e-mail address', page, re.S)
    assert 'value="Kept Name"' in page and 'value="x(at)example"' in page
    assert re.search(r'data-field="attachments".*?class="hint file-again"', page, re.S)  # choose them again
    with web_engine.db.reading() as session:
        assert session.query(Attachment).count() == 0 and session.query(ProcessInstance).count() == 0
