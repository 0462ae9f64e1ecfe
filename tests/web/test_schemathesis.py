"""Property-based runs over the whole OpenAPI document, authenticated, against real data, with every check
schemathesis has (`--checks all`): no 5xx, every response matches the spec (status code, content type,
headers, schema), invalid input is refused, schema-valid input is accepted, auth is enforced.

Two runs: the hand-steered one, in-process, with real ids in path parameters so every operation answers
2xx at least once; and `schemathesis run --checks all` itself (its engine: coverage, fuzzing and stateful
phases) against the app served over HTTP.

One setting is not the default: a schema-valid request may get a documented 422 (positive_data_acceptance),
because the engine refuses what a schema cannot express — a DMN input the process needs, an unknown
assignee, an expiry in the past, a file that is not BPMN, equals= without variable=, a NUL character. What a
schema can express is in the document: variable names, one correlation key, JSON values (web/api/strict_json.py).
"""

from __future__ import annotations

import io
import itertools
import threading
from collections import Counter, defaultdict

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from sqlalchemy import select
from werkzeug.serving import make_server

from orchestrator.actors import Actor
from orchestrator.batch_operations import BatchRequest
from orchestrator.definitions import ModelFile
from orchestrator.spreadsheet_imports import SpreadsheetImports
from tests.conftest import ADMIN, FIXTURES
from tests.support import inspect
from web.auth.apikeys import create_api_key
from web.auth.models import ApiKey
from web.extensions import db

EXAMPLES_PER_OPERATION = 30
# Every other generated case of an operation with path parameters gets real ids instead of random ones.
REAL_IDS_EVERY = 2
# The `schemathesis run` engine: examples per operation and phase, and a fixed seed so a failure reproduces.
ENGINE_EXAMPLES = 25
ENGINE_SEED = 1010
ACCEPTED_VALID_DATA = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


RESPONSE_SECONDS = 60


def run_config(token: str) -> SchemathesisConfig:
    """`--checks all` as an admin; valid data answered 2xx or a documented refusal (see the module docstring)."""
    config = SchemathesisConfig.from_dict({
        "seed": ENGINE_SEED,
        # correctness, not speed, is checked here: a busy CI machine once took over the default 10 s to draw
        # an audit bundle's PDF, which the engine reports as an error (and the every-check run's response-time
        # check has the same limit)
        "request-timeout": RESPONSE_SECONDS,
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"max-examples": ENGINE_EXAMPLES},
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_VALID_DATA}},
    })
    config.projects.override.checks.update(included_check_names=["all"], max_response_time=RESPONSE_SECONDS)
    return config


