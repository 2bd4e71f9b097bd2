"""Id tags answered from the registry copy: raw 1.6 and 2.0.1 frames, exact replies, and the
events behind them (with their `authorization` field)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from ocpp_events.domain.authorization import UnknownIdTags
from ocpp_events.infrastructure.id_tag_copy import IdTagCopy
from ocpp_events.infrastructure.ocpp.session import GatewayServices, Session
from ocpp_events.infrastructure.ocpp.v16 import ChargePoint16
from ocpp_events.infrastructure.ocpp.v201 import ChargePoint201
from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry
from ocpp_events.service.id_tag_authorization import RegistryAuthorization

from ..conftest import FakeConnection
from ..id_tag_events import active_charges, updated
from ..registry_events import registered

SITE = "site-a"
EXPIRY = "2027-01-01T00:00:00Z"
TAGS = [
    updated("CARD-OK", group_id="APTO-302", expires_at=EXPIRY),
    updated("CARD-BLOCKED", status="blocked", group_id="APTO-302"),
    updated("CARD-EXPIRED", expires_at="2026-01-01T00:00:00Z"),
    updated("CARD-BUDGET", budget_exhausted=True),
    updated("CARD-SITE", site_ids=["site-b"]),
    updated("CARD-STATION", station_ids=["CP-elsewhere"]),
    updated("CARD-HERE", site_ids=[SITE]),
    updated("CARD-BUSY"),
    updated("CARD-RFID", token_type="ISO14443"),
    updated("CARD-TWO", max_concurrent_charges=2),
    updated("CARD-AC", evse_types=["AC"]),
    active_charges("CARD-BUSY", ("CP-elsewhere", "77")),
]


@pytest.fixture
def id_tags() -> IdTagCopy:
    copy = IdTagCopy()
    for event in TAGS:
        copy.apply(event)
    return copy


@pytest.fixture
def policy() -> list[UnknownIdTags]:
    return [UnknownIdTags.REJECT]


@pytest.fixture
def tagged(services: GatewayServices, id_tags: IdTagCopy, station_id: str,
           policy: list[UnknownIdTags]) -> GatewayServices:
    stations = InMemoryStationRegistry()
    event = registered(station_id, 0)
    event["payload"]["site_id"] = SITE
    event["payload"]["evse_types"] = {"1": "DC", "2": "AC"}
    stations.apply(event)
    services.station_registry = stations
    services.authorization = RegistryAuthorization(id_tags, policy[0], services.clock)
    return services


def station(version: str, services: GatewayServices, station_id: str) -> Any:
    kind = ChargePoint16 if version == "1.6" else ChargePoint201
    return kind(Session(station_id, str(uuid.uuid4()), version), services, FakeConnection())


@pytest.fixture
def cp16(tagged: GatewayServices, station_id: str) -> ChargePoint16:
    return station("1.6", tagged, station_id)


@pytest.fixture
def cp201(tagged: GatewayServices, station_id: str) -> ChargePoint201:
    return station("2.0.1", tagged, station_id)


async def reply(charge_point: Any, action: str, payload: dict[str, Any]) -> str:
    message_id = uuid.uuid4().hex[:8]
    await charge_point.route_message(json.dumps([2, message_id, action, payload]))
    sent = charge_point._connection.sent[-1]
    return sent.replace(f'"{message_id}"', '"id"', 1)


# --- 1.6 -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("id_tag", "answer"), [
    ("CARD-OK", '[3,"id",{"idTagInfo":{"status":"Accepted","parentIdTag":"APTO-302",'
                '"expiryDate":"2027-01-01T00:00:00Z"}}]'),
    ("card-ok", '[3,"id",{"idTagInfo":{"status":"Accepted","parentIdTag":"APTO-302",'
                '"expiryDate":"2027-01-01T00:00:00Z"}}]'),
    ("CARD-BLOCKED", '[3,"id",{"idTagInfo":{"status":"Blocked","parentIdTag":"APTO-302"}}]'),
    ("CARD-EXPIRED", '[3,"id",{"idTagInfo":{"status":"Expired",'
                     '"expiryDate":"2026-01-01T00:00:00Z"}}]'),
    ("CARD-BUDGET", '[3,"id",{"idTagInfo":{"status":"Blocked"}}]'),
    ("CARD-SITE", '[3,"id",{"idTagInfo":{"status":"Invalid"}}]'),
    ("CARD-STATION", '[3,"id",{"idTagInfo":{"status":"Invalid"}}]'),
    ("CARD-HERE", '[3,"id",{"idTagInfo":{"status":"Accepted"}}]'),
    ("CARD-BUSY", '[3,"id",{"idTagInfo":{"status":"ConcurrentTx"}}]'),
    ("UNKNOWN-CARD", '[3,"id",{"idTagInfo":{"status":"Invalid"}}]'),
    ("AB CD", '[3,"id",{"idTagInfo":{"status":"Invalid"}}]'),
    ("", '[3,"id",{"idTagInfo":{"status":"Invalid"}}]'),
])
async def test_v16_authorize(cp16, id_tag: str, answer: str) -> None:
    assert await reply(cp16, "Authorize", {"idTag": id_tag}) == answer


def start_16(id_tag: str) -> dict[str, Any]:
    return {"connectorId": 1, "idTag": id_tag, "meterStart": 0,
            "timestamp": "2026-11-25T11:59:58Z"}


async def test_v16_a_second_start_is_concurrent_until_the_first_stops(
        cp16, tagged, station_id, notifier, validate_event) -> None:
    first = json.loads(await reply(cp16, "StartTransaction", start_16("CARD-OK")))[2]
    assert first["idTagInfo"] == {"status": "Accepted", "parentIdTag": "APTO-302",
                                  "expiryDate": EXPIRY}
    other = station("1.6", tagged, station_id + "-b")  # another station, same gateway
    second = json.loads(await reply(other, "StartTransaction", start_16("card-ok")))[2]
    assert second["idTagInfo"]["status"] == "ConcurrentTx"
    assert await reply(cp16, "Authorize", {"idTag": "CARD-OK"}) == (
        '[3,"id",{"idTagInfo":{"status":"ConcurrentTx","parentIdTag":"APTO-302",'
        '"expiryDate":"2027-01-01T00:00:00Z"}}]')
    stop = {"transactionId": first["transactionId"], "meterStop": 10,
            "timestamp": "2026-11-25T12:30:00Z"}
    assert await reply(cp16, "StopTransaction", stop) == '[3,"id",{}]'
    third = json.loads(await reply(other, "StartTransaction", start_16("CARD-OK")))[2]
    assert third["idTagInfo"]["status"] == "Accepted"
    for event in notifier.events:
        validate_event(event.to_dict())


async def test_v16_a_start_whose_event_was_not_confirmed_does_not_count(
        cp16, notifier) -> None:
    notifier.failing = True
    answer = json.loads(await reply(cp16, "StartTransaction", start_16("CARD-OK")))
    assert answer[0] == 4 and answer[2] == "InternalError"
    notifier.failing = False
    answer = json.loads(await reply(cp16, "StartTransaction", start_16("CARD-OK")))
    assert answer[2]["idTagInfo"]["status"] == "Accepted"


async def test_v16_refused_starts_do_not_count_and_still_get_a_transaction_id(cp16) -> None:
    answer = json.loads(await reply(cp16, "StartTransaction", start_16("CARD-BLOCKED")))[2]
    assert answer["idTagInfo"] == {"status": "Blocked", "parentIdTag": "APTO-302"}
    assert answer["transactionId"] > 0
    answer = json.loads(await reply(cp16, "StartTransaction", start_16("CARD-EXPIRED")))[2]
    assert answer["idTagInfo"]["status"] == "Expired"


async def test_v16_stop_with_an_id_tag_answers_its_info_after_freeing_the_charge(
        cp16) -> None:
    first = json.loads(await reply(cp16, "StartTransaction", start_16("CARD-OK")))[2]
    stop = {"transactionId": first["transactionId"], "meterStop": 10, "idTag": "CARD-OK",
            "timestamp": "2026-11-25T12:30:00Z"}
    assert await reply(cp16, "StopTransaction", stop) == (
        '[3,"id",{"idTagInfo":{"status":"Accepted","parentIdTag":"APTO-302",'
        '"expiryDate":"2027-01-01T00:00:00Z"}}]')


async def test_v16_a_stop_of_a_charge_save_server_reported_frees_its_place(
        cp16, id_tags, station_id) -> None:
    id_tags.apply(active_charges("CARD-OK", (station_id, "500")))
    assert await reply(cp16, "Authorize", {"idTag": "CARD-OK"}) == (
        '[3,"id",{"idTagInfo":{"status":"ConcurrentTx","parentIdTag":"APTO-302",'
        '"expiryDate":"2027-01-01T00:00:00Z"}}]')
    stop = {"transactionId": 500, "meterStop": 10, "timestamp": "2026-11-25T12:30:00Z"}
    await reply(cp16, "StopTransaction", stop)
    answer = json.loads(await reply(cp16, "Authorize", {"idTag": "CARD-OK"}))[2]
    assert answer["idTagInfo"]["status"] == "Accepted"


async def test_v16_a_tag_change_applies_to_the_next_answer(cp16, id_tags) -> None:
    id_tags.apply(updated("CARD-OK", status="blocked"))
    assert await reply(cp16, "Authorize", {"idTag": "CARD-OK"}) == (
        '[3,"id",{"idTagInfo":{"status":"Blocked"}}]')


@pytest.mark.parametrize(("payload", "code"), [
    ({"idTag": "X" * 21}, "TypeConstraintViolation"),
    ({"idTag": 1234}, "TypeConstraintViolation"),
    ({}, "OccurenceConstraintViolation"),
])
async def test_v16_tokens_the_schema_refuses_get_a_call_error_and_no_event(
        cp16, notifier, payload, code) -> None:
    answer = json.loads(await reply(cp16, "Authorize", payload))
    assert answer[:3] == [4, "id", code]
    assert notifier.events == []


async def test_v16_the_event_says_how_the_id_tag_was_answered(cp16, notifier,
                                                             validate_event) -> None:
    await reply(cp16, "Authorize", {"idTag": "card-ok"})
    await reply(cp16, "Authorize", {"idTag": "NOBODY"})
    known, unknown = (e.to_dict() for e in notifier.events)
    assert known["authorization"] == {"id_tag": "card-ok", "known": True,
                                      "unknown_accepted": False}
    assert unknown["authorization"] == {"id_tag": "NOBODY", "known": False,
                                        "unknown_accepted": False}
    validate_event(known)
    validate_event(unknown)


@pytest.mark.parametrize("policy", [[UnknownIdTags.ACCEPT]])
async def test_v16_accept_policy_accepts_unknown_tags_and_flags_them_for_enrolment(
        cp16, notifier) -> None:
    assert await reply(cp16, "Authorize", {"idTag": "NEW-CARD"}) == (
        '[3,"id",{"idTagInfo":{"status":"Accepted"}}]')
    assert await reply(cp16, "Authorize", {"idTag": "AB CD"}) == (
        '[3,"id",{"idTagInfo":{"status":"Invalid"}}]')
    assert await reply(cp16, "Authorize", {"idTag": "CARD-BLOCKED"}) == (
        '[3,"id",{"idTagInfo":{"status":"Blocked","parentIdTag":"APTO-302"}}]')
    flags = [e.to_dict()["authorization"]["unknown_accepted"] for e in notifier.events]
    assert flags == [True, False, False]


@pytest.mark.parametrize("policy", [[UnknownIdTags.ACCEPT]])
async def test_v16_starts_of_unknown_tags_are_not_counted(cp16, tagged) -> None:
    """They have no limit; save-server's view counts them once it enrolled the card."""
    for _ in range(2):
        answer = json.loads(await reply(cp16, "StartTransaction", start_16("NEW-CARD")))[2]
        assert answer["idTagInfo"] == {"status": "Accepted"}
    assert tagged.authorization.local.starts == {}


