"""Property-based fuzzing of the OpenAPI description, over real HTTP, in both backends: generated
requests (valid and invalid) to every route never get a 5xx, and every answer conforms to what the
description declares (status code, content type, body schema, headers)."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Not `negative_data_rejection`: with no API key configured (the default) the declared key is optional,
# so a request without it is rightly served; invalid requests must still get a declared 4xx, not a 5xx.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Bounded so the whole module fits in `make test`: a few dozen requests per route and mode, no shrinking
# (a failure is reported as found), the same examples on every run.
EXAMPLES = 10


@pytest.mark.parametrize("mode", ["embedded", "production"])
def test_generated_requests_to_every_route_get_declared_answers_and_no_5xx(start_service, mode):
    service = start_service(mode, MAX_WAIT_S="1")
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/extract", "/check-status/{document_id}", "/result/{document_id}",
                                              "/languages", "/health", "/health/ready", "/health/live"}
    for operation in operations:
        for generation in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def call(case):
                case.call_and_validate(base_url=service.url, checks=CHECKS, timeout=30)

            started = time.monotonic()
            try:
                call()
            except Unsatisfiable:  # nothing to make invalid (a route without parameters)
                pass
            except Exception as error:  # every route's findings, not only the first one's
                failures[f"{operation.label} ({generation.value})"] = str(error)[:1500]
            print(f"{operation.label} {generation.value}: {time.monotonic() - started:.1f} s")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
