"""Property-based run over the whole OpenAPI document, in-process and authenticated:
no 5xx, and every response matches the spec (status code, content type, schema)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 30
# Everything that says "the response matches the document", plus: no 5xx, and invalid input is refused.
# (positive_data_acceptance is left out on purpose: a schema-valid BPMN upload or form value can still be
# rejected by the engine's semantic checks with a documented 422.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]


def test_api_conforms_to_its_openapi_document(app, tokens):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, report them together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert operations >= 20
    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