class RealData:
    """Real rows to put into path parameters: instances and tasks in each state, incidents, API keys.

    Each operation gets fresh rows of its own (listed in a fixed order, so cycling through them reaches
    every state), so one operation's changes (a cancel, a claim) do not starve the next one."""

    def __init__(self, app, engine, ledger):
        self.app, self.engine, self.ledger = app, engine, ledger
        self.serial = itertools.count()
        self.finished_instances, self.finished_tasks = self._finished_rows()
        self.resolved_incident = self._incident()
        engine.jobs.retry_incident(self.resolved_incident, actor=ADMIN)
        with app.app_context():
            self.admin_key = db.session.scalar(select(ApiKey.id).where(ApiKey.name == "admin"))

    def _key(self, prefix: str) -> str:
        return f"{prefix}-{next(self.serial)}"

    def refund(self, amount: int) -> str:
        return self.engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=self._key("RC"),
                                          variables={"amount": amount, "customer": "Ada"}).id

    def shop_return(self) -> str:
        return self.engine.instances.start_instance("shop_return", actor=ADMIN, business_key=self._key("RMA"),
                                          variables={"customer": "Ada"}).id

    def shop_return_waiting_for_parcel(self) -> tuple[str, str]:
        """A return whose details task is completed: it waits for the ParcelReceived message."""
        instance_id = self.shop_return()
        [task] = inspect.open_tasks(self.engine, instance_id)
        self.engine.tasks.complete_user_task(task.id, {"orderNumber": "SO-1", "quantity": 1, "reason": "defect"},
                                       actor=ADMIN)
        return instance_id, task.id

    def _finished_rows(self) -> tuple[list[str], list[str]]:
        completed = self.refund(10)
        assert inspect.run_pending_jobs(self.engine, completed) == ["completed"]
        business_key = inspect.instance(self.engine, completed).business_key
        self.engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key=business_key)
        cancelled, done_task = self.shop_return_waiting_for_parcel()
        self.engine.instances.cancel_instance(cancelled, actor=ADMIN, reason="withdrawn")
        assert inspect.instance(self.engine, completed).status == "completed"
        return [completed, cancelled], [done_task]

    def _incident(self) -> int:
        """Force an incident: the refund connector answers with a BPMN error no boundary event catches."""
        instance_id = self.refund(10)
        self.ledger.script("test.refund", "business:E_NOT_CAUGHT")
        assert inspect.run_pending_jobs(self.engine, instance_id) == ["incident"]
        return next(i.id for i in self.engine.queries.open_incidents(ADMIN) if i.instance_id == instance_id)

    def instance_ids(self) -> list[str]:
        running = self.refund(9000)
        suspended = self.refund(9000)
        self.engine.instances.suspend_instance(suspended, actor=ADMIN)
        return [running, suspended, self.shop_return(), *self.finished_instances]

    def task_ids(self) -> list[str]:
        [approve] = inspect.open_tasks(self.engine, self.refund(9000))
        [details] = inspect.open_tasks(self.engine, self.shop_return())
        self.engine.tasks.assign_task(details.id, "someone.else", actor=ADMIN)
        return [approve.id, details.id, *self.finished_tasks]

    def key_ids(self) -> list[int]:
        with self.app.app_context():
            disposable = create_api_key(db.session, self._key("disposable"), "integration", created_by="test",
                                        now=self.engine.now()).key.id
            db.session.commit()
        return [disposable, self.admin_key]  # the second: a key may not revoke itself (409)

    def fresh(self, names) -> dict[str, list]:
        """Real values for each named path parameter, made for one operation."""
        makers = {"key": lambda: ["refund_claim", "shop_return"], "instance_id": self.instance_ids,
                  "task_id": self.task_ids, "incident_id": lambda: [self._incident(), self.resolved_incident],
                  "key_id": self.key_ids, "batch_id": self.batch_ids, "version": lambda: [1, 2],
                  "name": lambda: ["refund_claim.bpmn", "web_return.bpmn"], "draft_id": self.draft_ids,
                  "import_id": self.import_ids}
        return {name: makers[name]() for name in names}

    def draft_ids(self) -> list[int]:
        """The admin key's own draft, and another person's (a 404: drafts are their owner's)."""
        mine = self.engine.model_drafts.open_deployed("refund_claim", actor=Actor("apikey:admin",
                                                                                 roles=frozenset({"admin"})))
        theirs = self.engine.model_drafts.open_deployed("refund_claim", actor=Actor("someone",
                                                                                   roles=frozenset({"admin"})))
        return [mine.id, theirs.id]

    def import_ids(self) -> list[int]:
        """A previewed sales-volume import (one valid row, one bad) and one already started."""
        imports = SpreadsheetImports(self.engine, self.engine.start_forms)
        content = b"sku,month,units\r\nKETTLE-2,2026-01,40\r\nKETTLE-2,2026-13,1\r\n"
        waiting = imports.preview("sales_volumes", content, "volumes.csv", actor=ADMIN)
        started = imports.preview("sales_volumes", content, "volumes.csv", actor=ADMIN)
        imports.start_import(started.id, actor=ADMIN, valid_rows_only=True)
        return [waiting.id, started.id]

    def batch_ids(self) -> list[int]:
        """A queued batch (retrying a case without incidents: nothing runs it here)."""
        return [self.engine.batches.create_batch(BatchRequest("retry", instance_ids=[self.refund(9000)]),
                                                 actor=ADMIN).id]


def test_api_conforms_to_its_openapi_document(app, tokens, web_engine, ledger):
    data = RealData(app, web_engine, ledger)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=run_config(tokens["admin"]))
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    statuses: dict[str, Counter] = defaultdict(Counter)
    failures: dict[str, str] = {}
    every_check = CHECKS.get_all()

    def call_and_check(case, response=None):
        """Send the case (unless it was sent another way), count its status, run every check on the answer."""
        response = case.call(headers=headers) if response is None else response
        statuses[case.operation.label][response.status_code] += 1
        case.validate_response(response, checks=every_check, headers=headers)
        return response

    def upload(path: str, files: dict):
        """Multipart with real file names, which generated cases do not carry."""
        return app.test_client().post(path, data=files, headers=headers, content_type="multipart/form-data")

    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations[operation.label] = operation
        real = data.fresh([p.name for p in operation.path_parameters])
        try:
            fuzz(operation, real, call_and_check)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, report them together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    # Valid requests random data cannot make: a model upload, a start, a form completion, a message.
    try:
        explicit_valid_cases(operations, data, call_and_check, upload)
    except Exception as exc:  # noqa: BLE001 - reported with the others
        failures["explicit valid cases"] = f"{type(exc).__name__}: {exc}"[:2000]

    assert len(operations) >= 20
    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
    server_errors = {label: dict(c) for label, c in statuses.items() if any(s >= 500 for s in c)}
    assert server_errors == {}
    without_success = {label: dict(statuses[label]) for label in operations
                       if not any(200 <= s < 300 for s in statuses[label])}
    assert without_success == {}, f"operations that never answered 2xx: {without_success}"


