"""Shared by both CommandBus adapters: the command message and the replies awaited by id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from save_server.domain.station_commands import CommandAnswer, CommandOutcome, CommandRequest

GATEWAY_OUTCOMES = {"accepted", "rejected", "call_error", "timeout", "unsupported"}


def request_body(request: CommandRequest) -> dict[str, Any]:
    return {"command_id": request.command_id, "charging_station_id": request.station_id,
            "command": request.command, "parameters": request.parameters,
            "timeout": request.timeout, "requested_by": request.requested_by}


def answer_from(body: bytes) -> CommandAnswer:
    """A gateway reply; a malformed one counts as a CallError-like failure of the gateway."""
    try:
        document = json.loads(body)
        outcome = document["outcome"]
        if outcome not in GATEWAY_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
    except (ValueError, KeyError, TypeError) as error:
        return CommandAnswer(CommandOutcome.CALL_ERROR, error_code="GatewayError",
                             error_description=f"unreadable gateway reply: {error!r}")
    payload = document.get("payload")
    return CommandAnswer(CommandOutcome(outcome), payload if isinstance(payload, dict) else None,
                         document.get("error_code"), document.get("error_description"),
                         document.get("ocpp_version"), document.get("action"))


class PendingReplies:
    """command id → the future its reply resolves (replies for unknown ids are dropped)."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[bytes]] = {}

    def expect(self, command_id: str) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._futures[command_id] = future
        return future

    def resolve(self, command_id: str, body: bytes) -> None:
        future = self._futures.get(command_id)
        if future is not None and not future.done():
            future.set_result(body)

    def forget(self, command_id: str) -> None:
        self._futures.pop(command_id, None)

    async def wait(self, future: asyncio.Future[bytes], timeout: float) -> CommandAnswer:
        with contextlib.suppress(TimeoutError):
            return answer_from(await asyncio.wait_for(future, timeout))
        return CommandAnswer(CommandOutcome.TIMEOUT,
                             error_description=f"no answer within {timeout:g} s")
