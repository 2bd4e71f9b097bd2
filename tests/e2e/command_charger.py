"""A charger simulator that also answers the CSMS's calls (remote commands), on `websockets`.

Independent of the gateway's code: raw OCPP-J frames. A background task reads every frame:
answers to the charger's own calls resolve their futures; calls from the CSMS are recorded and
answered by `respond(action, payload)`, which returns a CallResult payload, a `CallErrorReply`,
or None to stay silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websockets

from tests.e2e.charger import CALL, CALL_ERROR, CALL_RESULT, CallFailed, now_iso
from tests.e2e.platform import TIME_FACTOR


@dataclass(frozen=True)
class CallErrorReply:
    code: str
    description: str


Responder = Callable[[str, dict[str, Any]], "dict[str, Any] | CallErrorReply | None"]


SYNC_ACTIONS = frozenset({"GetLocalListVersion", "SendLocalList"})


def accept_all(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


class CommandCharger:
    def __init__(self, url: str, subprotocol: str = "ocpp1.6",
                 respond: Responder = accept_all) -> None:
        self.url = url
        self.subprotocol = subprotocol
        self.respond = respond
        self.received: list[tuple[str, dict[str, Any]]] = []  # (action, payload) from the CSMS
        # what save-server's local-list sync sends on its own at every connection and boot
        # (docs/architecture.md, "Local authorization lists"), kept apart so that tests of
        # other commands see only theirs
        self.sync_calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[list]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.ws: Any = None

    async def __aenter__(self) -> CommandCharger:
        self.ws = await websockets.connect(self.url, subprotocols=[self.subprotocol],
                                           open_timeout=10 * TIME_FACTOR)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == CALL:
                    await self._answer(frame)
                elif frame[1] in self._waiting:
                    self._waiting.pop(frame[1]).set_result(frame)

    async def _answer(self, frame: list) -> None:
        _, message_id, action, payload = frame
        (self.sync_calls if action in SYNC_ACTIONS else self.received).append((action, payload))
        reply = self.respond(action, payload)
        if reply is None:
            return
        if isinstance(reply, CallErrorReply):
            await self.ws.send(json.dumps([CALL_ERROR, message_id, reply.code,
                                           reply.description, {}]))
        else:
            await self.ws.send(json.dumps([CALL_RESULT, message_id, reply]))

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        message_id = f"cc-{next(self._ids)}"
        future: asyncio.Future[list] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await self.ws.send(json.dumps([CALL, message_id, action, payload]))
        frame = await asyncio.wait_for(future, timeout=15 * TIME_FACTOR)
        if frame[0] == CALL_ERROR:
            raise CallFailed(frame)
        return frame[2]

    async def boot(self) -> None:
        if self.subprotocol == "ocpp1.6":
            await self.call("BootNotification", {"chargePointVendor": "ACME",
                                                 "chargePointModel": "Remote-1"})
        else:
            await self.call("BootNotification", {
                "chargingStation": {"vendorName": "ACME", "model": "Remote-2"},
                "reason": "PowerUp"})
        await self.call("StatusNotification", self.status_payload(1, "Available"))

    def status_payload(self, connector_id: int, status: str) -> dict[str, Any]:
        if self.subprotocol == "ocpp1.6":
            return {"connectorId": connector_id, "status": status, "errorCode": "NoError",
                    "timestamp": now_iso()}
        return {"timestamp": now_iso(), "connectorStatus": status, "evseId": connector_id,
                "connectorId": 1}
