"""The remote-commands API over a real database (SQLite, PostgreSQL) with a scripted command
bus standing in for broker + gateway + charger: status codes, history, charge lookup."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandBusUnavailable,
    CommandOutcome,
    CommandRequest,
)
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


class ScriptedBus(CommandBus):
    """Answers each command with the next scripted answer; remembers the requests."""

    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []
        self.answers: list[CommandAnswer | Exception] = []

    async def send(self, request: CommandRequest) -> CommandAnswer:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


@pytest.fixture
def bus() -> ScriptedBus:
    return ScriptedBus()


@pytest.fixture
def client(container: Container, bus: ScriptedBus) -> Iterator[TestClient]:
    # One event loop for the whole test (as under uvicorn): the history row is written by a
    # task that outlives the request; without `with`, each request's loop dies with it.
    with TestClient(container.app(bus), headers=grant(container)) as client:
        yield client


@pytest.fixture
def station(container: Container, charger: Callable[..., Any]) -> Any:
    cp = charger()
    feed(container, [cp.boot(), cp.status(1, "Available")])
    return cp


def post(client: TestClient, station_id: str, command: str, body: Any = None,
         **kwargs: Any) -> Any:
    return client.post(f"/charging-stations/{station_id}/commands/{command}", json=body,
                       **kwargs)


def caller_name(client: TestClient) -> str:
    """What the history records for this client's API key: its account and the key's id."""
    key = client.headers["Authorization"].split()[1]
    return f"{client.get('/auth/me').json()['email']} (api-key:{key[4:16]})"


def test_accepted_answer_is_200_with_the_charger_payload_and_is_recorded(
        client: TestClient, bus: ScriptedBus, station: Any) -> None:
    bus.answers.append(CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"},
                                     ocpp_version="1.6", action="Reset"))
    response = post(client, station.station_id, "reset", {"type": "hard"},
                    headers={"X-Requested-By": "alice@save"})  # ignored: who is the caller
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["status"], body["payload"]) == (
        "accepted", "Accepted", {"status": "Accepted"})
    [request] = bus.requests
    assert (request.station_id, request.command, request.parameters, request.requested_by) == (
        station.station_id, "reset", {"type": "hard"}, caller_name(client))
    assert request.timeout == 30.0 and body["command_id"] == request.command_id
    [listed] = client.get(f"/charging-stations/{station.station_id}/commands").json()
    assert listed["command_id"] == request.command_id
    assert (listed["requested_by"], listed["outcome"], listed["action"]) == (
        caller_name(client), "accepted", "Reset")
    assert listed["requested_at"].endswith("Z") and listed["latency_ms"] >= 0


def test_rejected_answer_is_still_200(client: TestClient, bus: ScriptedBus,
                                      station: Any) -> None:
    bus.answers.append(CommandAnswer(CommandOutcome.REJECTED, {"status": "Rejected"}))
    response = post(client, station.station_id, "clear-cache")
    assert response.status_code == 200
    assert (response.json()["outcome"], response.json()["status"]) == ("rejected", "Rejected")
    assert response.json()["requested_by"] == caller_name(client)


@pytest.mark.parametrize(("answer", "status"), [
    (CommandAnswer(CommandOutcome.CALL_ERROR, error_code="InternalError",
                   error_description="flash broken"), 502),
    (CommandAnswer(CommandOutcome.TIMEOUT, error_description="no answer within 1 s"), 504),
    (CommandAnswer(CommandOutcome.NOT_CONNECTED,
                   error_description="not connected to any gateway"), 409),
])
def test_failures_map_to_their_status(client: TestClient, bus: ScriptedBus, station: Any,
                                      answer: CommandAnswer, status: int) -> None:
    bus.answers.append(answer)
    response = post(client, station.station_id, "clear-cache")
    assert response.status_code == status
    body = response.json()
    assert body["outcome"] == answer.outcome.value
    assert (body["error_code"], body["error_description"]) == (
        answer.error_code, answer.error_description)
    history = client.get(f"/charging-stations/{station.station_id}/commands").json()
    assert [h["outcome"] for h in history] == [answer.outcome.value]


def test_command_the_station_version_lacks_is_422_naming_the_command(
        client: TestClient, bus: ScriptedBus, station: Any) -> None:
    bus.answers.append(CommandAnswer(CommandOutcome.UNSUPPORTED, ocpp_version="2.0.1",
                                     error_description="get-configuration does not exist in "
                                                       "OCPP 2.0.1 (only in 1.6)"))
    response = post(client, station.station_id, "get-configuration")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "command"] and "only in 1.6" in error["msg"]


def test_bad_parameters_are_422_naming_the_parameter_and_nothing_is_sent(
        client: TestClient, bus: ScriptedBus, station: Any) -> None:
    response = post(client, station.station_id, "reset", {"type": "sideways"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "type"]
    response = post(client, station.station_id, "unlock-connector", {"connector_id": 0})
    assert response.json()["detail"][0]["loc"] == ["body", "connector_id"]
    assert bus.requests == []


def test_unknown_command_is_422_naming_the_path_parameter(client: TestClient,
                                                          station: Any) -> None:
    response = post(client, station.station_id, "self-destruct")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "command"]


def test_unknown_station_is_404_for_commands_and_history(client: TestClient,
                                                         bus: ScriptedBus) -> None:
    assert post(client, "CP-nobody", "clear-cache").status_code == 404
    assert client.get("/charging-stations/CP-nobody/commands").status_code == 404
    assert bus.requests == []


def test_remote_stop_by_charge_id_sends_the_charge_transaction_id(
        container: Container, client: TestClient, bus: ScriptedBus, station: Any) -> None:
    feed(container, [station.start(1, 4711, 1000)])
    [charge] = client.get("/charges", params={"charging_station_id": station.station_id}).json()
    bus.answers.append(CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"}))
    response = post(client, station.station_id, "remote-stop", {"charge_id": charge["id"]})
    assert response.status_code == 200
    assert bus.requests[0].parameters == {"transaction_id": "4711", "charge_id": charge["id"]}


def test_remote_stop_of_another_station_charge_is_422(
        container: Container, client: TestClient, bus: ScriptedBus, station: Any,
        charger: Callable[..., Any]) -> None:
    other = charger()
    feed(container, [other.boot(), other.start(1, 5, 0)])
    [charge] = client.get("/charges", params={"charging_station_id": other.station_id}).json()
    response = post(client, station.station_id, "remote-stop", {"charge_id": charge["id"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "charge_id"]
    assert bus.requests == []


def test_timeout_may_be_lowered_per_request_but_not_raised(
        client: TestClient, bus: ScriptedBus, station: Any) -> None:
    bus.answers += [CommandAnswer(CommandOutcome.ACCEPTED, {})] * 2
    post(client, station.station_id, "clear-cache", params={"timeout": 1.5})
    post(client, station.station_id, "clear-cache", params={"timeout": 300})
    assert [r.timeout for r in bus.requests] == [1.5, 30.0]
    assert post(client, station.station_id, "clear-cache",
                params={"timeout": 0}).status_code == 422


def test_broker_unavailable_is_503(client: TestClient, bus: ScriptedBus, station: Any) -> None:
    bus.answers.append(CommandBusUnavailable("broker unreachable"))
    assert post(client, station.station_id, "clear-cache").status_code == 503


def test_history_is_newest_first_and_limited(client: TestClient, bus: ScriptedBus,
                                             station: Any) -> None:
    bus.answers += [CommandAnswer(CommandOutcome.ACCEPTED, {"status": "Accepted"})] * 3
    ids = [post(client, station.station_id, "clear-cache").json()["command_id"]
           for _ in range(3)]
    listed = client.get(f"/charging-stations/{station.station_id}/commands",
                        params={"limit": 2}).json()
    assert [c["command_id"] for c in listed] == ids[::-1][:2]
