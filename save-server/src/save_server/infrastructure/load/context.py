"""The load-management context as the API process runs it: the use cases, the allocation
task in the API's event loop, its consumer's handler, and the profile sender over the
existing command path."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from save_server.domain.load.documents import (
    load_from_document,
    model_from_document,
    turns_from_document,
)
from save_server.domain.load.live import ChargeChanged, Observation, StationSeen
from save_server.domain.load.ports import LoadStore, ProfileSender
from save_server.domain.ports import ChargeFilter, ChargeReader, StationReader
from save_server.domain.rules import ChargeStatus
from save_server.domain.station_commands import CommandBusUnavailable
from save_server.infrastructure.commands.params import PARAMETERS
from save_server.infrastructure.load import observations
from save_server.infrastructure.messaging.attempts import RetryLater
from save_server.service.load_allocation import LoadAllocation
from save_server.service.load_management import (
    ALLOCATION,
    MEASURED,
    MODEL_SET,
    LoadManagement,
)
from save_server.service.station_commands import StationCommands
from save_server.service.stations import StationNotFound

log = structlog.get_logger("save_server.load")
# What the load queue is bound to: the charger events that move allocations, and the
# context's own changes (applied back in a replay; live, they are duplicates). Of an allocation
# only its rotation turns are kept (limits are recomputed); here, not in save-server's worker,
# so that load management stays off the worker's hot path.
BINDINGS = (*observations.TYPES, MODEL_SET, MEASURED, ALLOCATION)


class CommandProfileSender(ProfileSender):
    """SetChargingProfile through `StationCommands` (validated by the command catalogue,
    recorded in the command history like an operator's). The station is not looked up in
    save-server's tables: the model admits only stations registered at the site, and the load
    context sends on the station's connection event, which save-server's worker (another
    queue) may not have applied yet — a first connection would then count as a refusal. The
    gateway answers `not_connected` where it holds no connection."""

    def __init__(self, commands: StationCommands, requested_by: str = "load-management"
                 ) -> None:
        self._commands, self._by = commands, requested_by

    async def send(self, station_id: str, parameters: dict[str, Any]) -> str:
        checked = PARAMETERS["set-charging-profile"].model_validate(parameters).to_message()
        try:
            record = await self._commands.send(station_id, "set-charging-profile", checked,
                                               self._by, known=True)
        except (StationNotFound, CommandBusUnavailable):
            return "not_connected"
        return str(record.outcome.value)


@dataclass
class LoadContext:
    management: LoadManagement
    allocation: LoadAllocation
    store: LoadStore
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Start the allocation task in the running loop (once)."""
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self.allocation.run(self._stop),
                                             name="load-allocation")

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self.allocation.release_lease)

    def handle(self, body: bytes) -> None:
        """One message of the load queue; unreadable ones change nothing here. A process
        that lost the lease refuses it (not acknowledged: back to the queue, however often:
        the lease's holder takes it)."""
        if not self.allocation.leading.is_set():
            raise RetryLater("this process does not manage load (no lease)")
        try:
            event = json.loads(body)
            kind = event["type"]
        except (ValueError, KeyError, TypeError):
            return
        try:
            if kind == MODEL_SET:
                model = model_from_document(event["payload"])
                if self.store.apply_model(str(event["event_id"]), model, _at(event)):
                    self.allocation.site_changed(model.site_id)
            elif kind == MEASURED:  # also one another API replica recorded (applied there)
                site = str(event["payload"]["site_id"])
                load = load_from_document(event["payload"])
                self.store.apply_load(str(event["event_id"]), site, load)
                self.allocation.building_measured(site, load)
                return
            elif kind == ALLOCATION:
                if self.allocation.wrote(str(event["event_id"])):
                    return  # this process committed it with its turns
                payload = event["payload"]
                if payload.get("turns") is not None:  # none before migration 0013
                    self.store.apply_turns(str(event["event_id"]), str(payload["site_id"]),
                                           turns_from_document(payload["turns"]),
                                           _time(payload["computed_at"]))
                return
        except (KeyError, TypeError, ValueError) as error:
            log.warning("load event ignored", type=kind, error=str(error))
            return
        for seen in observations.observations(event):
            self.allocation.observe(seen)


def projection_seed(store: LoadStore, stations: StationReader, charges: ChargeReader,
                    only: frozenset[str] | None = None) -> list[Observation]:
    """The managed stations' connection and running charges as save-server's tables have
    them (`only` these, when given): the load context's state after a restart of the API
    process, and of stations a model change makes managed."""
    seen: list[Observation] = []
    managed = {c.station_id for m in store.models() for c in m.connectors}
    for station_id in sorted(managed if only is None else managed & only):
        document = stations.document(station_id)
        if document is None:
            continue
        online = json.loads(document).get("status") == "connected"
        seen.append(StationSeen(station_id, online, booted=online))
        running = charges.stream(ChargeFilter(charging_station_id=station_id,
                                              status=ChargeStatus.CHARGING))
        seen += [ChargeChanged(station_id, c.connector_id, True, c.transaction_id, c.id_tag)
                 for c in running if c.connector_id is not None]
    return seen


def _at(event: dict[str, Any]) -> datetime:
    return _time(event["received_at"])


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
