"""OCPP 1.6J: the Core profile's inbound calls plus firmware, diagnostics and security events."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, DataTransferStatus, RegistrationStatus

from ocpp_events.domain.authorization import Decision
from ocpp_events.domain.events import rfc3339
from ocpp_events.domain.id_tags import ChargeRef
from ocpp_events.infrastructure.ocpp.charge_point import GatewayChargePoint

PARENT_ID_TAG_MAX = 20  # 1.6 IdToken: a longer group id is left out rather than sent invalid


class ChargePoint16(GatewayChargePoint):
    _ocpp_version = "1.6"
    _call = call
    _call_result = call_result
    known_actions = frozenset(action.value for action in Action)

    def _id_tag_info(self, decision: Decision) -> dict[str, str]:
        info = {"status": decision.status.for_version("1.6")}
        if decision.group_id and len(decision.group_id) <= PARENT_ID_TAG_MAX:
            info["parent_id_tag"] = decision.group_id
        if decision.expires_at is not None:
            info["expiry_date"] = rfc3339(decision.expires_at)
        return info

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        accepted = self.registration_accepted()
        return call_result.BootNotification(
            current_time=self.now(), interval=self.boot_interval(),
            status=RegistrationStatus.accepted if accepted else RegistrationStatus.pending)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self.now())

    @on(Action.status_notification)
    def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        _, decision = self.authorize_token(id_tag)
        return call_result.Authorize(id_tag_info=self._id_tag_info(decision))

    @on(Action.start_transaction)
    async def on_start_transaction(self, id_tag: str, connector_id: int,
                                   **_: Any) -> call_result.StartTransaction:
        """The id is answered no earlier than its own second (see domain.transaction_ids).
        An accepted start counts against the tag's concurrent-charge limit at once, before any
        await, so simultaneous starts on this gateway cannot both pass (see the race test)."""
        transaction_id = self.services.transaction_ids.next_id(self.session.station_id)
        # a 1.6 connector is its own EVSE (connector ids number the outlets from 1)
        request, decision = self.authorize_token(id_tag, evse_id=connector_id)
        if decision.accepted and decision.known:  # unknown tags have no limit to count for
            self.charge_started(
                request, ChargeRef(self.session.station_id, str(transaction_id.value)))
        await self.services.clock.sleep_until(transaction_id.usable_from)
        return call_result.StartTransaction(
            transaction_id=transaction_id.value, id_tag_info=self._id_tag_info(decision))

    @on(Action.stop_transaction)
    def on_stop_transaction(self, transaction_id: int, id_tag: str | None = None,
                            **_: Any) -> call_result.StopTransaction:
        """The stop frees the charge's place first; idTagInfo answers the stopping tag."""
        self.charge_stopped(str(transaction_id), id_tag)
        info = self._id_tag_info(self.authorize_token(id_tag)[1]) if id_tag else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        known = vendor_id in self.services.data_transfer_vendors
        status = DataTransferStatus.accepted if known else DataTransferStatus.unknown_vendor_id
        return call_result.DataTransfer(status=status)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, **_: Any,
    ) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(
        self, **_: Any,
    ) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(
        self, **_: Any,
    ) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()