# --- 2.0.1 -----------------------------------------------------------------------------------

def token(id_token: str, kind: str = "ISO14443") -> dict[str, str]:
    return {"idToken": id_token, "type": kind}


@pytest.mark.parametrize(("id_token", "answer"), [
    (token("CARD-OK"), '[3,"id",{"idTokenInfo":{"status":"Accepted","groupIdToken":'
                       '{"idToken":"APTO-302","type":"Central"},'
                       '"cacheExpiryDateTime":"2027-01-01T00:00:00Z"}}]'),
    (token("CARD-BLOCKED"), '[3,"id",{"idTokenInfo":{"status":"Blocked","groupIdToken":'
                            '{"idToken":"APTO-302","type":"Central"}}}]'),
    (token("CARD-EXPIRED"), '[3,"id",{"idTokenInfo":{"status":"Expired",'
                            '"cacheExpiryDateTime":"2026-01-01T00:00:00Z"}}]'),
    (token("CARD-BUDGET"), '[3,"id",{"idTokenInfo":{"status":"Blocked"}}]'),
    (token("CARD-SITE"), '[3,"id",{"idTokenInfo":{"status":"NotAtThisLocation"}}]'),
    (token("CARD-STATION"), '[3,"id",{"idTokenInfo":{"status":"NotAtThisLocation"}}]'),
    (token("CARD-HERE"), '[3,"id",{"idTokenInfo":{"status":"Accepted"}}]'),
    (token("CARD-BUSY"), '[3,"id",{"idTokenInfo":{"status":"ConcurrentTx"}}]'),
    (token("CARD-RFID", "KeyCode"), '[3,"id",{"idTokenInfo":{"status":"Invalid"}}]'),
    (token("card-rfid"), '[3,"id",{"idTokenInfo":{"status":"Accepted"}}]'),
    (token("UNKNOWN"), '[3,"id",{"idTokenInfo":{"status":"Invalid"}}]'),
    (token("Ação"), '[3,"id",{"idTokenInfo":{"status":"Invalid"}}]'),
])
async def test_v201_authorize(cp201, id_token: dict[str, str], answer: str) -> None:
    assert await reply(cp201, "Authorize", {"idToken": id_token}) == answer


