"""A minimal OCPP-J charger simulator written straight on `websockets`.

Deliberately independent of the gateway's code: it builds and parses raw OCPP-J frames.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets

from tests.e2e.platform import TIME_FACTOR, api_headers

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class CallFailed(Exception):
    def __init__(self, frame: list) -> None:
        super().__init__(f"CallError {frame[2]}: {frame[3]}")
        self.code = frame[2]
        self.frame = frame


class Charger:
    def __init__(self, url: str, subprotocol: str = "ocpp1.6") -> None:
        self.url = url
        self.subprotocol = subprotocol
        self._ids = itertools.count(1)
        self.ws: Any = None
        self.sent_message_ids: list[str] = []

    async def __aenter__(self) -> Charger:
        self.ws = await websockets.connect(self.url, subprotocols=[self.subprotocol],
                                           open_timeout=10 * TIME_FACTOR)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def call(self, action: str, payload: dict) -> dict:
        message_id = f"{int(time.time() * 1000)}-{next(self._ids)}"
        self.sent_message_ids.append(message_id)
        await self.ws.send(json.dumps([CALL, message_id, action, payload]))
        frame = await self.receive_for(message_id)
        if frame[0] == CALL_ERROR:
            raise CallFailed(frame)
        return frame[2]

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def receive_for(self, message_id: str | None = None) -> list:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=15 * TIME_FACTOR)
            frame = json.loads(raw)
            if frame[0] == CALL:
                continue  # a call from the CSMS; these tests do not answer them
            if message_id is None or frame[1] == message_id:
                return frame


async def poll(fetch, check, timeout: float = 20) -> Any:
    """Call fetch() until check(result) is true; return the result or fail with the last one."""
    deadline = time.monotonic() + timeout * TIME_FACTOR
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await fetch()
            if check(last):
                return last
        except httpx.HTTPError as error:
            last = error
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not reached in {timeout}s; last value: {last!r}")


async def get_json(url: str, **params: Any) -> Any:
    async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
        response = await client.get(url, params=params)
        response.raise_for_status()
        return response.json()
