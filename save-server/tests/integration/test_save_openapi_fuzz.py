"""Property-based requests over the whole OpenAPI document (schemathesis), authenticated as an
admin: no input makes the API answer 5xx or a status its document does not list."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from save_server.bootstrap import Container
from tests.support.api_keys import grant

EXAMPLES = 12  # per operation: bounded, so `make test` stays fast



def fuzz(schema: Any, headers: dict[str, str]) -> list[str]:
    """Every operation of `schema`, EXAMPLES generated requests each; returns the failures."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers,
                                   checks=[not_a_server_error, status_code_conformance])

        try:
            check()
        except Exception as error:  # every failing operation is reported, not just the first
            failures.append(f"{operation.label}: {error}")
    return failures


def test_no_input_gets_a_server_error_or_an_undocumented_status(container: Container) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", container.app())
    failures = fuzz(schema, grant(container))
    assert failures == []