def transaction(event_type: str, transaction_id: str,
                id_token: dict[str, str] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type, "timestamp": "2026-11-25T11:59:00Z",
        "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": transaction_id},
        "evse": {"id": 1, "connectorId": 1}}
    if id_token:
        payload["idToken"] = id_token
    return payload


async def test_v201_transaction_events_count_against_the_limit(
        cp201, tagged, station_id, notifier, validate_event) -> None:
    accepted = ('[3,"id",{"idTokenInfo":{"status":"Accepted","groupIdToken":{"idToken":'
                '"APTO-302","type":"Central"},"cacheExpiryDateTime":"2027-01-01T00:00:00Z"}}]')
    assert await reply(cp201, "TransactionEvent",
                       transaction("Started", "tx-1", token("CARD-OK"))) == accepted
    # the same transaction presenting the token again is not its own concurrent charge
    assert await reply(cp201, "TransactionEvent",
                       transaction("Updated", "tx-1", token("CARD-OK"))) == accepted
    assert await reply(cp201, "TransactionEvent", transaction("Updated", "tx-1")) == (
        '[3,"id",{}]')
    other = station("2.0.1", tagged, station_id + "-b")
    busy = json.loads(await reply(other, "TransactionEvent",
                                  transaction("Started", "tx-2", token("CARD-OK"))))[2]
    assert busy["idTokenInfo"]["status"] == "ConcurrentTx"
    assert await reply(cp201, "TransactionEvent", transaction("Ended", "tx-1")) == '[3,"id",{}]'
    again = json.loads(await reply(other, "TransactionEvent",
                                   transaction("Started", "tx-3", token("CARD-OK"))))[2]
    assert again["idTokenInfo"]["status"] == "Accepted"
    for event in notifier.events:
        validate_event(event.to_dict())


