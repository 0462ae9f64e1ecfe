"""A customer notice of bpmn/returns.bpmn is written in the case's `customerLanguage`: the returns model on the
built-in connectors, the e-mail sent by the real SendGrid SDK to the loopback server."""

from __future__ import annotations

import re

import pytest

from integrations.notify.models import NotificationStatus
from tests.integrations.helpers import notifications
from tests.processes.driver import Run, deploy_models
from tests.processes.test_returns import INTAKE

NOTICE = {  # (language the case asks for, what the delivered e-mail must say)
    "en": ("About your return request RMA-LANG-1", "we are sorry: we cannot accept your return request"),
    "zh": ("关于您的退货申请 RMA-LANG-1", "很抱歉，我们无法接受您对 KETTLE-2 的退货申请 RMA-LANG-1"),
}


@pytest.mark.parametrize("language", sorted(NOTICE))
def test_the_rejection_notice_goes_out_in_the_customers_language(notify_engine, provider_server, language):
    engine = notify_engine(engine={"connector_modules": ()})  # the real notify connectors, local ERP/QMS/CRM
    deploy_models(engine)
    run = Run.start(engine, "returns", {**INTAKE, "rmaNumber": "RMA-LANG-1", "customerLanguage": language},
                    business_key="RMA-LANG-1")
    run.complete("review_return", {"reviewDecision": "reject", "rejectionReason": "out_of_period"})
    [(_, topic, notice, outcome)] = run.run_jobs("notify_rejection")
    assert (topic, notice["language"], outcome) == ("notify.email", language, "completed")

    (request,) = provider_server.received("sendgrid")
    mail = request.json()
    subject, sentence = NOTICE[language]
    text = {part["type"]: part["value"] for part in mail["content"]}["text/plain"]
    assert mail["subject"] == subject and sentence in text
    other = NOTICE["zh" if language == "en" else "en"]
    assert other[1] not in text
    if language == "zh":  # no English word left once the case's own values are taken out
        words = re.sub("|".join(map(re.escape, (INTAKE["customerName"], "KETTLE-2", "RMA-LANG-1"))), "", text)
        assert not re.search(r"[A-Za-z]{3,}", words), text
    (row,) = notifications(engine)
    assert (row.language, row.status, row.provider) == (language, NotificationStatus.SENT, "sendgrid")
