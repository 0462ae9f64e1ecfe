"""The form rules a model declares (email, phone, notFuture/notPast, requiredIf) refuse bad values by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.clock import ManualClock, using_clock
from orchestrator.forms import FormValidationError, check_start_variables, coerce_form, date_limits

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def field(name, kind="string", **rules):
    return {"id": name, "type": kind, "validation": rules, "options": [], "properties": {}}


def errors_of(fields, values, **kwargs):
    with pytest.raises(FormValidationError) as caught:
        coerce_form(fields, values, now=NOW, **kwargs)
    return caught.value.errors


@pytest.mark.parametrize("typed, stored", [
    ("+447700900123", "+447700900123"),
    ("+44 7700 900-123", "+447700900123"),
    ("+1 (415) 555.0100", "+14155550100"),
    ("0044 7700 900123", "+447700900123"),
])
def test_phone_numbers_are_stored_as_e164(typed, stored):
    assert coerce_form([field("phone", phone=None)], {"phone": typed}, now=NOW) == {"phone": stored}


@pytest.mark.parametrize("typed", ["12", "07700 900123", "+0447700900123", "+44770090012345678", "call me"])
def test_a_phone_number_that_is_not_e164_is_refused(typed):
    assert errors_of([field("phone", phone=None)], {"phone": typed}) == {
        "phone": "must be a phone number in international format (E.164), e.g. +447700900123"}


def test_email_addresses_are_checked_and_their_domain_lowered():
    assert coerce_form([field("mail", email=None)], {"mail": " Ada.L+rma@Example.COM "}, now=NOW) == {
        "mail": "Ada.L+rma@example.com"}
    for bad in ("x(at)example", "ada@example", "ada@@example.com", "a b@example.com", "@example.com"):
        assert errors_of([field("mail", email=None)], {"mail": bad}) == {
            "mail": "must be an e-mail address such as name@example.com"}, bad


def test_dates_not_in_the_future_or_past_by_the_engine_clock():
    bought, due = field("bought", "date", notFuture=None), field("due", "date", notPast=None)
    assert coerce_form([bought, due], {"bought": "2026-03-10", "due": "2026-03-10"}, now=NOW) == {
        "bought": "2026-03-10", "due": "2026-03-10"}
    assert coerce_form([bought], {"bought": "2026-03-11"}, now=NOW.replace(hour=11))  # the 11th in UTC+14
    assert errors_of([bought, due], {"bought": "2030-01-01", "due": "2026-03-08"}) == {
        "bought": "must not be in the future", "due": "must not be in the past"}
    assert date_limits(NOW) == {"notPast": "2026-03-09", "notFuture": "2026-03-10"}


def test_without_a_given_time_the_running_commands_clock_decides():
    bought = field("bought", "date", notFuture=None)
    with using_clock(ManualClock(datetime(2020, 1, 1, 12, tzinfo=UTC))), pytest.raises(FormValidationError):
        coerce_form([bought], {"bought": "2021-06-01"})
    assert coerce_form([bought], {"bought": "2021-06-01"}) == {"bought": "2021-06-01"}


def test_required_if_reads_the_submitted_value_then_the_cases():
    fields = [field("decision", "string"), field("reason", requiredIf="decision=reject|hold")]
    assert errors_of(fields, {"decision": "reject"}) == {"reason": "is required when decision is reject"}
    assert errors_of(fields, {"decision": "hold", "reason": " "}) == {"reason": "is required when decision is hold"}
    assert coerce_form(fields, {"decision": "accept"}, now=NOW) == {"decision": "accept"}
    assert coerce_form(fields, {"decision": "reject", "reason": "late"}, now=NOW)["reason"] == "late"
    only_reason = [field("reason", requiredIf="decision=reject")]
    assert errors_of(only_reason, {}, current={"decision": "reject"}) == {
        "reason": "is required when decision is reject"}
    assert coerce_form(only_reason, {}, current={"decision": "accept"}, now=NOW) == {}


def test_required_if_compares_booleans_as_true_and_false():
    fields = [field("quarantine", "boolean"), field("sku", requiredIf="quarantine=true")]
    assert errors_of(fields, {"quarantine": "on"}) == {"sku": "is required when quarantine is true"}
    assert coerce_form(fields, {"quarantine": "false"}, now=NOW) == {"quarantine": False}


def test_a_required_if_rule_the_engine_cannot_read_names_the_field():
    fields = [field("decision"), field("reason", requiredIf="decision")]
    assert errors_of(fields, {"decision": "x"})["reason"].startswith("has a requiredIf rule the engine cannot read")


def test_an_api_start_is_checked_against_its_other_variables():
    fields = [field("reason", requiredIf="channel=phone"), field("mail", email=None)]
    with pytest.raises(FormValidationError) as caught:
        check_start_variables(fields, {"channel": "phone", "mail": "x(at)example"}, now=NOW)
    assert set(caught.value.errors) == {"reason", "mail"}
    assert check_start_variables(fields, {"channel": "web", "mail": "a@b.io"}, now=NOW) == {
        "channel": "web", "mail": "a@b.io"}