async def test_v201_ended_with_an_id_token_answers_its_info(cp201) -> None:
    await reply(cp201, "TransactionEvent", transaction("Started", "tx-1", token("CARD-TWO")))
    await reply(cp201, "TransactionEvent", transaction("Started", "tx-2", token("CARD-TWO")))
    assert await reply(cp201, "TransactionEvent",
                       transaction("Ended", "tx-1", token("CARD-TWO"))) == (
        '[3,"id",{"idTokenInfo":{"status":"Accepted"}}]')
    assert await reply(cp201, "Authorize", {"idToken": token("CARD-TWO")}) == (
        '[3,"id",{"idTokenInfo":{"status":"Accepted"}}]')


@pytest.mark.parametrize(("id_token", "code"), [
    (token("X" * 37), "TypeConstraintViolation"),
    (token("CARD-OK", "Badge"), "PropertyConstraintViolation"),
    ({"idToken": "CARD-OK"}, "OccurenceConstraintViolation"),
    ({"idToken": 7, "type": "ISO14443"}, "TypeConstraintViolation"),
])
async def test_v201_tokens_the_schema_refuses_get_a_call_error_and_no_event(
        cp201, notifier, id_token, code) -> None:
    answer = json.loads(await reply(cp201, "Authorize", {"idToken": id_token}))
    assert answer[:3] == [4, "id", code]
    assert notifier.events == []


