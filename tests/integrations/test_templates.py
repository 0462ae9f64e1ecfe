"""Message templates: every kind in English and Chinese, recall headings, escaping, strict variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integrations.notify.templates import TemplateProblem, kinds, recall_class, render

VALUES = {"name": "Ann", "rmaNumber": "RMA-7", "amount": "49.90", "currency": "EUR", "product": "Kettle K2",
          "hazard": "The base can overheat.", "recallClass": "II"}
KINDS = ("return_received", "refund_issued", "recall_notice_consumer", "recall_notice_partner", "recall_reminder")
RECALLS = ("recall_notice_consumer", "recall_notice_partner", "recall_reminder")
MODELS = Path(__file__).resolve().parents[2] / "bpmn"


def test_the_required_kinds_exist():
    assert set(KINDS) <= set(kinds())


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_an_email_with_text_and_html_and_an_sms(kind, language):
    email = render(kind, language, "email", VALUES)
    sms = render(kind, language, "sms", VALUES)

    assert email.language == sms.language == language
    assert email.subject and "\n" not in email.subject
    assert email.text.strip() and "<" not in email.text
    assert email.html.startswith("<!doctype html>") and f'lang="{language}"' in email.html
    assert sms.subject is None and sms.html is None and len(sms.text) < len(email.text)


@pytest.mark.parametrize("kind", RECALLS)
@pytest.mark.parametrize(("given", "urgent"), [("I", True), ("II", True), (2, True), ("class I", True),
                                               ("III", False), (3, False)])
def test_recall_notices_are_headed_product_safety_recall_and_urgent_for_class_i_and_ii(kind, given, urgent):
    english = render(kind, "en", "email", {**VALUES, "recallClass": given})
    chinese = render(kind, "zh", "email", {**VALUES, "recallClass": given})

    assert "Product safety recall" in english.subject and "PRODUCT SAFETY RECALL" in english.text
    assert "Product safety recall" in english.html
    assert english.subject.startswith("URGENT: ") is urgent and english.text.startswith("URGENT") is urgent
    assert "产品安全召回" in chinese.subject and chinese.subject.startswith("紧急") is urgent


def test_html_is_escaped_and_plain_text_is_not():
    message = render("return_received", "en", "email", {**VALUES, "name": "<script>alert(1)</script> & Co"})

    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in message.html and "<script>" not in message.html
    assert "Hello <script>alert(1)</script> & Co," in message.text


def test_the_ack_link_appears_only_when_given():
    link = "https://loopline.example/ack/abc.def"
    with_link = render("recall_notice_consumer", "en", "email", {**VALUES, "ackUrl": link})
    without = render("recall_notice_consumer", "en", "email", VALUES)
    sms = render("recall_notice_consumer", "zh", "sms", {**VALUES, "ackUrl": link})

    assert link in with_link.text and f'href="{link}"' in with_link.html and link in sms.text
    assert "/ack/" not in without.text and "/ack/" not in without.html


def test_a_missing_variable_names_it():
    with pytest.raises(TemplateProblem, match="'hazard' is undefined"):
        render("recall_notice_consumer", "en", "email", {k: v for k, v in VALUES.items() if k != "hazard"})


@pytest.mark.parametrize("kind", ["no_such_kind", "../templates", "_layout", "", None])
def test_unknown_kinds_are_refused(kind):
    with pytest.raises(TemplateProblem, match="unknown message template"):
        render(kind, "en", "email", VALUES)


@pytest.mark.parametrize(("wanted", "used"), [("zh-CN", "zh"), ("zh_TW", "zh"), ("de", "en"), (None, "en"),
                                              ("../../etc", "en"), ("EN", "en")])
def test_languages_fall_back_to_english(wanted, used):
    assert render("return_received", wanted, "sms", VALUES).language == used


def test_recall_class_reads_common_spellings():
    assert [recall_class(v) for v in ("I", "ii", 3, "Class II", "IV", None)] == ["I", "II", "III", "II", None, None]


def test_every_template_a_shipped_model_names_exists():
    named = set()
    for model in MODELS.glob("*.bpmn"):
        named.update(re.findall(r'<camunda:inputParameter name="template">([a-z_]+)</camunda:inputParameter>',
                                model.read_text(encoding="utf-8")))
    assert named - set(kinds()) == set()


@pytest.mark.parametrize("kind", kinds())
def test_every_template_file_renders(kind):
    values = {**VALUES, "carrier": "DHL", "order": "RO-1", "trackingNumber": "JD0001", "inspectionGroup": "qa",
              "capa": "CAPA-1", "severity": "major", "teamLeader": "Li", "departments": ["QA", "Production"],
              "recallNumber": "RC-1", "lots": "L1", "notified": 10, "responded": 7, "onHandAtNotice": 40,
              "returnedOrCorrected": 12, "nonResponders": 3, "checksDone": 1, "estimatedCompletion": "2026-03-01",
              "offer": "repair", "note": "The fan needs replacing."}
    for language in ("en", "zh"):
        email, sms = render(kind, language, "email", values), render(kind, language, "sms", values)
        assert email.subject and email.text.strip() and email.html and sms.text.strip()
