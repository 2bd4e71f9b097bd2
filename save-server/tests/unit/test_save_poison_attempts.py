"""Which failures of the API process's own consumers count towards dead-lettering a message."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError

from save_server.domain.station_commands import CommandBusUnavailable
from save_server.infrastructure.messaging.attempts import (
    MAX_ATTEMPTS,
    Attempts,
    RetryLater,
    message_id,
)

EVENT = b'{"event_id": "e-1", "type": "ocpp-events.connect"}'


def test_a_message_is_dead_lettered_at_its_last_allowed_failure() -> None:
    attempts = Attempts("q")
    verdicts = [attempts.exhausted(EVENT, ValueError("bad")) for _ in range(MAX_ATTEMPTS)]
    assert verdicts == [False] * (MAX_ATTEMPTS - 1) + [True]
    assert attempts.exhausted(EVENT, ValueError("bad")) is False  # counted afresh after


def test_failures_expected_to_clear_are_never_counted() -> None:
    attempts = Attempts("q", limit=2)
    for error in (RetryLater("no lease"), CommandBusUnavailable("broker away"),
                  OperationalError("select 1", {}, Exception("connection refused"))):
        assert not any(attempts.exhausted(EVENT, error) for _ in range(10))
    assert attempts.exhausted(EVENT, IntegrityError("insert", {}, Exception("null"))) is False
    assert attempts.exhausted(EVENT, IntegrityError("insert", {}, Exception("null"))) is True


def test_a_success_forgets_the_failures_and_messages_are_counted_apart() -> None:
    attempts, other = Attempts("q", limit=2), b'{"event_id": "e-2"}'
    assert attempts.exhausted(EVENT, ValueError()) is False
    attempts.succeeded(EVENT)
    assert attempts.exhausted(EVENT, ValueError()) is False
    assert attempts.exhausted(other, ValueError()) is False
    assert attempts.exhausted(EVENT, ValueError()) is True


def test_only_the_most_recent_messages_are_remembered() -> None:
    attempts = Attempts("q", limit=2, remembered=1)
    attempts.exhausted(EVENT, ValueError())
    attempts.exhausted(b"other", ValueError())  # EVENT is forgotten
    assert attempts.exhausted(EVENT, ValueError()) is False


def test_messages_are_known_by_event_id_else_by_their_bytes() -> None:
    assert message_id(EVENT) == "e-1"
    assert message_id(b"not json") == message_id(b"not json") != message_id(b"other")
    assert message_id(b'{"event_id": true}').startswith("sha256:")


def test_a_dead_letter_keeps_the_headers_and_adds_the_error_cut_and_the_routing_key() -> None:
    from save_server.infrastructure.messaging.dead_letters import dead_letter_headers

    error = "ValueError: " + "x" * 2000
    headers = dead_letter_headers({"charging_station_id": "CP1"}, "ocpp-events.connect", error)
    assert headers == {"charging_station_id": "CP1", "x-error": error[:1000],
                       "x-original-routing-key": "ocpp-events.connect"}
    assert dead_letter_headers(None, "k", "e") == {"x-error": "e", "x-original-routing-key": "k"}
