"""A simulated 1.6 or 2.0.1 station presenting id tags: the calls the id tag end-to-end tests
make (authorize, start, meter values, stop) on raw OCPP payloads of either version, and the
remote stops it receives from the CSMS."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.charger import now_iso
from tests.e2e.command_charger import CommandCharger

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
REMOTE_STOP = {"1.6": "RemoteStopTransaction", "2.0.1": "RequestStopTransaction"}


class TagStation(CommandCharger):
    def __init__(self, url: str, version: str) -> None:
        super().__init__(url, SUBPROTOCOLS[version])
        self.version = version
        self.transaction_id: int | str | None = None
        self.evse = 1
        self._seq = 0

    @property
    def v16(self) -> bool:
        return self.version == "1.6"

    async def authorize(self, id_tag: str) -> str:
        if self.v16:
            answer = await self.call("Authorize", {"idTag": id_tag})
            return answer["idTagInfo"]["status"]  # type: ignore[no-any-return]
        answer = await self.call("Authorize", {"idToken": _token(id_tag)})
        return answer["idTokenInfo"]["status"]  # type: ignore[no-any-return]

    async def start(self, id_tag: str, meter_wh: int = 0, evse: int = 1) -> str:
        """Starts charging on connector/EVSE `evse` whatever the answer (as a station that
        started offline would); returns the id tag status the CSMS answered."""
        self.evse = evse
        if self.v16:
            answer = await self.call("StartTransaction", {
                "connectorId": evse, "idTag": id_tag, "meterStart": meter_wh,
                "timestamp": now_iso()})
            self.transaction_id = answer["transactionId"]
            return answer["idTagInfo"]["status"]  # type: ignore[no-any-return]
        self.transaction_id = f"TX-{uuid.uuid4().hex[:8]}"
        answer = await self._event("Started", "Authorized", meter_wh, "Transaction.Begin",
                                   idToken=_token(id_tag))
        return answer["idTokenInfo"]["status"]  # type: ignore[no-any-return]

    async def meter(self, wh: int) -> None:
        if self.v16:
            await self.call("MeterValues", {
                "connectorId": self.evse, "transactionId": self.transaction_id,
                "meterValue": [{"timestamp": now_iso(), "sampledValue": [
                    {"value": str(wh), "measurand": "Energy.Active.Import.Register",
                     "unit": "Wh"}]}]})
        else:
            await self._event("Updated", "MeterValuePeriodic", wh, "Sample.Periodic")

    async def stop(self, wh: int, reason: str = "Local") -> None:
        if self.v16:
            await self.call("StopTransaction", {
                "transactionId": self.transaction_id, "meterStop": wh,
                "timestamp": now_iso(), "reason": reason})
        else:
            await self._event("Ended", "StopAuthorized", wh, "Transaction.End",
                              stopped_reason=reason)

    def remote_stops(self) -> list[Any]:
        """The transaction ids of the remote stops received."""
        return [payload["transactionId"] for action, payload in self.received
                if action == REMOTE_STOP[self.version]]

    async def _event(self, event_type: str, trigger: str, wh: int, context: str,
                     stopped_reason: str | None = None, **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"transactionId": self.transaction_id}
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        payload = {"eventType": event_type, "timestamp": now_iso(), "triggerReason": trigger,
                   "seqNo": self._seq, "transactionInfo": info,
                   "evse": {"id": self.evse, "connectorId": 1},
                   "meterValue": [{"timestamp": now_iso(), "sampledValue": [
                       {"value": wh, "measurand": "Energy.Active.Import.Register",
                        "context": context, "unitOfMeasure": {"unit": "Wh"}}]}], **extra}
        self._seq += 1
        return await self.call("TransactionEvent", payload)


def _token(id_tag: str) -> dict[str, str]:
    return {"idToken": id_tag, "type": "ISO14443"}