def fuzz(operation, real: dict[str, list], call_and_check) -> None:
    """Generated cases for one operation; with path parameters, every other case uses real ids in turn."""
    cycles = {name: itertools.cycle(values) for name, values in real.items()}
    calls = itertools.count()

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        if cycles and next(calls) % REAL_IDS_EVERY == 0:
            case.path_parameters = {name: next(values) for name, values in cycles.items()}
        call_and_check(case)

    check()


def explicit_valid_cases(operations, data: RealData, call_and_check, upload) -> None:
    model = (FIXTURES / "message_start.bpmn").read_bytes()
    deploy = operations["POST /api/v1/deployments"]
    sent = upload(deploy.path, {"files": [(io.BytesIO(model), "message_start.bpmn")]})
    deployed = call_and_check(deploy.Case(body={"files": [model]}, media_type="multipart/form-data"), sent)
    assert deployed.status_code == 201, deployed.get_data(as_text=True)
    assert [(d["key"], d["new"]) for d in deployed.get_json()] == [("return_by_message", True)]

    started = call_and_check(operations["POST /api/v1/process-definitions/{key}/start"].Case(
        path_parameters={"key": "refund_claim"}, headers={"Idempotency-Key": "explicit-start-1"},
        body={"businessKey": "EXPLICIT-1", "variables": {"amount": 9000, "customer": "Ada"}},
        media_type="application/json"))
    assert started.status_code == 201, started.text
    [task] = inspect.open_tasks(data.engine, started.json()["id"])

    assigned = call_and_check(operations["POST /api/v1/tasks/{task_id}/assign"].Case(
        path_parameters={"task_id": task.id}, body={"user": "apikey:manager"}, media_type="application/json"))
    assert assigned.status_code == 200, assigned.text  # random names are refused: only known people

    completed = call_and_check(operations["POST /api/v1/tasks/{task_id}/complete"].Case(
        path_parameters={"task_id": task.id},
        body={"variables": {"approved": True, "note": "fine", "approvedAmount": 9000}},
        media_type="application/json"))
    assert completed.status_code == 200, completed.text
    assert completed.json()["state"] == "completed"

    waiting, _ = data.shop_return_waiting_for_parcel()
    business_key = inspect.instance(data.engine, waiting).business_key
    delivered = call_and_check(operations["POST /api/v1/messages"].Case(
        body={"messageName": "ParcelReceived", "businessKey": business_key, "variables": {"carrier": "DHL"}},
        media_type="application/json"))
    assert delivered.status_code == 200, delivered.text
    assert delivered.json() == {"instanceId": waiting, "started": False}

    shop_return_v2 = (FIXTURES / "web_return.bpmn").read_text(encoding="utf-8").replace("P2D", "P3D")
    data.engine.deployments.deploy([ModelFile("web_return.bpmn", shop_return_v2)], actor=ADMIN)
    dry_run = call_and_check(operations["POST /api/v1/migrations/dry-run"].Case(
        body={"processKey": "shop_return", "fromVersion": 1, "toVersion": 2}, media_type="application/json"))
    assert dry_run.status_code == 200, dry_run.text
    batch = call_and_check(operations["POST /api/v1/batches"].Case(
        body={"kind": "migrate", "filter": {"definitionKey": "shop_return", "status": "running"},
              "parameters": {"toVersion": 2}}, media_type="application/json"))
    assert batch.status_code == 201, batch.text

    diff = call_and_check(operations["GET /api/v1/process-definitions/{key}/diff"].Case(
        path_parameters={"key": "shop_return"}, query={"from": 1, "to": 2}))
    assert diff.status_code == 200, diff.text
    file = call_and_check(operations["GET /api/v1/process-definitions/{key}/versions/{version}/files/{name}"].Case(
        path_parameters={"key": "refund_claim", "version": 1, "name": "refund_claim.bpmn"}))
    assert file.status_code == 200, file.text
    running = data.refund(9000)
    edited = call_and_check(operations["PATCH /api/v1/instances/{instance_id}/variables"].Case(
        path_parameters={"instance_id": running}, body={"comment": "Amount typed wrong", "values": {"amount": 9100}},
        media_type="application/json"))
    assert edited.status_code == 200, edited.text
    moved = call_and_check(operations["POST /api/v1/instances/{instance_id}/move-token"].Case(
        path_parameters={"instance_id": running}, body={"fromElement": "approve", "toElement": "route",
                                                        "kind": "back", "comment": "Route it again"},
        media_type="application/json"))
    assert moved.status_code == 200, moved.text
    draft = call_and_check(operations["POST /api/v1/modeler/drafts"].Case(
        body={"source": "template", "key": "explicit_process", "name": "An explicit process"},
        media_type="application/json"))
    assert draft.status_code == 201, draft.text

    volumes = b"sku,month,units\r\nKETTLE-2,2026-01,40\r\n"
    imports = operations["POST /api/v1/imports"]
    sent = upload(imports.path, {"file": (io.BytesIO(volumes), "volumes.csv"), "kind": "sales_volumes"})
    previewed = call_and_check(imports.Case(body={"file": volumes, "kind": "sales_volumes"},
                                            media_type="multipart/form-data"), sent)
    assert previewed.status_code == 201, previewed.get_data(as_text=True)

    slip_model = (FIXTURES / "web_return.bpmn").read_text(encoding="utf-8").replace(
        'id="shop_return"', 'id="returns"')  # a return slip is a report of the process `returns`
    data.engine.deployments.deploy([ModelFile("returns.bpmn", slip_model)], actor=ADMIN)
    rma = data.engine.instances.start_instance("returns", actor=ADMIN, business_key="RMA-EXPLICIT-1",
                                               variables={"customer": "Ada"}).id
    slip = call_and_check(operations["GET /api/v1/instances/{instance_id}/reports/{name}"].Case(
        path_parameters={"instance_id": rma, "name": "return-slip"}))
    assert slip.status_code == 200, slip.text


