"""Ports of the gateway's domain: what it needs from the outside world, as small ABCs."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from ocpp_events.domain.command_events import CommandReply, CommandRequest
from ocpp_events.domain.events import Event
from ocpp_events.domain.id_tags import ActiveCharges, ChargeRef, IdTag
from ocpp_events.domain.station_registry import RegisteredStation


class PublishFailed(Exception):
    """The broker did not confirm the event (down, refused, unroutable or timed out)."""


class Notifier(abc.ABC):
    """Publishes events to the broker (the thesis's `Notifier`).

    `publish` returns only once the broker has confirmed the event and raises `PublishFailed`
    otherwise: the gateway answers a station only after this returned.
    """

    @abc.abstractmethod
    async def publish(self, event: Event) -> None: ...

    async def start(self) -> None:
        """Connect (may keep retrying in the background)."""
        return None

    async def close(self) -> None:
        """Release connections; pending publishes are finished or failed first."""
        return None

    @abc.abstractmethod
    def is_ready(self) -> bool:
        """True while events can be published (the broker is reachable)."""


CommandHandler = Callable[[CommandRequest], Awaitable[CommandReply | None]]


class CommandInbox(abc.ABC):
    """Receives the remote commands routed to this gateway instance (docs/commands.md).

    Commands are routed by station id: the inbox keeps one binding per station connected
    here (`station_connected` / `station_disconnected`, applied in call order). Each command
    is handed to the handler; its reply goes back to the requester, and a None reply (the
    station is not here any more) is dropped.
    """

    @abc.abstractmethod
    async def start(self, handle: CommandHandler) -> None: ...

    @abc.abstractmethod
    def station_connected(self, station_id: str) -> None: ...

    @abc.abstractmethod
    def station_disconnected(self, station_id: str) -> None: ...

    async def close(self) -> None:
        """Stop receiving; no more replies are sent."""
        return None

    def is_ready(self) -> bool:
        """True while commands can be received (part of the gateway's /ready)."""
        return True


RegistryListener = Callable[[list[str]], None]


class StationRegistry(abc.ABC):
    """The gateway's local copy of the station registry, read at every handshake.

    `get` is a memory lookup (no I/O: the handshake never waits for another service). The copy
    is fed by `station-registry.*` events (docs/events.md) and survives restarts where the
    adapter keeps a file; listeners hear the ids of the stations each change touched, on the
    event loop, after the change is visible through `get`.
    """

    @abc.abstractmethod
    def get(self, station_id: str) -> RegisteredStation | None: ...

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def on_change(self, listener: RegistryListener) -> None: ...

    async def start(self) -> None:
        """Load what is known and start receiving changes (may keep retrying)."""
        return None

    async def close(self) -> None:
        return None

    def is_ready(self) -> bool:
        """True while changes are being received."""
        return True


class Clock:
    """Current time, timezone-aware UTC; tests inject their own."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


IdTagListener = Callable[[list[str]], None]


class IdTagDirectory(abc.ABC):
    """The gateway's local copy of the id tag registry, read at every Authorize / start.

    Memory lookups only (no call to save-server per message); fed by `id-tag-registry.*`
    events and kept on disk by the broker-fed adapter. Listeners hear the casefolded id tags
    each change touched, after the change is visible.
    """

    @abc.abstractmethod
    def get(self, id_tag: str) -> IdTag | None: ...

    @abc.abstractmethod
    def active_charges(self, id_tag: str) -> ActiveCharges | None:
        """save-server's view of the tag's running charges (None: none known)."""

    @abc.abstractmethod
    def owner(self, charge: ChargeRef) -> str | None:
        """The casefolded id tag save-server lists `charge` under, if any."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def on_change(self, listener: IdTagListener) -> None: ...
