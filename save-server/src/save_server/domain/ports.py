"""Ports: the small abstract interfaces the service layer needs from the outside world."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from save_server.domain.business_events import BusinessEvent
from save_server.domain.commands import ProjectBusinessEvent
from save_server.domain.model import Charge, MeterSample, Station
from save_server.domain.rules import ChargeStatus, StationStatus


class StationRepository(ABC):
    """Stations loaded for change; everything loaded or added is saved on commit."""

    @abstractmethod
    def get(self, station_id: str) -> Station | None:
        """The station with the history its rules need, locked until the unit of work ends."""

    @abstractmethod
    def get_or_create(self, station_id: str, connection_ids: Collection[str] = ()) -> Station:
        """Like `get`, creating the station on first contact (no prior registration), with
        at least its current connection and the named ones loaded."""

    def get_or_create_many(self, wanted: Mapping[str, Collection[str]]) -> None:
        """`get_or_create` for several stations (station id → connection ids), locking them in
        station id order; adapters may do it in a few statements."""
        for station_id in sorted(wanted):
            self.get_or_create(station_id, wanted[station_id])


class ChargeRepository(ABC):
    @abstractmethod
    def get_or_create(self, station_id: str, transaction_id: str) -> Charge:
        """The charge of this transaction, locked; created empty when first heard of."""

    def get_or_create_many(self, keys: Collection[tuple[str, str]]) -> None:
        """`get_or_create` for several (station id, transaction id) pairs; new charges are
        created in the order given."""
        for station_id, transaction_id in dict.fromkeys(keys):
            self.get_or_create(station_id, transaction_id)

    @abstractmethod
    def add_meter_values(self, station_id: str, transaction_id: str,
                         samples: Sequence[MeterSample]) -> None:
        """Attach meter samples to a charge's energy curve (the charge may not exist yet)."""

    def tag_details(self, id_tag: str) -> tuple[str | None, str | None]:
        """(holder, group) of the registered id tag (case-insensitive), for a charge's start;
        (None, None) when unregistered or when the adapter knows no id tags."""
        return None, None


class ProcessedEvents(ABC):
    """Which events were already applied: recorded in the same transaction as their effect."""

    @abstractmethod
    def seen(self, event_id: str) -> bool: ...

    def seen_among(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among these that were already applied (adapters may do it in one query)."""
        return {event_id for event_id in event_ids if self.seen(event_id)}

    @abstractmethod
    def add(self, event_id: str, event_type: str) -> None: ...


class Projections(ABC):
    """The rows that API changes write, rebuilt from their business events (accounts, sites,
    registry, report subscriptions…), inside the unit of work's transaction."""

    @abstractmethod
    def apply(self, command: ProjectBusinessEvent) -> None: ...


class UnitOfWork(ABC):
    """One atomic change: commit applies all of it, leaving the block without commit none."""

    stations: StationRepository
    charges: ChargeRepository
    processed_events: ProcessedEvents
    projections: Projections

    def __enter__(self) -> UnitOfWork:
        return self

    def publish(self, event: BusinessEvent) -> None:
        """Commit `event` with this change (the outbox) and record it as applied, so its
        own delivery back to this service changes nothing."""
        self.pending_events().append(event)

    def pending_events(self) -> list[BusinessEvent]:
        if not hasattr(self, "_business_events"):
            self._business_events: list[BusinessEvent] = []
        return self._business_events

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.rollback()

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...


@dataclass(frozen=True)
class ChargeFilter:
    charging_station_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    status: ChargeStatus | None = None
    id_tag: str | None = None
    station_scope: frozenset[str] | None = None  # only these stations (a scoped caller)
    group: str | None = None  # the id tag group the charge's tag belonged to at its start


@dataclass(frozen=True)
class ChargeCursor:
    """Position after the last charge of a page (newest first: listed time, then id)."""

    sort_at: datetime
    charge_id: int


class StationReader(ABC):
    """Stations as the API shows them: each one's JSON document (`StationView`'s fields), kept
    ready by the writers so that listing thousands costs no per-station work."""

    @abstractmethod
    def list_documents(self, status: StationStatus | None = None) -> str:
        """A JSON array of the stations' documents, by station id."""

    @abstractmethod
    def document(self, station_id: str) -> str | None: ...


class ChargeReader(ABC):
    @abstractmethod
    def page(self, charge_filter: ChargeFilter, after: ChargeCursor | None,
             limit: int) -> list[Charge]: ...

    @abstractmethod
    def stream(self, charge_filter: ChargeFilter) -> Iterator[Charge]:
        """Every matching charge, newest first, without holding them all in memory."""

    @abstractmethod
    def get(self, charge_id: int) -> Charge | None: ...

    @abstractmethod
    def meter_values(self, station_id: str, transaction_id: str) -> list[MeterSample]: ...


@dataclass(frozen=True)
class Delivery:
    """One message taken from the event stream; `handle` is the adapter's own token."""

    body: bytes
    routing_key: str
    redelivered: bool
    handle: object


class EventStream(ABC):
    """The incoming events: at-least-once, each delivery acknowledged exactly once."""

    @abstractmethod
    def receive(self, timeout: float) -> Delivery | None: ...

    @abstractmethod
    def ack(self, delivery: Delivery) -> None: ...

    @abstractmethod
    def requeue(self, delivery: Delivery) -> None: ...

    @abstractmethod
    def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Move a message that can never be handled aside, with the reason, and ack it."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""


@dataclass(frozen=True)
class OutgoingEvent:
    """A committed business event on its way to the broker (an outbox row)."""

    routing_key: str
    body: bytes
    event_id: str
    charging_station_id: str | None = None


class EventPublisher(ABC):
    """Puts business events on the broker's events exchange; returns once the broker has
    taken the event (publisher confirm), raises otherwise."""

    @abstractmethod
    def publish(self, routing_key: str, body: bytes, event_id: str,
                charging_station_id: str | None = None) -> None:
        """`charging_station_id` goes in the header the consumers shard by (docs/events.md)."""

    @abstractmethod
    def publish_many(self, events: Sequence[OutgoingEvent]) -> None:
        """Each in order, as `publish`, but one wait for the broker for them all (the outbox
        relay's batches). Raises when the broker did not take every one: some may have been
        taken — they are sent again, and consumers are idempotent by event id."""

    @abstractmethod
    def close(self) -> None: ...