def test_schemathesis_run_with_every_check_finds_nothing(app, tokens, web_engine, ledger):
    """`schemathesis run --checks all` over HTTP: every phase, every operation, no failure and no 5xx."""
    RealData(app, web_engine, ledger)  # instances, tasks, an incident and keys for lists and links to reach
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{server.port}/api/openapi.json",
                                               config=run_config(tokens["admin"]))
        outcome = run_engine(schema)
    finally:
        server.shutdown()
    assert outcome.errors == []
    assert outcome.failures == [], "\n\n".join(outcome.failures)
    assert outcome.server_errors == Counter()
    assert outcome.phases_run >= {"coverage", "fuzzing", "stateful"}
    assert outcome.operations == {result.ok().label for result in schema.get_all_operations()}
    assert set(CHECKS.get_all_names()) <= set(outcome.checks_run)


class EngineOutcome:
    """What a schemathesis engine run reported: failed checks, server errors, errors, what ran."""

    def __init__(self):
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.server_errors: Counter = Counter()
        self.checks_run: Counter = Counter()
        self.operations: set[str] = set()
        self.phases_run: set[str] = set()

    def record(self, event) -> None:
        if isinstance(event, events.ScenarioFinished):
            self._scenario(event.phase.value, event.recorder)
        elif isinstance(event, events.NonFatalError):
            self.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            self.errors.append(repr(event.exception))
        elif isinstance(event, events.PhaseFinished) and event.status != Status.SKIP:
            self.phases_run.add(event.phase.name.value)

    def _scenario(self, phase: str, recorder) -> None:
        for interaction in recorder.interactions.values():
            if interaction.response is not None and interaction.response.status_code >= 500:
                self.server_errors[f"{interaction.request.method} {interaction.request.uri}"] += 1
        for case_id, checks in recorder.checks.items():
            operation = recorder.cases[case_id].value.operation.label
            self.operations.add(operation)
            for check in checks:
                self.checks_run[check.name] += 1
                if check.status == Status.FAILURE and check.failure_info is not None:
                    failure = check.failure_info.failure
                    self.failures.append(f"{phase} {operation} {check.name}: {failure.title}\n{failure.message}\n"
                                         f"{check.failure_info.code_sample}")


def run_engine(schema) -> EngineOutcome:
    outcome = EngineOutcome()
    for event in schemathesis.engine.from_schema(schema).execute():
        outcome.record(event)
    return outcome
