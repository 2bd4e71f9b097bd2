"""Use cases: send a remote command to a station, list the commands sent to it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from save_server.domain.ports import ChargeReader
from save_server.domain.station_commands import (
    CommandBus,
    CommandLog,
    CommandOutcome,
    CommandRecord,
    CommandRequest,
)
from save_server.service.stations import StationNotFound

log = structlog.get_logger("save_server.commands")
KNOWN_STATIONS_CACHED = 100_000
MAX_RECORDS_PER_WRITE = 500  # history rows in one transaction at most


class UnknownCharge(LookupError):
    """A remote-stop named a charge that does not exist at this station."""

    def __init__(self, charge_id: int, station_id: str) -> None:
        super().__init__(f"no charge {charge_id} at charging station {station_id!r}")


@dataclass
class StationCommands:
    charges: ChargeReader
    bus: CommandBus
    log: CommandLog
    default_timeout: float
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _known: set[str] = field(default_factory=set)  # stations are never forgotten: cache hits
    _unwritten: list[CommandRecord] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None

    async def send(self, station_id: str, command: str, parameters: dict[str, Any],
                   requested_by: str, timeout: float | None = None,
                   known: bool = False) -> CommandRecord:
        """Send and record; raises StationNotFound, UnknownCharge, CommandBusUnavailable.
        `known`: the caller knows the station exists (a context that acts on its events
        before save-server's worker may have recorded it): not looked up."""
        checked = time.perf_counter()
        if not known:
            await self._require_station(station_id)
        parameters = await self._resolve_charge(station_id, command, dict(parameters))
        effective = min(timeout, self.default_timeout) if timeout else self.default_timeout
        request = CommandRequest(str(uuid.uuid4()), station_id, command, parameters,
                                 effective, requested_by)
        requested_at = self.clock()
        started = time.perf_counter()
        answer = await self.bus.send(request)
        latency_ms = (time.perf_counter() - started) * 1000
        record = CommandRecord(
            request.command_id, station_id, command, parameters, requested_by, requested_at,
            answer.outcome, self.clock(), answer.payload, answer.error_code,
            answer.error_description, round(latency_ms, 3), answer.ocpp_version, answer.action)
        log.info("command sent", command=command, command_id=request.command_id,
                 charging_station_id=station_id, outcome=answer.outcome.value,
                 check_ms=round((started - checked) * 1000, 2), bus_ms=round(latency_ms, 2))
        self._unwritten.append(record)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return record

    async def _write(self) -> None:
        """The history rows are written after the answers went out (off the operator's wait),
        by one task: what was answered while it wrote goes in its next transaction (load
        management sends hundreds of profiles a second). `history` and `flush` wait for it."""
        while self._unwritten:
            batch = self._unwritten[:MAX_RECORDS_PER_WRITE]
            del self._unwritten[:len(batch)]
            try:
                await asyncio.to_thread(self.log.add_many, batch)
            except Exception:  # one bad row must not take the others with it
                for record in batch:
                    await self._store(record)

    async def _store(self, record: CommandRecord) -> None:
        """A failure is logged: the event-store also keeps every command that reached a
        gateway (`ocpp-commands.*` events)."""
        try:
            await asyncio.to_thread(self.log.add, record)
        except Exception:
            log.exception("command not recorded", command_id=record.command_id)

    async def flush(self) -> None:
        """Wait until every command answered so far is in the history."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _require_station(self, station_id: str) -> None:
        if station_id in self._known:
            return
        if not await asyncio.to_thread(self.log.station_known, station_id):
            raise StationNotFound(station_id)
        if len(self._known) < KNOWN_STATIONS_CACHED:
            self._known.add(station_id)

    async def history(self, station_id: str, limit: int = 100) -> list[CommandRecord]:
        await self.flush()  # read-your-writes within this API process
        if not await asyncio.to_thread(self.log.station_known, station_id):
            raise StationNotFound(station_id)
        return await asyncio.to_thread(self.log.list, station_id, limit)

    async def _resolve_charge(self, station_id: str, command: str,
                              parameters: dict[str, Any]) -> dict[str, Any]:
        """remote-stop by charge id: the charge's transaction id, looked up here."""
        charge_id = parameters.pop("charge_id", None) if command == "remote-stop" else None
        if charge_id is None:
            return parameters
        charge = await asyncio.to_thread(self.charges.get, int(charge_id))
        if charge is None or charge.station_id != station_id:
            raise UnknownCharge(int(charge_id), station_id)
        return {**parameters, "transaction_id": charge.transaction_id, "charge_id": charge_id}


__all__ = ["CommandOutcome", "StationCommands", "StationNotFound", "UnknownCharge"]
