"""Every remote command translated for OCPP 1.6 and 2.0.1 (and 2.1): the exact call, valid
against the official schema of that version."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from ocpp.messages import Call

from ocpp_events.domain.remote_commands import (
    COMMANDS,
    UnsupportedCommand,
    outcome_of,
    request_id,
    translate,
)
from ocpp_events.infrastructure.ocpp.framing import validate

COMMAND_ID = "0b6a3a4e-9a57-4f0e-8d55-2a3c1b7e9f00"
LATER = "2026-11-26T08:00:00Z"

# command, parameters, version, expected action, expected payload
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    ("remote-start", {"connector_id": 1, "id_tag": "TAG1"}, "1.6",
     "RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG1"}),
    ("remote-start", {"id_tag": "TAG1", "max_current_a": 16}, "1.6", "RemoteStartTransaction",
     {"idTag": "TAG1", "chargingProfile": {
         "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Relative", "chargingSchedule": {
             "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}}),
    ("remote-start", {"connector_id": 2, "id_tag": "TAG1", "remote_start_id": 7}, "2.0.1",
     "RequestStartTransaction",
     {"evseId": 2, "idToken": {"idToken": "TAG1", "type": "Central"}, "remoteStartId": 7}),
    ("remote-start", {"id_tag": "TAG1", "max_power_w": 7400}, "2.0.1",
     "RequestStartTransaction",
     {"idToken": {"idToken": "TAG1", "type": "Central"},
      "remoteStartId": request_id(COMMAND_ID), "chargingProfile": {
          "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
          "chargingProfileKind": "Relative", "chargingSchedule": [{
              "id": 1, "chargingRateUnit": "W",
              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]}]}}),
    ("remote-stop", {"transaction_id": "1234"}, "1.6", "RemoteStopTransaction",
     {"transactionId": 1234}),
    ("remote-stop", {"transaction_id": "tx-9"}, "2.0.1", "RequestStopTransaction",
     {"transactionId": "tx-9"}),
    ("reset", {"type": "soft"}, "1.6", "Reset", {"type": "Soft"}),
    ("reset", {"type": "hard"}, "1.6", "Reset", {"type": "Hard"}),
    ("reset", {"type": "soft"}, "2.0.1", "Reset", {"type": "OnIdle"}),
    ("reset", {"type": "hard", "evse_id": 1}, "2.0.1", "Reset",
     {"type": "Immediate", "evseId": 1}),
    ("unlock-connector", {"connector_id": 2}, "1.6", "UnlockConnector", {"connectorId": 2}),
    ("unlock-connector", {"connector_id": 2}, "2.0.1", "UnlockConnector",
     {"evseId": 2, "connectorId": 1}),
    ("change-availability", {"availability": "inoperative", "connector_id": 1}, "1.6",
     "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
    ("change-availability", {"availability": "operative"}, "1.6", "ChangeAvailability",
     {"connectorId": 0, "type": "Operative"}),
    ("change-availability", {"availability": "inoperative", "connector_id": 1}, "2.0.1",
     "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
    ("change-availability", {"availability": "operative"}, "2.0.1", "ChangeAvailability",
     {"operationalStatus": "Operative"}),
    ("trigger-message", {"message": "StatusNotification", "connector_id": 1}, "1.6",
     "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
    ("trigger-message", {"message": "Heartbeat"}, "2.0.1", "TriggerMessage",
     {"requestedMessage": "Heartbeat"}),
    ("trigger-message", {"message": "MeterValues", "connector_id": 1}, "2.0.1",
     "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}),
    ("get-configuration", {}, "1.6", "GetConfiguration", {}),
    ("get-configuration", {"keys": ["HeartbeatInterval"]}, "1.6", "GetConfiguration",
     {"key": ["HeartbeatInterval"]}),
    ("change-configuration", {"key": "HeartbeatInterval", "value": "60"}, "1.6",
     "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
    ("get-variables", {"variables": [{"component": "OCPPCommCtrlr",
                                      "variable": "HeartbeatInterval"}]}, "2.0.1",
     "GetVariables", {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                           "variable": {"name": "HeartbeatInterval"}}]}),
    ("set-variables", {"variables": [{"component": "EVSE", "variable": "Power", "value": "11",
                                      "evse_id": 1, "attribute_type": "Target"}]}, "2.0.1",
     "SetVariables", {"setVariableData": [{
         "attributeValue": "11", "component": {"name": "EVSE", "evse": {"id": 1}},
         "variable": {"name": "Power"}, "attributeType": "Target"}]}),
    ("reserve-now", {"reservation_id": 5, "connector_id": 1, "id_tag": "TAG1",
                     "expires_at": LATER}, "1.6", "ReserveNow",
     {"connectorId": 1, "expiryDate": LATER, "idTag": "TAG1", "reservationId": 5}),
    ("reserve-now", {"reservation_id": 5, "connector_id": 1, "id_tag": "TAG1",
                     "expires_at": LATER, "parent_id_tag": "GROUP"}, "2.0.1", "ReserveNow",
     {"id": 5, "expiryDateTime": LATER, "idToken": {"idToken": "TAG1", "type": "Central"},
      "evseId": 1, "groupIdToken": {"idToken": "GROUP", "type": "Central"}}),
    ("cancel-reservation", {"reservation_id": 5}, "1.6", "CancelReservation",
     {"reservationId": 5}),
    ("cancel-reservation", {"reservation_id": 5}, "2.0.1", "CancelReservation",
     {"reservationId": 5}),
    ("get-local-list-version", {}, "1.6", "GetLocalListVersion", {}),
    ("get-local-list-version", {}, "2.0.1", "GetLocalListVersion", {}),
    ("send-local-list", {"list_version": 3, "update_type": "full", "entries": []}, "1.6",
     "SendLocalList", {"listVersion": 3, "updateType": "Full"}),
    ("send-local-list", {"list_version": 3, "update_type": "full", "entries": []}, "2.0.1",
     "SendLocalList", {"versionNumber": 3, "updateType": "Full"}),
    ("send-local-list", {"list_version": 4, "update_type": "differential", "entries": [
        {"id_tag": "TAG1", "status": "Accepted", "parent_id_tag": "APT-1",
         "expires_at": LATER}, {"id_tag": "LOST", "status": "Blocked"}, {"id_tag": "GONE"}]},
     "1.6", "SendLocalList", {"listVersion": 4, "updateType": "Differential",
                              "localAuthorizationList": [
        {"idTag": "TAG1", "idTagInfo": {"status": "Accepted", "expiryDate": LATER,
                                        "parentIdTag": "APT-1"}},
        {"idTag": "LOST", "idTagInfo": {"status": "Blocked"}}, {"idTag": "GONE"}]}),
    ("send-local-list", {"list_version": 4, "update_type": "differential", "entries": [
        {"id_tag": "TAG1", "status": "Accepted", "parent_id_tag": "APT-1",
         "expires_at": LATER}, {"id_tag": "CODE", "status": "Expired",
                                "token_type": "KeyCode"}, {"id_tag": "GONE"}]},
     "2.0.1", "SendLocalList", {"versionNumber": 4, "updateType": "Differential",
                                "localAuthorizationList": [
        {"idToken": {"idToken": "TAG1", "type": "ISO14443"},
         "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": LATER,
                         "groupIdToken": {"idToken": "APT-1", "type": "Central"}}},
        {"idToken": {"idToken": "CODE", "type": "KeyCode"},
         "idTokenInfo": {"status": "Expired"}},
        {"idToken": {"idToken": "GONE", "type": "ISO14443"}}]}),
    ("clear-cache", {}, "1.6", "ClearCache", {}),
    ("clear-cache", {}, "2.0.1", "ClearCache", {}),
    ("data-transfer", {"vendor_id": "ACME", "message_id": "ping", "data": {"a": 1}}, "1.6",
     "DataTransfer", {"vendorId": "ACME", "messageId": "ping", "data": '{"a":1}'}),
    ("data-transfer", {"vendor_id": "ACME", "data": {"a": 1}}, "2.0.1", "DataTransfer",
     {"vendorId": "ACME", "data": {"a": 1}}),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 10,
                              "valid_to": LATER}, "1.6", "SetChargingProfile",
     {"connectorId": 1, "csChargingProfiles": {
         "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
         "chargingProfileKind": "Relative", "validTo": LATER, "chargingSchedule": {
             "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}}),
    ("set-charging-profile", {"connector_id": 0, "max_power_w": 5000, "duration_seconds": 3600,
                              "profile_id": 3}, "2.0.1", "SetChargingProfile",
     {"evseId": 0, "chargingProfile": {
         "id": 3, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
         "chargingProfileKind": "Relative", "chargingSchedule": [{
             "id": 1, "duration": 3600, "chargingRateUnit": "W",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}]}]}}),
    ("set-charging-profile", {"connector_id": 2, "max_current_a": 7.5, "purpose": "TxProfile",
                              "transaction_id": "4711", "profile_id": 1002}, "1.6",
     "SetChargingProfile", {"connectorId": 2, "csChargingProfiles": {
         "chargingProfileId": 1002, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Relative", "transactionId": 4711, "chargingSchedule": {
             "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.5}]}}}),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 6, "purpose": "TxProfile",
                              "transaction_id": "tx-abc", "profile_id": 1001}, "2.0.1",
     "SetChargingProfile", {"evseId": 1, "chargingProfile": {
         "id": 1001, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Relative", "transactionId": "tx-abc", "chargingSchedule": [{
             "id": 1, "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}]}}),
    ("set-charging-profile", {"max_current_a": 20, "purpose": "ChargePointMaxProfile",
                              "valid_from": LATER, "valid_to": LATER, "stack_level": 1,
                              "profile_id": 902}, "1.6", "SetChargingProfile",
     {"connectorId": 0, "csChargingProfiles": {
         "chargingProfileId": 902, "stackLevel": 1, "chargingProfilePurpose":
         "ChargePointMaxProfile", "chargingProfileKind": "Absolute", "validFrom": LATER,
         "validTo": LATER, "chargingSchedule": {
             "startSchedule": LATER, "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0}]}}}),
    ("set-charging-profile", {"max_current_a": 20, "purpose": "ChargePointMaxProfile",
                              "valid_from": LATER, "profile_id": 901}, "2.0.1",
     "SetChargingProfile", {"evseId": 0, "chargingProfile": {
         "id": 901, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
         "chargingProfileKind": "Absolute", "validFrom": LATER, "chargingSchedule": [{
             "id": 1, "chargingRateUnit": "A", "startSchedule": LATER,
             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0}]}]}}),
    ("clear-charging-profile", {"profile_id": 3}, "1.6", "ClearChargingProfile", {"id": 3}),
    ("clear-charging-profile", {"connector_id": 1}, "2.0.1", "ClearChargingProfile",
     {"chargingProfileCriteria": {"evseId": 1}}),
    ("update-firmware", {"location": "https://fw.example/1.2.bin", "retrieve_at": LATER,
                         "retries": 3}, "1.6", "UpdateFirmware",
     {"location": "https://fw.example/1.2.bin", "retrieveDate": LATER, "retries": 3}),
    ("update-firmware", {"location": "https://fw.example/1.2.bin", "retrieve_at": LATER,
                         "request_id": 9}, "2.0.1", "UpdateFirmware",
     {"requestId": 9, "firmware": {"location": "https://fw.example/1.2.bin",
                                   "retrieveDateTime": LATER}}),
    ("get-diagnostics", {"location": "ftp://logs.example/"}, "1.6", "GetDiagnostics",
     {"location": "ftp://logs.example/"}),
    ("get-log", {"location": "https://logs.example/", "request_id": 4}, "2.0.1", "GetLog",
     {"log": {"remoteLocation": "https://logs.example/"}, "logType": "DiagnosticsLog",
      "requestId": 4}),
]


@pytest.mark.parametrize(("command", "parameters", "version", "action", "payload"), CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_command_becomes_the_ocpp_call_of_the_station_version(
        command: str, parameters: dict[str, Any], version: str, action: str,
        payload: dict[str, Any]) -> None:
    call = translate(command, parameters, version, COMMAND_ID)
    assert (call.action, call.payload) == (action, payload)
    validate(Call("1", call.action, call.payload), version)  # the official schema accepts it


def test_every_command_has_a_case_for_each_version_it_exists_in() -> None:
    covered = {(c[0], c[2]) for c in CASES}
    expected = {(name, version) for name, (_, versions) in COMMANDS.items()
                for version in versions}
    assert expected <= covered


@pytest.mark.parametrize(("command", "version"), [
    (name, version) for name, (_, versions) in COMMANDS.items()
    for version in ("1.6", "2.0.1") if version not in versions])
def test_a_command_missing_from_the_version_is_unsupported(command: str, version: str) -> None:
    with pytest.raises(UnsupportedCommand, match="does not exist in OCPP"):
        translate(command, {}, version, COMMAND_ID)


def test_ocpp_21_stations_get_the_201_mapping_valid_against_the_21_schema() -> None:
    call = translate("reset", {"type": "hard"}, "2.1", COMMAND_ID)
    assert (call.action, call.payload) == ("Reset", {"type": "Immediate"})
    validate(Call("1", call.action, call.payload), "2.1")


@pytest.mark.parametrize(("command", "parameters", "version", "message"), [
    ("remote-stop", {"transaction_id": "tx-9"}, "1.6", "integer"),
    ("trigger-message", {"message": "LogStatusNotification"}, "1.6", "cannot trigger"),
    ("trigger-message", {"message": "DiagnosticsStatusNotification"}, "2.0.1",
     "cannot trigger"),
    ("reset", {"type": "soft", "evse_id": 1}, "1.6", "no evse_id"),
    ("set-charging-profile", {"connector_id": 1}, "1.6", "max_current_a"),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 6, "purpose": "TxProfile",
                              "transaction_id": "tx-abc"}, "1.6", "integer"),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 6, "purpose": "TxProfile"},
     "2.0.1", "transaction_id"),
    ("set-charging-profile", {"connector_id": 1, "max_current_a": 6, "valid_from": LATER,
                              "purpose": "ChargePointMaxProfile"}, "1.6", "connector_id 0"),
    ("set-charging-profile", {"max_current_a": 6, "purpose": "ChargePointMaxProfile"},
     "2.0.1", "valid_from"),
    ("remote-start", {}, "1.6", "bad parameters"),
    ("no-such-command", {}, "1.6", "unknown command"),
    ("send-local-list", {"list_version": 1, "update_type": "full",
                         "entries": [{"id_tag": "T" * 21, "status": "Accepted"}]}, "1.6",
     "at most 20"),
])
def test_values_the_version_cannot_express_are_unsupported(
        command: str, parameters: dict[str, Any], version: str, message: str) -> None:
    with pytest.raises(UnsupportedCommand, match=message):
        translate(command, parameters, version, COMMAND_ID)


@pytest.mark.parametrize(("answer", "outcome"), [
    ({"status": "Accepted"}, "accepted"), ({"status": "Scheduled"}, "accepted"),
    ({"status": "Unlocked"}, "accepted"), ({"status": "RebootRequired"}, "accepted"),
    ({"status": "Rejected"}, "rejected"), ({"status": "UnlockFailed"}, "rejected"),
    ({"status": "Occupied"}, "rejected"), ({"configurationKey": []}, "accepted"), ({}, "accepted"),
])
def test_outcome_follows_the_charger_status(answer: dict[str, Any], outcome: str) -> None:
    assert outcome_of(answer) == outcome


def test_request_ids_are_positive_31_bit_and_stable() -> None:
    assert request_id(COMMAND_ID) == request_id(COMMAND_ID)
    assert 0 < request_id(COMMAND_ID) < 2**31
    assert 0 < request_id("not-a-uuid") < 2**31


@pytest.mark.parametrize("command_id", ["not-a-uuid", "cmd-42", ""])
def test_a_command_id_that_is_not_a_uuid_gives_the_same_request_id_in_every_process(
        command_id: str) -> None:
    """Python salts `hash()` per process: two gateways (or a restarted one) must still derive
    the same request id from the same command id."""
    script = ("import sys; from ocpp_events.domain.remote_commands import request_id; "
              "print(request_id(sys.argv[1]))")
    answers = {subprocess.run([sys.executable, "-c", script, command_id], check=True,
                              capture_output=True, text=True,
                              env={"PYTHONHASHSEED": seed}).stdout.strip()
               for seed in ("1", "2", "3")}
    assert answers == {str(request_id(command_id))}
