"""A service desk posts complaints and repairs: recorded once each, bad ones refused naming the field."""

from __future__ import annotations

from sqlalchemy import func, select

from orchestrator.quality_models import QualityEvent

COMPLAINT = {"kind": "complaint", "reference": "CMP-311", "sku": "KETTLE-2", "lot": "L-7", "faultCode": "F-ELEC",
             "occurredAt": "2026-01-04T16:30:00+01:00"}


def stored(web_engine) -> int:
    with web_engine.db.reading() as session:
        return session.scalar(select(func.count()).select_from(QualityEvent))


def test_a_complaint_is_recorded_once(as_, web_engine):
    desk = as_("carrier")
    first = desk.post("/api/v1/quality-events", json=COMPLAINT)
    assert first.status_code == 201
    assert first.get_json() == {**COMPLAINT, "id": first.get_json()["id"], "model": "KETTLE",
                                "occurredAt": "2026-01-04T15:30:00+00:00", "capaInstanceId": None}
    again = desk.post("/api/v1/quality-events", json=COMPLAINT)
    assert again.status_code == 409 and "CMP-311" in again.get_json()["detail"]
    repair = desk.post("/api/v1/quality-events", json={**COMPLAINT, "kind": "repair", "model": "KTL", "lot": None})
    assert repair.status_code == 201 and repair.get_json()["model"] == "KTL"
    assert stored(web_engine) == 2


def test_bad_events_are_refused_and_nothing_is_stored(as_, web_engine):
    desk = as_("carrier")
    bad = desk.post("/api/v1/quality-events", json={**COMPLAINT, "kind": "rumour", "occurredAt": "yesterday",
                                                   "sku": ""})
    assert bad.status_code == 422 and {"kind", "occurredAt", "sku"} <= set(bad.get_json()["errors"])
    no_fault = desk.post("/api/v1/quality-events", json={**COMPLAINT, "faultCode": "none"})
    assert no_fault.status_code == 422 and set(no_fault.get_json()["errors"]) == {"faultCode"}
    future = desk.post("/api/v1/quality-events", json={**COMPLAINT, "occurredAt": "2030-01-01T00:00:00Z"})
    assert future.status_code == 422 and future.get_json()["errors"] == {"occurredAt": "lies in the future"}
    # asked to open a CAPA where no CAPA process is deployed: refused, the event is not kept either
    no_capa = desk.post("/api/v1/quality-events", json={**COMPLAINT, "requestCapa": True})
    assert no_capa.status_code == 404
    assert as_("auditor").post("/api/v1/quality-events", json=COMPLAINT).status_code == 403
    assert as_("clerk").post("/api/v1/quality-events", json=COMPLAINT).status_code == 403
    assert stored(web_engine) == 0
