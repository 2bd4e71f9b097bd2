"""Remote commands: version-neutral parameters → the OCPP call of the station's version.

save-server validates the parameters (docs/commands.md); this module only maps them, and
raises `UnsupportedCommand` for a command (or a parameter value) the station's OCPP version
does not have. Parameters arrive as the JSON object save-server sent (snake_case keys).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

V16, V201, V21 = "1.6", "2.0.1", "2.1"

Parameters = dict[str, Any]


class UnsupportedCommand(Exception):
    """The command or one of its parameter values does not exist in this OCPP version."""


class StationConnectionClosed(Exception):
    """The station's connection closed before the command could be sent to it."""


@dataclass(frozen=True)
class OcppCall:
    action: str
    payload: dict[str, Any]


# Charger statuses that mean "done / will do"; any other `status` is a rejection.
ACCEPTED_STATUSES = frozenset({"Accepted", "Scheduled", "RebootRequired", "Unlocked",
                               "AcceptedCanceled"})


def request_id(command_id: str) -> int:
    """A positive 31-bit id derived from the command id (2.0.1 requestId, remoteStartId).

    The same command id gives the same request id in every gateway process (a retried command
    or a second gateway must name the same request), so a command id that is not a UUID goes
    through a digest, never through `hash()`, which is salted per process.
    """
    try:
        return int(uuid.UUID(command_id).hex[:7], 16) or 1
    except ValueError:
        digest = hashlib.sha256(command_id.encode()).digest()
        return int.from_bytes(digest[:4], "big") % (2**31 - 1) or 1


def _drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


def _limit_unit(p: Parameters) -> tuple[float | None, str]:
    if p.get("max_power_w") is not None:
        return float(p["max_power_w"]), "W"
    if p.get("max_current_a") is not None:
        return float(p["max_current_a"]), "A"
    return None, "A"


