"""Property-based requests over an API's OpenAPI document (schemathesis), for both services'
tests: no input may get a 5xx or a status the document does not list."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

EXAMPLES = 12  # per operation: bounded, so `make test` stays fast


def fuzz(app: Any, headers: dict[str, str]) -> list[str]:
    """Every operation of the ASGI `app`, EXAMPLES generated requests each, sent with
    `headers`; returns the failures (all of them, not just the first)."""
    failures: list[str] = []
    for result in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers,
                                   checks=[not_a_server_error, status_code_conformance])

        try:
            check()
        except Exception as error:
            failures.append(f"{operation.label}: {error}")
    return failures
