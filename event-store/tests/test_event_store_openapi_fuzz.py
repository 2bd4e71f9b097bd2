"""Property-based requests over the event-store's OpenAPI document (schemathesis), as an admin:
no input makes it answer 5xx or a status its document does not list."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from csms_embedded.broker import InProcessBroker
from event_store.bootstrap import build_app
from event_store.infrastructure.embedded_broker import EmbeddedReplayPublisher

EXAMPLES = 12



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


def test_no_input_gets_a_server_error_or_an_undocumented_status(sqlite_storage: Any,
                                                                 authorize: Any) -> None:
    broker = InProcessBroker()  # replays available, as in a running platform
    app = build_app(sqlite_storage, lambda: EmbeddedReplayPublisher(broker, "ocpp-events"))
    failures = fuzz(schemathesis.openapi.from_asgi("/openapi.json", app), authorize(app))
    assert failures == []