def _schedule_16(limit: float, unit: str, duration: int | None) -> dict[str, Any]:
    return _drop_none({"duration": duration, "chargingRateUnit": unit,
                       "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]})


def _schedule_201(limit: float, unit: str, duration: int | None) -> dict[str, Any]:
    return _drop_none({"id": 1, "duration": duration, "chargingRateUnit": unit,
                       "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]})


def _id_token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "Central"}


# --- one mapping per command and version ------------------------------------------------------

def remote_start(p: Parameters, version: str, command_id: str) -> OcppCall:
    limit, unit = _limit_unit(p)
    connector = p.get("connector_id")
    if version == V16:
        profile = None if limit is None else {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": _schedule_16(limit, unit, None)}
        return OcppCall("RemoteStartTransaction", _drop_none(
            {"connectorId": connector, "idTag": p["id_tag"], "chargingProfile": profile}))
    profile = None if limit is None else {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [_schedule_201(limit, unit, None)]}
    return OcppCall("RequestStartTransaction", _drop_none({
        "evseId": connector, "idToken": _id_token(p["id_tag"]),
        "remoteStartId": p.get("remote_start_id") or request_id(command_id),
        "chargingProfile": profile}))


def remote_stop(p: Parameters, version: str, command_id: str) -> OcppCall:
    transaction_id = str(p["transaction_id"])
    if version == V16:
        if not transaction_id.isdigit():
            raise UnsupportedCommand("an OCPP 1.6 transaction id is an integer")
        return OcppCall("RemoteStopTransaction", {"transactionId": int(transaction_id)})
    return OcppCall("RequestStopTransaction", {"transactionId": transaction_id})


_RESET = {"soft": ("Soft", "OnIdle"), "hard": ("Hard", "Immediate")}


def reset(p: Parameters, version: str, command_id: str) -> OcppCall:
    v16_type, v201_type = _RESET[p.get("type", "soft")]
    if version == V16:
        if p.get("evse_id") is not None:
            raise UnsupportedCommand("OCPP 1.6 resets the whole station (no evse_id)")
        return OcppCall("Reset", {"type": v16_type})
    return OcppCall("Reset", _drop_none({"type": v201_type, "evseId": p.get("evse_id")}))


def unlock_connector(p: Parameters, version: str, command_id: str) -> OcppCall:
    if version == V16:
        return OcppCall("UnlockConnector", {"connectorId": p["connector_id"]})
    return OcppCall("UnlockConnector", {"evseId": p["connector_id"],
                                        "connectorId": p.get("evse_connector_id") or 1})


def change_availability(p: Parameters, version: str, command_id: str) -> OcppCall:
    status = "Operative" if p["availability"] == "operative" else "Inoperative"
    connector = p.get("connector_id") or 0
    if version == V16:
        return OcppCall("ChangeAvailability", {"connectorId": connector, "type": status})
    return OcppCall("ChangeAvailability", _drop_none({
        "operationalStatus": status, "evse": {"id": connector} if connector else None}))


_TRIGGERS_16 = frozenset({"BootNotification", "DiagnosticsStatusNotification",
                          "FirmwareStatusNotification", "Heartbeat", "MeterValues",
                          "StatusNotification"})
_TRIGGERS_201 = frozenset({"BootNotification", "LogStatusNotification",
                           "FirmwareStatusNotification", "Heartbeat", "MeterValues",
                           "SignChargingStationCertificate", "StatusNotification",
                           "TransactionEvent"})


def trigger_message(p: Parameters, version: str, command_id: str) -> OcppCall:
    message, connector = p["message"], p.get("connector_id")
    if version == V16:
        if message not in _TRIGGERS_16:
            raise UnsupportedCommand(f"OCPP 1.6 cannot trigger {message}")
        return OcppCall("TriggerMessage", _drop_none(
            {"requestedMessage": message, "connectorId": connector}))
    if message not in _TRIGGERS_201:
        raise UnsupportedCommand(f"OCPP 2.0.1 cannot trigger {message}")
    return OcppCall("TriggerMessage", _drop_none({
        "requestedMessage": message, "evse": {"id": connector} if connector else None}))


def get_configuration(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("GetConfiguration", _drop_none({"key": p.get("keys") or None}))


def change_configuration(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("ChangeConfiguration", {"key": p["key"], "value": p["value"]})


def _component(item: Parameters) -> dict[str, Any]:
    evse = None if item.get("evse_id") is None else {"id": item["evse_id"]}
    return _drop_none({"name": item["component"], "evse": evse})


def _variable(item: Parameters) -> dict[str, Any]:
    return _drop_none({"name": item["variable"], "instance": item.get("instance")})


def get_variables(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("GetVariables", {"getVariableData": [_drop_none({
        "component": _component(item), "variable": _variable(item),
        "attributeType": item.get("attribute_type")}) for item in p["variables"]]})


def set_variables(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("SetVariables", {"setVariableData": [_drop_none({
        "attributeValue": item["value"], "component": _component(item),
        "variable": _variable(item), "attributeType": item.get("attribute_type")})
        for item in p["variables"]]})


def reserve_now(p: Parameters, version: str, command_id: str) -> OcppCall:
    connector = p.get("connector_id") or 0
    if version == V16:
        return OcppCall("ReserveNow", _drop_none({
            "connectorId": connector, "expiryDate": p["expires_at"], "idTag": p["id_tag"],
            "parentIdTag": p.get("parent_id_tag"), "reservationId": p["reservation_id"]}))
    group = p.get("parent_id_tag")
    return OcppCall("ReserveNow", _drop_none({
        "id": p["reservation_id"], "expiryDateTime": p["expires_at"],
        "idToken": _id_token(p["id_tag"]), "evseId": connector or None,
        "groupIdToken": _id_token(group) if group else None}))


def cancel_reservation(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("CancelReservation", {"reservationId": p["reservation_id"]})


def clear_cache(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("ClearCache", {})


def data_transfer(p: Parameters, version: str, command_id: str) -> OcppCall:
    data = p.get("data")
    if version == V16 and data is not None and not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))  # 1.6 data is a string
    return OcppCall("DataTransfer", _drop_none(
        {"vendorId": p["vendor_id"], "messageId": p.get("message_id"), "data": data}))


def set_charging_profile(p: Parameters, version: str, command_id: str) -> OcppCall:
    limit, unit = _limit_unit(p)
    if limit is None:
        raise UnsupportedCommand("give max_current_a or max_power_w")
    connector = p.get("connector_id") or 0
    purpose = p.get("purpose") or "TxDefaultProfile"
    station_max = purpose == STATION_MAX
    if station_max and (connector != 0 or not p.get("valid_from")):
        raise UnsupportedCommand("a ChargePointMaxProfile needs connector_id 0 and valid_from")
    common = {"stackLevel": p.get("stack_level") or 0,
              "chargingProfilePurpose": purpose if version == V16 or not station_max
              else "ChargingStationMaxProfile",
              # a station max profile has no transaction to be relative to: Absolute, from
              # valid_from (stations refuse a Relative one, or one without startSchedule)
              "chargingProfileKind": "Absolute" if station_max else "Relative",
              "transactionId": _transaction_id(p, purpose, version),
              "validFrom": p.get("valid_from"), "validTo": p.get("valid_to")}
    duration = p.get("duration_seconds")
    start = {"startSchedule": p["valid_from"]} if station_max else {}
    if version == V16:
        return OcppCall("SetChargingProfile", {"connectorId": connector, "csChargingProfiles":
                        _drop_none({"chargingProfileId": p.get("profile_id") or 1, **common,
                                    "chargingSchedule": {
                                        **start, **_schedule_16(limit, unit, duration)}})})
    return OcppCall("SetChargingProfile", {"evseId": connector, "chargingProfile": _drop_none({
        "id": p.get("profile_id") or 1, **common,
        "chargingSchedule": [{**_schedule_201(limit, unit, duration), **start}]})})


STATION_MAX = "ChargePointMaxProfile"  # 2.0.1: ChargingStationMaxProfile


def _transaction_id(p: Parameters, purpose: str, version: str) -> int | str | None:
    """A TxProfile names its transaction: an integer in 1.6, a string in 2.0.1."""
    if purpose != "TxProfile":
        return None
    transaction = p.get("transaction_id")
    if transaction is None:
        raise UnsupportedCommand("a TxProfile needs transaction_id")
    if version != V16:
        return str(transaction)
    try:
        return int(transaction)
    except ValueError as error:
        raise UnsupportedCommand("a 1.6 transactionId is an integer") from error


def clear_charging_profile(p: Parameters, version: str, command_id: str) -> OcppCall:
    connector = p.get("connector_id")
    if version == V16:
        return OcppCall("ClearChargingProfile", _drop_none(
            {"id": p.get("profile_id"), "connectorId": connector}))
    criteria = None if connector is None else {"evseId": connector}
    return OcppCall("ClearChargingProfile", _drop_none(
        {"chargingProfileId": p.get("profile_id"), "chargingProfileCriteria": criteria}))


def update_firmware(p: Parameters, version: str, command_id: str) -> OcppCall:
    retries = {"retries": p.get("retries"), "retryInterval": p.get("retry_interval_seconds")}
    if version == V16:
        return OcppCall("UpdateFirmware", _drop_none(
            {"location": p["location"], "retrieveDate": p["retrieve_at"], **retries}))
    return OcppCall("UpdateFirmware", _drop_none({
        "requestId": p.get("request_id") or request_id(command_id),
        "firmware": {"location": p["location"], "retrieveDateTime": p["retrieve_at"]},
        **retries}))


def get_diagnostics(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("GetDiagnostics", _drop_none({
        "location": p["location"], "startTime": p.get("start_time"),
        "stopTime": p.get("stop_time"), "retries": p.get("retries"),
        "retryInterval": p.get("retry_interval_seconds")}))


def get_log(p: Parameters, version: str, command_id: str) -> OcppCall:
    log = _drop_none({"remoteLocation": p["location"], "oldestTimestamp": p.get("start_time"),
                      "latestTimestamp": p.get("stop_time")})
    return OcppCall("GetLog", _drop_none({
        "log": log, "logType": p.get("log_type") or "DiagnosticsLog",
        "requestId": p.get("request_id") or request_id(command_id),
        "retries": p.get("retries"), "retryInterval": p.get("retry_interval_seconds")}))


_UPDATE_TYPES = {"full": "Full", "differential": "Differential"}


def _local_entry_16(entry: Parameters) -> dict[str, Any]:
    if len(entry["id_tag"]) > 20 or len(entry.get("parent_id_tag") or "") > 20:
        raise UnsupportedCommand("an OCPP 1.6 idTag has at most 20 characters")
    if entry.get("status") is None:  # differential: no idTagInfo removes the tag
        return {"idTag": entry["id_tag"]}
    return {"idTag": entry["id_tag"], "idTagInfo": _drop_none({
        "status": entry["status"], "expiryDate": entry.get("expires_at"),
        "parentIdTag": entry.get("parent_id_tag")})}


def _local_entry_201(entry: Parameters) -> dict[str, Any]:
    token = {"idToken": entry["id_tag"], "type": entry.get("token_type") or "ISO14443"}
    if entry.get("status") is None:  # differential: no idTokenInfo removes the token
        return {"idToken": token}
    group = entry.get("parent_id_tag")
    return {"idToken": token, "idTokenInfo": _drop_none({
        "status": entry["status"], "cacheExpiryDateTime": entry.get("expires_at"),
        "groupIdToken": _id_token(group) if group else None})}


def send_local_list(p: Parameters, version: str, command_id: str) -> OcppCall:
    """An empty list is left out (2.0.1 wants at least one item when present): a full update
    without entries clears the station's list."""
    entries = p.get("entries") or []
    update_type = _UPDATE_TYPES[p["update_type"]]
    if version == V16:
        return OcppCall("SendLocalList", _drop_none({
            "listVersion": p["list_version"], "updateType": update_type,
            "localAuthorizationList": [_local_entry_16(e) for e in entries] or None}))
    return OcppCall("SendLocalList", _drop_none({
        "versionNumber": p["list_version"], "updateType": update_type,
        "localAuthorizationList": [_local_entry_201(e) for e in entries] or None}))


def get_local_list_version(p: Parameters, version: str, command_id: str) -> OcppCall:
    return OcppCall("GetLocalListVersion", {})


Mapping = Callable[[Parameters, str, str], OcppCall]
BOTH = (V16, V201)
# command -> (mapping, the versions that have it)
COMMANDS: dict[str, tuple[Mapping, tuple[str, ...]]] = {
    "remote-start": (remote_start, BOTH),
    "remote-stop": (remote_stop, BOTH),
    "reset": (reset, BOTH),
    "unlock-connector": (unlock_connector, BOTH),
    "change-availability": (change_availability, BOTH),
    "trigger-message": (trigger_message, BOTH),
    "get-configuration": (get_configuration, (V16,)),
    "change-configuration": (change_configuration, (V16,)),
    "get-variables": (get_variables, (V201,)),
    "set-variables": (set_variables, (V201,)),
    "reserve-now": (reserve_now, BOTH),
    "cancel-reservation": (cancel_reservation, BOTH),
    "clear-cache": (clear_cache, BOTH),
    "data-transfer": (data_transfer, BOTH),
    "set-charging-profile": (set_charging_profile, BOTH),
    "clear-charging-profile": (clear_charging_profile, BOTH),
    "update-firmware": (update_firmware, BOTH),
    "get-diagnostics": (get_diagnostics, (V16,)),
    "get-log": (get_log, (V201,)),
    "send-local-list": (send_local_list, BOTH),
    "get-local-list-version": (get_local_list_version, BOTH),
}


def translate(command: str, parameters: Parameters, ocpp_version: str,
              command_id: str) -> OcppCall:
    """The OCPP call for `command` on a station speaking `ocpp_version` (2.1 maps as 2.0.1)."""
    family = V201 if ocpp_version in (V201, V21) else ocpp_version
    entry = COMMANDS.get(command)
    if entry is None:
        raise UnsupportedCommand(f"unknown command {command!r}")
    mapping, versions = entry
    if family not in versions:
        raise UnsupportedCommand(
            f"{command} does not exist in OCPP {ocpp_version} (only in "
            f"{' and '.join(versions)})")
    try:
        return mapping(parameters, family, command_id)
    except (KeyError, TypeError, ValueError) as error:
        raise UnsupportedCommand(f"bad parameters for {command}: {error!r}") from error


def outcome_of(response: dict[str, Any]) -> str:
    """`accepted` unless the answer carries a status that is not an acceptance."""
    status = response.get("status")
    if status is None or status in ACCEPTED_STATUSES:
        return "accepted"
    return "rejected"
