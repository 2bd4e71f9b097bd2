"""Property-based requests over the event-store's OpenAPI document (schemathesis), as an admin:
no input makes it answer 5xx or a status its document does not list."""

from __future__ import annotations

from typing import Any

from csms_embedded.broker import InProcessBroker
from event_store.bootstrap import build_app
from event_store.infrastructure.embedded_broker import EmbeddedReplayPublisher
from tests.support.openapi_fuzz import fuzz


def test_no_input_gets_a_server_error_or_an_undocumented_status(sqlite_storage: Any,
                                                                 authorize: Any) -> None:
    broker = InProcessBroker()  # replays available, as in a running platform
    app = build_app(sqlite_storage, lambda: EmbeddedReplayPublisher(broker, "ocpp-events"))
    assert fuzz(app, authorize(app)) == []
