"""OCPP 2.0.1 (and 2.1): every inbound call a station may send, answered per the specification."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v21 import call as call_21
from ocpp.v21 import call_result as call_result_21
from ocpp.v21.enums import Action as Action21
from ocpp.v201 import call, call_result
from ocpp.v201.enums import (
    Action,
    DataTransferStatusEnumType,
    NotifyEVChargingNeedsStatusEnumType,
    RegistrationStatusEnumType,
)

from ocpp_events.domain.authorization import Decision
from ocpp_events.domain.events import rfc3339
from ocpp_events.domain.id_tags import ChargeRef
from ocpp_events.infrastructure.ocpp.charge_point import GatewayChargePoint

GROUP_ID_TOKEN_MAX = 36  # IdTokenType.idToken


class ChargePoint201(GatewayChargePoint):
    _ocpp_version = "2.0.1"
    _call = call
    _call_result = call_result
    known_actions = frozenset(action.value for action in Action)

    def _id_token_info(self, decision: Decision) -> dict[str, Any]:
        info: dict[str, Any] = {"status": decision.status.for_version(self._ocpp_version)}
        if decision.group_id and len(decision.group_id) <= GROUP_ID_TOKEN_MAX:
            info["group_id_token"] = {"id_token": decision.group_id, "type": "Central"}
        if decision.expires_at is not None:
            info["cache_expiry_date_time"] = rfc3339(decision.expires_at)
        return info

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        status = (RegistrationStatusEnumType.accepted if self.registration_accepted()
                  else RegistrationStatusEnumType.pending)
        return call_result.BootNotification(
            current_time=self.now(), interval=self.boot_interval(), status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self.now())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        _, decision = self.authorize_token(id_token["id_token"], id_token["type"])
        return call_result.Authorize(id_token_info=self._id_token_info(decision))

    @on(Action.transaction_event)
    def on_transaction_event(self, event_type: str, transaction_info: dict[str, Any],
                             id_token: dict[str, Any] | None = None,
                             evse: dict[str, Any] | None = None,
                             **_: Any) -> call_result.TransactionEvent:
        """idTokenInfo is sent back only when the request carried an idToken. Ended frees
        the charge's place; an accepted token on Started/Updated counts the charge against
        the tag's limit (the charge itself is not counted when deciding)."""
        charge = ChargeRef(self.session.station_id, transaction_info["transaction_id"])
        if event_type == "Ended":
            self.charge_stopped(charge.transaction_id, id_token and id_token["id_token"])
        if not id_token:
            return call_result.TransactionEvent()
        request, decision = self.authorize_token(id_token["id_token"], id_token["type"], charge,
                                                 evse["id"] if evse else None)
        if decision.accepted and decision.known and event_type != "Ended":
            self.charge_started(request, charge)
        return call_result.TransactionEvent(id_token_info=self._id_token_info(decision))

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> call_result.NotifyReport:
        return call_result.NotifyReport()

    @on(Action.security_event_notification)
    def on_security_event_notification(
        self, **_: Any,
    ) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(
        self, **_: Any,
    ) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        known = vendor_id in self.services.data_transfer_vendors
        status = (DataTransferStatusEnumType.accepted if known
                  else DataTransferStatusEnumType.unknown_vendor_id)
        return call_result.DataTransfer(status=status)

    @on(Action.reservation_status_update)
    def on_reservation_status_update(
        self, **_: Any,
    ) -> call_result.ReservationStatusUpdate:
        return call_result.ReservationStatusUpdate()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **_: Any) -> call_result.ClearedChargingLimit:
        return call_result.ClearedChargingLimit()

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> call_result.NotifyChargingLimit:
        return call_result.NotifyChargingLimit()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> call_result.ReportChargingProfiles:
        return call_result.ReportChargingProfiles()

    @on(Action.notify_ev_charging_needs)
    def on_notify_ev_charging_needs(self, **_: Any) -> call_result.NotifyEVChargingNeeds:
        """No smart charging yet: "Rejected" (service not available) is the honest answer."""
        return call_result.NotifyEVChargingNeeds(
            status=NotifyEVChargingNeedsStatusEnumType.rejected)


class ChargePoint21(ChargePoint201):
    """OCPP 2.1 for the same inbound calls: their 2.1 answers are a superset of 2.0.1's.

    Answers are validated against the 2.1 schemas; other 2.1-only calls get NotImplemented.
    """

    _ocpp_version = "2.1"
    _call = call_21
    _call_result = call_result_21
    known_actions = frozenset(action.value for action in Action21)
