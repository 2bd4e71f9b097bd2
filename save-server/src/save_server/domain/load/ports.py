"""Ports of the load-management context."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.model import ConnectorKey, ElectricalModel
from save_server.domain.load.rotation import Turn


@dataclass(frozen=True)
class AllocationRound:
    """What one recomputation of a site keeps: the load manager's view of the site (for every
    API replica) and, when the allocation changed, its rotation turns with the allocation
    event that carries them."""

    site_id: str
    power: dict[str, Any]
    at: datetime
    turns: Mapping[ConnectorKey, Turn] | None = None
    event: BusinessEvent | None = None


class LoadStore(ABC):
    """Sites' electrical models and building loads. Every write commits with its event in
    the outbox; `apply_*` take back a change from its event (a replay), once per event id."""

    @abstractmethod
    def save_model(self, model: ElectricalModel, event: BusinessEvent) -> None:
        """Raises InvalidElectricalModel (`unknown_group`), keeping nothing, when an id tag
        group its `group_priorities` name does not exist as it commits: the check and the
        write are one transaction, so a group deleted concurrently is either gone before
        (this refused) or deleted after and then refused itself (IdTagStore.delete_group)."""

    @abstractmethod
    def model(self, site_id: str) -> ElectricalModel | None: ...

    @abstractmethod
    def models(self) -> list[ElectricalModel]: ...

    @abstractmethod
    def record_load(self, site_id: str, load: BuildingLoad, event: BusinessEvent) -> None:
        """Keep it as the site's latest unless a later measurement is already kept."""

    @abstractmethod
    def load(self, site_id: str) -> BuildingLoad | None: ...

    @abstractmethod
    def apply_model(self, event_id: str, model: ElectricalModel, at: datetime) -> bool:
        """Take the model back unless this event was applied or a later model is kept."""

    @abstractmethod
    def apply_load(self, event_id: str, site_id: str, load: BuildingLoad) -> bool: ...

    @abstractmethod
    def power(self, site_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def record_rounds(self, rounds: Sequence[AllocationRound]) -> None:
        """Many sites' rounds in one commit (hundreds of recomputations a second): each
        site's last view (the load manager's, for every API replica), every allocation event,
        each site's turns with it unless later ones are kept (a restart or another replica
        goes on with the same turns). All or nothing."""

    @abstractmethod
    def turns(self, site_id: str) -> dict[ConnectorKey, Turn]: ...

    @abstractmethod
    def apply_turns(self, event_id: str, site_id: str, turns: Mapping[ConnectorKey, Turn],
                    at: datetime) -> bool:
        """Take the turns back unless this event was applied or later turns are kept."""

    @abstractmethod
    def publish(self, event: BusinessEvent) -> None:
        """An event that changes no table here (an allocation), through the outbox."""


class ProfileSender(ABC):
    """Sends a SetChargingProfile through the command path; answers the outcome:
    accepted, rejected, call_error, timeout, unsupported, not_connected."""

    @abstractmethod
    async def send(self, station_id: str, parameters: dict[str, Any]) -> str: ...


class Lease(ABC):
    """Only one process of the platform manages load (API replicas would otherwise each see
    part of the events and send conflicting profiles): the one holding this lease."""

    @abstractmethod
    def try_acquire(self) -> bool:
        """True when this process holds the lease now (acquired now or before)."""

    @abstractmethod
    def held(self) -> bool:
        """Still held (the lock's connection is alive)."""

    @abstractmethod
    def release(self) -> None: ...
