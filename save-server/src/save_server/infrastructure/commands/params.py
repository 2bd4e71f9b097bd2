"""The version-neutral parameters of each remote command (docs/commands.md), one model each.

Unknown fields are refused; times are RFC 3339 with an offset and are sent on as UTC `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

IdTag = Annotated[str, Field(min_length=1, max_length=20)]
ConnectorId = Annotated[int, Field(ge=1)]
Location = Annotated[str, Field(min_length=1, max_length=512)]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]  # sent as ...Z


class Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_message(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class _OneLimit(Parameters):
    max_current_a: float | None = Field(None, gt=0, le=10_000)
    max_power_w: float | None = Field(None, gt=0, le=10_000_000)

    @model_validator(mode="after")
    def _at_most_one_limit(self) -> _OneLimit:
        if self.max_current_a is not None and self.max_power_w is not None:
            raise ValueError("give max_current_a or max_power_w, not both")
        return self


class RemoteStart(_OneLimit):
    id_tag: IdTag
    connector_id: ConnectorId | None = None
    remote_start_id: int | None = Field(None, ge=1)


class RemoteStop(Parameters):
    transaction_id: str | None = Field(None, min_length=1, max_length=36)
    charge_id: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> RemoteStop:
        if (self.transaction_id is None) == (self.charge_id is None):
            raise ValueError("give exactly one of transaction_id and charge_id")
        return self


class Reset(Parameters):
    type: Literal["soft", "hard"]
    evse_id: int | None = Field(None, ge=0)

    @field_validator("type", mode="before")
    @classmethod
    def _ocpp_201_names(cls, value: Any) -> Any:
        aliases = {"onidle": "soft", "immediate": "hard", "soft": "soft", "hard": "hard"}
        return aliases.get(value.lower(), value) if isinstance(value, str) else value


class UnlockConnector(Parameters):
    connector_id: ConnectorId
    evse_connector_id: ConnectorId | None = None


class ChangeAvailability(Parameters):
    availability: Literal["operative", "inoperative"]
    connector_id: int = Field(0, ge=0, description="0 = the whole station")


class TriggerMessage(Parameters):
    message: Literal["BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                     "FirmwareStatusNotification", "DiagnosticsStatusNotification",
                     "LogStatusNotification", "SignChargingStationCertificate",
                     "TransactionEvent"]
    connector_id: ConnectorId | None = None


class GetConfiguration(Parameters):
    keys: list[Annotated[str, Field(min_length=1, max_length=50)]] | None = None


class ChangeConfiguration(Parameters):
    key: str = Field(min_length=1, max_length=50)
    value: str = Field(max_length=500)


class VariableRef(Parameters):
    component: str = Field(min_length=1, max_length=50)
    variable: str = Field(min_length=1, max_length=50)
    instance: str | None = Field(None, min_length=1, max_length=50)
    evse_id: int | None = Field(None, ge=0)
    attribute_type: Literal["Actual", "Target", "MinSet", "MaxSet"] | None = None


class VariableValue(VariableRef):
    value: str = Field(max_length=1000)


class GetVariables(Parameters):
    variables: list[VariableRef] = Field(min_length=1)


class SetVariables(Parameters):
    variables: list[VariableValue] = Field(min_length=1)


class ReserveNow(Parameters):
    reservation_id: int = Field(ge=0)
    id_tag: IdTag
    expires_at: UtcTime
    connector_id: int = Field(0, ge=0, description="0 = any connector")
    parent_id_tag: IdTag | None = None


class CancelReservation(Parameters):
    reservation_id: int = Field(ge=0)


class ClearCache(Parameters):
    pass


class DataTransfer(Parameters):
    vendor_id: str = Field(min_length=1, max_length=255)
    message_id: str | None = Field(None, min_length=1, max_length=50)
    data: Any = None


class SetChargingProfile(_OneLimit):
    max_current_a: float | None = Field(None, ge=0, le=10_000,
                                        description="amperes per phase; 0 pauses charging")
    connector_id: int = Field(0, ge=0, description="0 = the whole station")
    profile_id: int = Field(1, ge=1)
    stack_level: int = Field(0, ge=0)
    valid_from: UtcTime | None = None
    valid_to: UtcTime | None = None
    duration_seconds: int | None = Field(None, ge=1)
    purpose: Literal["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile"] | None = Field(
        None, description="default TxDefaultProfile; TxProfile limits one running "
                          "transaction (give transaction_id and connector_id); "
                          "ChargePointMaxProfile (2.0.1: ChargingStationMaxProfile) caps the "
                          "whole station (connector_id 0, from valid_from)")
    transaction_id: str | None = Field(None, min_length=1, max_length=36, description=(
        "the transaction a TxProfile is for: 1.6 transactionId (digits), 2.0.1 transactionId"))

    @model_validator(mode="after")
    def _limit_and_window(self) -> SetChargingProfile:
        if self.max_current_a is None and self.max_power_w is None:
            raise ValueError("give max_current_a or max_power_w")
        if self.purpose == "TxProfile" and (self.transaction_id is None
                                            or self.connector_id < 1):
            raise ValueError("a TxProfile needs transaction_id and a connector_id ≥ 1")
        if self.purpose == "ChargePointMaxProfile" and (self.connector_id != 0
                                                         or self.valid_from is None):
            raise ValueError("purpose ChargePointMaxProfile needs connector_id 0 and "
                             "valid_from")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class ClearChargingProfile(Parameters):
    profile_id: int | None = Field(None, ge=1)
    connector_id: int | None = Field(None, ge=0)


class _Retries(Parameters):
    retries: int | None = Field(None, ge=0)
    retry_interval_seconds: int | None = Field(None, ge=0)


class UpdateFirmware(_Retries):
    location: Location
    retrieve_at: UtcTime
    request_id: int | None = Field(None, ge=0)


class _LogWindow(_Retries):
    location: Location
    start_time: UtcTime | None = None
    stop_time: UtcTime | None = None

    @model_validator(mode="after")
    def _window(self) -> _LogWindow:
        if self.start_time and self.stop_time and self.stop_time <= self.start_time:
            raise ValueError("stop_time must be after start_time")
        return self


class GetDiagnostics(_LogWindow):
    pass


class GetLog(_LogWindow):
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    request_id: int | None = Field(None, ge=0)


TokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local",
                    "MacAddress", "NoAuthorization"]
ListToken = Annotated[str, Field(min_length=1, max_length=36)]  # 1.6: ≤ 20 (gateway: 422)


class LocalListEntry(Parameters):
    """One entry of a local list; without `status` (differential only): remove the tag."""

    id_tag: ListToken
    status: Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"] | None = None
    expires_at: UtcTime | None = None
    parent_id_tag: ListToken | None = None
    token_type: TokenType | None = Field(None, description="2.0.1 idToken type "
                                                           "(default ISO14443)")


class SendLocalList(Parameters):
    list_version: int = Field(ge=1)
    update_type: Literal["full", "differential"]
    entries: list[LocalListEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> SendLocalList:
        if self.update_type == "full" and any(e.status is None for e in self.entries):
            raise ValueError("every entry of a full list needs a status")
        tokens = [e.id_tag.casefold() for e in self.entries]
        if len(set(tokens)) != len(tokens):
            raise ValueError("an id tag appears twice (OCPP compares them case-insensitively)")
        return self


class GetLocalListVersion(Parameters):
    pass


PARAMETERS: dict[str, type[Parameters]] = {
    "remote-start": RemoteStart, "remote-stop": RemoteStop, "reset": Reset,
    "unlock-connector": UnlockConnector, "change-availability": ChangeAvailability,
    "trigger-message": TriggerMessage, "get-configuration": GetConfiguration,
    "change-configuration": ChangeConfiguration, "get-variables": GetVariables,
    "set-variables": SetVariables, "reserve-now": ReserveNow,
    "cancel-reservation": CancelReservation, "clear-cache": ClearCache,
    "data-transfer": DataTransfer, "set-charging-profile": SetChargingProfile,
    "clear-charging-profile": ClearChargingProfile, "update-firmware": UpdateFirmware,
    "get-diagnostics": GetDiagnostics, "get-log": GetLog,
    "send-local-list": SendLocalList, "get-local-list-version": GetLocalListVersion,
}

CommandName = StrEnum("CommandName", {name.replace("-", "_"): name for name in PARAMETERS})

# One example body per command, shown in the OpenAPI document (`/docs`).
EXAMPLES: dict[str, dict[str, Any]] = {
    "remote-start": {"id_tag": "RFID-1234", "connector_id": 1, "max_current_a": 16},
    "remote-stop": {"charge_id": 42},
    "reset": {"type": "soft"},
    "unlock-connector": {"connector_id": 1},
    "change-availability": {"availability": "inoperative", "connector_id": 1},
    "trigger-message": {"message": "StatusNotification", "connector_id": 1},
    "get-configuration": {"keys": ["HeartbeatInterval"]},
    "change-configuration": {"key": "HeartbeatInterval", "value": "300"},
    "get-variables": {"variables": [{"component": "OCPPCommCtrlr",
                                     "variable": "HeartbeatInterval"}]},
    "set-variables": {"variables": [{"component": "OCPPCommCtrlr",
                                     "variable": "HeartbeatInterval", "value": "300"}]},
    "reserve-now": {"reservation_id": 7, "id_tag": "RFID-1234", "connector_id": 1,
                    "expires_at": "2026-11-25T18:00:00Z"},
    "cancel-reservation": {"reservation_id": 7},
    "clear-cache": {},
    "data-transfer": {"vendor_id": "com.example", "message_id": "ping", "data": "hello"},
    "set-charging-profile": {"connector_id": 1, "max_power_w": 7400,
                             "valid_to": "2026-11-25T22:00:00Z"},
    "clear-charging-profile": {"profile_id": 1},
    "update-firmware": {"location": "https://firmware.example/v2.bin",
                        "retrieve_at": "2026-11-26T03:00:00Z"},
    "get-diagnostics": {"location": "ftp://logs.example/upload/"},
    "get-log": {"location": "https://logs.example/upload/", "log_type": "DiagnosticsLog"},
    "send-local-list": {"list_version": 8, "update_type": "differential", "entries": [
        {"id_tag": "RFID-1234", "status": "Accepted", "parent_id_tag": "APT-302",
         "expires_at": "2027-01-01T00:00:00Z"},
        {"id_tag": "RFID-LOST", "status": "Blocked"},
        {"id_tag": "RFID-GONE"}]},
    "get-local-list-version": {},
}
