"""Parameter validation of every remote command: a valid example each, and bad input
refused naming the parameter."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from save_server.infrastructure.commands.params import PARAMETERS

LATER = "2026-11-26T08:00:00-03:00"

VALID: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "remote-start": ({"id_tag": "TAG1", "connector_id": 1, "max_current_a": 16},
                     {"id_tag": "TAG1", "connector_id": 1, "max_current_a": 16.0}),
    "remote-stop": ({"transaction_id": "42"}, {"transaction_id": "42"}),
    "reset": ({"type": "Immediate"}, {"type": "hard"}),
    "unlock-connector": ({"connector_id": 2}, {"connector_id": 2}),
    "change-availability": ({"availability": "inoperative"},
                            {"availability": "inoperative", "connector_id": 0}),
    "trigger-message": ({"message": "StatusNotification", "connector_id": 1},
                        {"message": "StatusNotification", "connector_id": 1}),
    "get-configuration": ({}, {}),
    "change-configuration": ({"key": "HeartbeatInterval", "value": "60"},
                             {"key": "HeartbeatInterval", "value": "60"}),
    "get-variables": ({"variables": [{"component": "C", "variable": "V"}]},
                      {"variables": [{"component": "C", "variable": "V"}]}),
    "set-variables": ({"variables": [{"component": "C", "variable": "V", "value": "1"}]},
                      {"variables": [{"component": "C", "variable": "V", "value": "1"}]}),
    "reserve-now": ({"reservation_id": 1, "id_tag": "T", "expires_at": LATER},
                    {"reservation_id": 1, "id_tag": "T", "expires_at": "2026-11-26T11:00:00Z",
                     "connector_id": 0}),
    "cancel-reservation": ({"reservation_id": 1}, {"reservation_id": 1}),
    "clear-cache": ({}, {}),
    "data-transfer": ({"vendor_id": "ACME", "data": {"x": 1}},
                      {"vendor_id": "ACME", "data": {"x": 1}}),
    "set-charging-profile": ({"max_power_w": 7400, "valid_to": LATER},
                             {"max_power_w": 7400.0, "valid_to": "2026-11-26T11:00:00Z",
                              "connector_id": 0, "profile_id": 1, "stack_level": 0}),
    "clear-charging-profile": ({"profile_id": 1}, {"profile_id": 1}),
    "update-firmware": ({"location": "https://fw/1.bin", "retrieve_at": LATER},
                        {"location": "https://fw/1.bin", "retrieve_at": "2026-11-26T11:00:00Z"}),
    "get-diagnostics": ({"location": "ftp://logs/"}, {"location": "ftp://logs/"}),
    "get-log": ({"location": "https://logs/"},
                {"location": "https://logs/", "log_type": "DiagnosticsLog"}),
    "send-local-list": ({"list_version": 2, "update_type": "differential", "entries": [
        {"id_tag": "T", "status": "Accepted", "expires_at": LATER}, {"id_tag": "GONE"}]},
                        {"list_version": 2, "update_type": "differential", "entries": [
        {"id_tag": "T", "status": "Accepted", "expires_at": "2026-11-26T11:00:00Z"},
        {"id_tag": "GONE"}]}),
    "get-local-list-version": ({}, {}),
}


def test_every_command_has_a_parameter_model_and_an_example() -> None:
    assert set(VALID) == set(PARAMETERS)


@pytest.mark.parametrize("command", sorted(VALID))
def test_valid_parameters_become_the_message_sent_to_the_gateway(command: str) -> None:
    given, sent = VALID[command]
    assert PARAMETERS[command].model_validate(given).to_message() == sent


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("send-local-list", {"list_version": 0, "update_type": "full"}, "list_version"),
    ("send-local-list", {"list_version": 1, "update_type": "partial"}, "update_type"),
    ("send-local-list", {"list_version": 1, "update_type": "full",
                         "entries": [{"id_tag": "GONE"}]}, "needs a status"),
    ("send-local-list", {"list_version": 1, "update_type": "differential",
                         "entries": [{"id_tag": "a"}, {"id_tag": "A"}]}, "appears twice"),
    ("send-local-list", {"list_version": 1, "update_type": "full",
                         "entries": [{"id_tag": "X" * 37, "status": "Accepted"}]}, "id_tag"),
    ("send-local-list", {"list_version": 1, "update_type": "full",
                         "entries": [{"id_tag": "X", "status": "Maybe"}]}, "status"),
    ("remote-start", {}, "id_tag"),
    ("remote-start", {"id_tag": "X" * 21}, "id_tag"),
    ("remote-start", {"id_tag": "T", "connector_id": 0}, "connector_id"),
    ("remote-start", {"id_tag": "T", "max_current_a": 16, "max_power_w": 7400}, "max_power_w"),
    ("remote-start", {"id_tag": "T", "max_current_a": -1}, "max_current_a"),
    ("remote-stop", {}, "transaction_id and charge_id"),
    ("remote-stop", {"transaction_id": "1", "charge_id": 2}, "transaction_id and charge_id"),
    ("reset", {"type": "sideways"}, "type"),
    ("reset", {}, "type"),
    ("unlock-connector", {}, "connector_id"),
    ("change-availability", {"availability": "broken"}, "availability"),
    ("trigger-message", {"message": "StartTransaction"}, "message"),
    ("change-configuration", {"key": "K" * 51, "value": "1"}, "key"),
    ("get-variables", {"variables": []}, "variables"),
    ("set-variables", {"variables": [{"component": "C", "variable": "V"}]}, "value"),
    ("reserve-now", {"reservation_id": 1, "id_tag": "T", "expires_at": "2026-11-26T08:00:00"},
     "expires_at"),
    ("set-charging-profile", {"connector_id": 1}, "max_current_a or max_power_w"),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 6, "purpose": "TxProfile"},
     "transaction_id"),
    ("set-charging-profile", {"max_current_a": 6, "purpose": "TxProfile",
                              "transaction_id": "7"}, "connector_id"),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 6,
                              "purpose": "ChargePointMaxProfile"}, "purpose"),
    ("set-charging-profile", {"max_current_a": 6, "purpose": "ChargePointMaxProfile"},
     "valid_from"),
    ("set-charging-profile", {"max_current_a": 6, "valid_from": LATER,
                              "valid_to": "2026-11-25T08:00:00Z"}, "valid_to"),
    ("update-firmware", {"location": "https://fw/1.bin"}, "retrieve_at"),
    ("get-log", {"location": "x", "log_type": "Everything"}, "log_type"),
    ("clear-cache", {"please": True}, "please"),
]


@pytest.mark.parametrize(("command", "body", "named"), BAD,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD)])
def test_bad_parameters_are_refused_naming_the_parameter(command: str, body: dict[str, Any],
                                                         named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PARAMETERS[command].model_validate(body)
    assert named in str(refused.value)


@pytest.mark.parametrize("command", sorted(PARAMETERS))
def test_the_openapi_example_of_each_command_is_valid(command: str) -> None:
    from save_server.infrastructure.commands.params import EXAMPLES

    PARAMETERS[command].model_validate(EXAMPLES[command])
