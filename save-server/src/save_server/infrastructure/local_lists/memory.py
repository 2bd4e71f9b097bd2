"""In-memory adapters of the local-list ports: the store (tests) and an authorization list
source (tests, the benchmark, and until the tag registry's adapter is wired)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

from save_server.domain.local_lists import (
    AuthorizationEntry,
    AuthorizationListSource,
    LocalListSend,
    LocalListState,
    LocalListStore,
    Support,
)


@dataclass
class MemoryLocalListStore(LocalListStore):
    """In-memory adapter (unit tests, contract suite)."""

    known: set[str] = field(default_factory=set)
    connected: dict[str, datetime] = field(default_factory=dict)  # station → connected at
    connections: dict[str, str] = field(default_factory=dict)  # station → its connection
    states: dict[str, LocalListState] = field(default_factory=dict)
    history: list[LocalListSend] = field(default_factory=list)

    def station_known(self, station_id: str) -> bool:
        return station_id in self.known or station_id in self.states

    def get(self, station_id: str) -> LocalListState | None:
        state = self.states.get(station_id)
        return None if state is None else replace(
            state, held=None if state.held is None else dict(state.held))

    def save(self, state: LocalListState, with_held: bool = True) -> None:
        stored = self.states.get(state.station_id)
        held = state.held if with_held or stored is None else stored.held
        self.states[state.station_id] = replace(
            state, held=None if held is None else dict(held))

    def record(self, send: LocalListSend) -> None:
        self.history.append(send)

    def sends(self, station_id: str, limit: int) -> list[LocalListSend]:
        return [s for s in reversed(self.history) if s.station_id == station_id][:limit]

    def unchecked_connected(self, before: datetime) -> list[tuple[str, str | None]]:
        return sorted((s, self.connections.get(s)) for s, at in self.connected.items()
                      if s not in self.states and at < before)

    def stations_holding(self, keys: Collection[str]) -> list[str]:
        return sorted(s for s, state in self.states.items()
                      if state.support is Support.SUPPORTED
                      and (state.held is None or any(k in state.held for k in keys)))

    def stations(self, support: Support | None) -> list[str]:
        return sorted(s for s, state in self.states.items()
                      if support is None or state.support is support)


@dataclass
class MemoryAuthorizationListSource(AuthorizationListSource):
    """Tags with the stations they are allowed at (None: every station)."""

    tags: dict[str, tuple[AuthorizationEntry, frozenset[str] | None]] = field(
        default_factory=dict)
    _revision: int = 0

    def put(self, entry: AuthorizationEntry, stations: frozenset[str] | None = None) -> None:
        self.tags[entry.id_tag.casefold()] = (entry, stations)
        self._revision += 1

    def remove(self, id_tag: str) -> None:
        self.tags.pop(id_tag.casefold(), None)
        self._revision += 1

    def revision(self) -> int:
        return self._revision

    def entries_for(self, station_id: str) -> list[AuthorizationEntry]:
        return [entry for entry, stations in self.tags.values()
                if stations is None or station_id in stations]

    def stations_for(self, id_tag: str) -> frozenset[str] | None:
        found = self.tags.get(id_tag.casefold())
        return frozenset() if found is None else found[1]