@pytest.mark.parametrize(("policy", "answer"), [
    ([UnknownIdTags.ACCEPT], '[3,"id",{"idTokenInfo":{"status":"Accepted"}}]'),
    ([UnknownIdTags.REJECT], '[3,"id",{"idTokenInfo":{"status":"Invalid"}}]'),
])
async def test_v201_no_authorization_token_is_an_unknown_card_never_enrolled(
        cp201, notifier, answer) -> None:
    assert await reply(cp201, "Authorize", {"idToken": token("", "NoAuthorization")}) == answer
    assert notifier.events[0].authorization is None


async def test_evse_types_an_ac_only_tag_is_refused_at_the_dc_evse_only(cp16, cp201) -> None:
    """Registered EVSE 1 is DC, 2 is AC. 2.0.1 Authorize names no EVSE: the station has an AC
    one, so it is accepted; the EVSE of the start decides. 1.6 says Invalid."""
    assert await reply(cp201, "Authorize", {"idToken": token("CARD-AC")}) == (
        '[3,"id",{"idTokenInfo":{"status":"Accepted"}}]')
    dc = transaction("Started", "tx-dc", token("CARD-AC"))
    assert json.loads(await reply(cp201, "TransactionEvent", dc))[2] == {
        "idTokenInfo": {"status": "NotAllowedTypeEVSE"}}
    ac = transaction("Started", "tx-ac", token("CARD-AC")) | {
        "evse": {"id": 2, "connectorId": 1}}
    assert json.loads(await reply(cp201, "TransactionEvent", ac))[2] == {
        "idTokenInfo": {"status": "Accepted"}}
    start = {"idTag": "CARD-AC", "meterStart": 0, "timestamp": "2026-11-25T11:59:00Z"}
    refused = json.loads(await reply(cp16, "StartTransaction", start | {"connectorId": 1}))
    assert refused[2]["idTagInfo"] == {"status": "Invalid"}
