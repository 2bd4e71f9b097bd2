"""LocalListSync through a fake command bus that behaves like a station's local list: full on
first contact, differential after a tag change, full again after Failed / VersionMismatch,
NotSupported remembered, the size limit and the per-message limit respected, ClearCache."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from save_server.domain.local_lists import AuthorizationEntry, Support
from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandOutcome,
    CommandRequest,
)
from save_server.infrastructure.local_lists.memory import (
    MemoryAuthorizationListSource,
    MemoryLocalListStore,
)
from save_server.service.local_lists import LocalListSync

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@dataclass
class SimulatedList:
    """One station's local list, driven by version-neutral commands."""

    version: str = "1.6"
    list_version: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    supported: bool = True
    connected: bool = True
    answers: list[str] = field(default_factory=list)  # forced SendLocalList statuses
    config: dict[str, str] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def handle(self, command: str, p: dict[str, Any]) -> CommandAnswer:
        self.received.append((command, p))
        if command == "get-local-list-version":
            if not self.supported:
                return (self._ok({"listVersion": -1}) if self.version == "1.6" else
                        CommandAnswer(CommandOutcome.CALL_ERROR, error_code="NotImplemented",
                                      ocpp_version=self.version))
            key = "listVersion" if self.version == "1.6" else "versionNumber"
            return self._ok({key: self.list_version})
        if command == "send-local-list":
            return self._ok({"status": self._apply(p)})
        if command == "get-configuration":
            return self._ok({"configurationKey": [{"key": k, "readonly": True, "value": v}
                                                  for k, v in self.config.items()]})
        if command == "get-variables":
            return self._ok({"getVariableResult": [
                {"attributeStatus": "Accepted" if v["variable"] in self.config else "Rejected",
                 "attributeValue": self.config.get(v["variable"]),
                 "component": {"name": v["component"]}, "variable": {"name": v["variable"]}}
                for v in p["variables"]]})
        return self._ok({"status": "Accepted"})

    def _ok(self, payload: dict[str, Any]) -> CommandAnswer:
        outcome = (CommandOutcome.REJECTED if payload.get("status") not in (None, "Accepted")
                   else CommandOutcome.ACCEPTED)
        return CommandAnswer(outcome, payload, ocpp_version=self.version)

    def _apply(self, p: dict[str, Any]) -> str:
        if self.answers:
            return self.answers.pop(0)
        if not self.supported:
            return "NotSupported"
        if p["update_type"] == "differential" and p["list_version"] <= self.list_version:
            return "VersionMismatch"
        if p["update_type"] == "full":
            self.entries = {}
        for entry in p["entries"]:
            if entry.get("status") is None:
                self.entries.pop(entry["id_tag"].casefold(), None)
            else:
                self.entries[entry["id_tag"].casefold()] = entry
        self.list_version = p["list_version"]
        return "Accepted"

    def statuses(self) -> dict[str, str]:
        return {e["id_tag"]: e["status"] for e in self.entries.values()}


class FakeBus(CommandBus):
    def __init__(self) -> None:
        self.stations: dict[str, SimulatedList] = {}

    async def send(self, request: CommandRequest) -> CommandAnswer:
        station = self.stations.get(request.station_id)
        if station is None or not station.connected:
            return CommandAnswer(CommandOutcome.NOT_CONNECTED)
        return station.handle(request.command, request.parameters)


def setup(*stations: tuple[str, SimulatedList]) -> tuple[LocalListSync, FakeBus,
                                                          MemoryAuthorizationListSource,
                                                          MemoryLocalListStore]:
    bus, source, store = FakeBus(), MemoryAuthorizationListSource(), MemoryLocalListStore()
    bus.stations.update(stations)
    return LocalListSync(source, store, bus, clock=lambda: NOW), bus, source, store


def sent(station: SimulatedList) -> list[tuple[int, str, int]]:
    return [(p["list_version"], p["update_type"], len(p["entries"]))
            for command, p in station.received if command == "send-local-list"]


async def test_first_connection_gets_a_full_list_then_a_tag_change_a_differential_one() -> None:
    cp = SimulatedList()
    sync, _, source, store = setup(("CP-1", cp))
    source.put(AuthorizationEntry("ALICE"))
    source.put(AuthorizationEntry("BOB"))
    source.put(AuthorizationEntry("ELSEWHERE"), frozenset({"CP-2"}))
    await sync.station_connected("CP-1")
    assert cp.received[0] == ("get-local-list-version", {})
    assert sent(cp) == [(1, "full", 2)]
    assert cp.statuses() == {"ALICE": "Accepted", "BOB": "Accepted"}

    source.put(AuthorizationEntry("BOB", blocked=True))
    source.remove("ALICE")
    await sync.tags_changed()
    assert sent(cp)[1:] == [(2, "differential", 2)]
    assert cp.statuses() == {"BOB": "Blocked"}
    state = store.get("CP-1")
    assert state is not None
    assert (state.support, state.acknowledged_version, len(state.held or {})) == (
        Support.SUPPORTED, 2, 1)
    assert [s.version for s in store.sends("CP-1", 10)] == [2, 1]

    await sync.tags_changed()  # nothing changed since: nothing sent
    await sync.station_connected("CP-1")  # reconnect, same version: nothing sent
    assert len(sent(cp)) == 2


async def test_a_version_mismatch_on_connect_means_a_full_list_with_a_higher_version() -> None:
    cp = SimulatedList(list_version=40, entries={"old": {"id_tag": "OLD", "status": "Accepted"}})
    sync, _, source, _ = setup(("CP-1", cp))
    source.put(AuthorizationEntry("ALICE"))
    await sync.station_connected("CP-1")
    assert sent(cp) == [(41, "full", 1)]
    assert cp.statuses() == {"ALICE": "Accepted"}


async def test_failed_or_version_mismatch_answers_get_a_full_update_at_once() -> None:
    for answer in ("Failed", "VersionMismatch"):
        cp = SimulatedList()
        sync, _, source, store = setup(("CP-1", cp))
        source.put(AuthorizationEntry("ALICE"))
        await sync.station_connected("CP-1")
        cp.answers = [answer]
        source.put(AuthorizationEntry("BOB"))
        await sync.tags_changed()
        assert sent(cp) == [(1, "full", 1), (2, "differential", 1), (3, "full", 2)], answer
        assert [s.status for s in store.sends("CP-1", 10)] == ["Accepted", answer, "Accepted"]
        assert cp.statuses() == {"ALICE": "Accepted", "BOB": "Accepted"}


async def test_not_supported_is_remembered_and_never_asked_again_until_new_firmware() -> None:
    for version in ("1.6", "2.0.1"):
        cp = SimulatedList(version=version, supported=False)
        sync, _, source, store = setup(("CP-1", cp))
        source.put(AuthorizationEntry("ALICE"))
        await sync.station_connected("CP-1", booted=True, firmware_version="1.0")
        assert store.get("CP-1").support is Support.NOT_SUPPORTED  # type: ignore[union-attr]
        asked = len(cp.received)
        await sync.station_connected("CP-1")
        await sync.station_connected("CP-1", booted=True, firmware_version="1.0")
        await sync.tags_changed()
        assert len(cp.received) == asked == 1, version
        cp.supported = True
        await sync.station_connected("CP-1", booted=True, firmware_version="2.0")
        assert sent(cp) == [(1, "full", 1)], version


async def test_a_send_answered_not_supported_is_remembered() -> None:
    cp = SimulatedList(answers=["NotSupported"])
    sync, _, source, store = setup(("CP-1", cp))
    source.put(AuthorizationEntry("ALICE"))
    await sync.station_connected("CP-1")
    assert store.get("CP-1").support is Support.NOT_SUPPORTED  # type: ignore[union-attr]
    source.put(AuthorizationEntry("BOB"))
    await sync.tags_changed()
    assert sent(cp) == [(1, "full", 1)]


async def test_limits_1_6_most_recently_used_first_and_split_per_message() -> None:
    cp = SimulatedList(config={"LocalAuthListEnabled": "true", "LocalAuthListMaxLength": "3",
                               "SendLocalListMaxLength": "2"})
    sync, _, source, store = setup(("CP-1", cp))
    for n in range(5):
        source.put(AuthorizationEntry(f"T{n}", last_used_at=NOW - timedelta(hours=n)))
    await sync.station_connected("CP-1")
    assert ("get-configuration", {"keys": ["LocalAuthListEnabled", "LocalAuthListMaxLength",
                                           "SendLocalListMaxLength"]}) in cp.received
    assert sent(cp) == [(1, "full", 2), (2, "differential", 1)]
    assert set(cp.statuses()) == {"T0", "T1", "T2"}
    state = store.get("CP-1")
    assert state is not None
    assert (state.enabled, state.max_list_size, state.max_per_message) == (True, 3, 2)


async def test_limits_2_0_1_from_the_local_auth_list_controller() -> None:
    cp = SimulatedList(version="2.0.1", config={"Enabled": "true", "Entries": "2",
                                                "ItemsPerMessage": "1"})
    sync, _, source, _ = setup(("CP-1", cp))
    for n in range(3):
        source.put(AuthorizationEntry(f"T{n}", last_used_at=NOW - timedelta(hours=n)))
    await sync.station_connected("CP-1")
    assert sent(cp) == [(1, "full", 1), (2, "differential", 1)]
    assert set(cp.statuses()) == {"T0", "T1"}


async def test_a_station_not_connected_during_a_change_catches_up_on_connect() -> None:
    cp = SimulatedList()
    sync, _, source, _ = setup(("CP-1", cp))
    source.put(AuthorizationEntry("ALICE"))
    await sync.station_connected("CP-1")
    cp.connected = False
    source.put(AuthorizationEntry("BOB"))
    await sync.tags_changed()
    cp.connected = True
    await sync.station_connected("CP-1")
    assert sent(cp) == [(1, "full", 1), (2, "differential", 1)]
    assert set(cp.statuses()) == {"ALICE", "BOB"}


async def test_a_blocked_tag_clears_the_cache_where_it_was_allowed_now_or_on_connect() -> None:
    here, there, away = SimulatedList(), SimulatedList(), SimulatedList(connected=False)
    sync, _, source, store = setup(("CP-1", here), ("CP-2", there), ("CP-3", away))
    source.put(AuthorizationEntry("LOST", blocked=True), frozenset({"CP-1", "CP-3"}))
    await sync.tag_blocked("LOST")
    assert ("clear-cache", {}) in here.received
    assert ("clear-cache", {}) not in there.received
    assert store.get("CP-3").clear_cache_pending  # type: ignore[union-attr]
    away.connected = True
    await sync.station_connected("CP-3")
    assert away.received[0] == ("clear-cache", {})
    assert not store.get("CP-3").clear_cache_pending  # type: ignore[union-attr]


async def test_an_unrestricted_tag_clears_the_cache_of_every_station_known() -> None:
    one, two = SimulatedList(), SimulatedList(version="2.0.1")
    sync, _, source, _ = setup(("CP-1", one), ("CP-2", two))
    await sync.station_connected("CP-1")
    await sync.station_connected("CP-2")
    source.put(AuthorizationEntry("LOST", blocked=True))
    await sync.tag_blocked("LOST")
    assert ("clear-cache", {}) in one.received and ("clear-cache", {}) in two.received


async def test_one_check_per_connection_unless_the_firmware_changed() -> None:
    cp = SimulatedList()
    sync, _, _, _ = setup(("CP-1", cp))

    def asked() -> int:
        return sum(command == "get-local-list-version" for command, _ in cp.received)

    await sync.station_connected("CP-1", True, "1.0", connection_id="c1")  # its boot first
    await sync.station_connected("CP-1", connection_id="c1", settle=0.01)  # then its connect
    assert asked() == 1
    await sync.station_connected("CP-1", True, "1.1", connection_id="c1")
    assert asked() == 2  # new firmware: again
    await sync.station_connected("CP-1", connection_id="c2")
    assert asked() == 3  # a new connection: always
    cp.connected = False
    await sync.station_connected("CP-1", connection_id="c3")  # not answered
    cp.connected = True
    await sync.station_connected("CP-1", True, "1.1", connection_id="c3")
    assert asked() == 4  # its boot is checked


async def test_a_tag_change_that_changes_nothing_at_a_station_does_not_rewrite_its_list() -> None:
    class Counting(MemoryLocalListStore):
        def __init__(self) -> None:
            super().__init__()
            self.saves: list[tuple[str, bool]] = []

        def save(self, state, with_held: bool = True) -> None:  # type: ignore[no-untyped-def]
            self.saves.append((state.station_id, with_held))
            super().save(state, with_held)

    here, there = SimulatedList(), SimulatedList()
    bus, source, store = FakeBus(), MemoryAuthorizationListSource(), Counting()
    bus.stations.update({"CP-1": here, "CP-2": there})
    sync = LocalListSync(source, store, bus, clock=lambda: NOW)
    await sync.station_connected("CP-1")
    await sync.station_connected("CP-2")
    store.saves.clear()
    source.put(AuthorizationEntry("ONLY-HERE"), frozenset({"CP-1"}))
    await sync.tags_changed()
    assert sorted(store.saves) == [("CP-1", True), ("CP-2", False)]
    assert store.get("CP-2").source_revision == source.revision()  # type: ignore[union-attr]


async def test_a_tag_change_reaches_only_the_stations_it_concerns() -> None:
    """Where the tag is allowed now and where it is held; a tag allowed everywhere: all."""
    class Counting(MemoryLocalListStore):
        def __init__(self) -> None:
            super().__init__()
            self.saved: list[str] = []

        def save(self, state, with_held: bool = True) -> None:  # type: ignore[no-untyped-def]
            self.saved.append(state.station_id)
            super().save(state, with_held)

    cps = {f"CP-{n}": SimulatedList() for n in (1, 2, 3)}
    bus, source, store = FakeBus(), MemoryAuthorizationListSource(), Counting()
    bus.stations.update(cps)
    sync = LocalListSync(source, store, bus, clock=lambda: NOW)
    for station_id in cps:
        await sync.station_connected(station_id)
    store.saved.clear()

    source.put(AuthorizationEntry("CARD"), frozenset({"CP-1"}))
    await sync.tags_changed(["card"])
    assert store.saved == ["CP-1"] and cps["CP-1"].statuses() == {"CARD": "Accepted"}

    store.saved.clear()
    source.put(AuthorizationEntry("CARD"), frozenset({"CP-2"}))  # moved: held at CP-1
    await sync.tags_changed(["CARD"])
    assert sorted(store.saved) == ["CP-1", "CP-2"]
    assert (cps["CP-1"].statuses(), cps["CP-2"].statuses()) == ({}, {"CARD": "Accepted"})
    assert sent(cps["CP-1"])[-1] == (3, "differential", 1)

    store.saved.clear()
    source.remove("CARD")
    await sync.tags_changed(["CARD"])
    assert store.saved == ["CP-2"] and cps["CP-2"].statuses() == {}

    store.saved.clear()
    source.put(AuthorizationEntry("EVERYONE"))
    await sync.tags_changed(["EVERYONE"])
    assert sorted(store.saved) == ["CP-1", "CP-2", "CP-3"]
    assert all(cp.statuses() == {"EVERYONE": "Accepted"} for cp in cps.values())
    assert sent(cps["CP-3"]) == [(1, "full", 0), (2, "differential", 1)]


async def test_a_station_connected_but_never_checked_gets_its_list_at_a_tag_change() -> None:
    """Connected before the sync was deployed (no state): checked whole at the next change."""
    cp = SimulatedList()
    sync, _, source, store = setup(("CP-1", cp))
    store.connected["CP-1"] = NOW - timedelta(seconds=3)
    store.connected["CP-2"] = NOW - timedelta(seconds=1)  # its connect check is coming
    source.put(AuthorizationEntry("ALICE"), frozenset({"CP-9"}))  # not even its tag
    await sync.tags_changed(["ALICE"])
    assert cp.received[0] == ("get-local-list-version", {}) and sent(cp) == [(1, "full", 0)]
    await sync.tags_changed(["ALICE"])  # checked now: not again
    assert [c for c, _ in cp.received].count("get-local-list-version") == 1


async def test_a_connection_checked_at_a_tag_change_is_not_checked_again_at_its_event(
        ) -> None:
    """The connect event of a station checked meanwhile by a tag run (its event waited in
    the queue behind a card import) asks nothing again; a newer connection is checked."""
    cp = SimulatedList()
    sync, _, source, store = setup(("CP-1", cp))
    store.connected["CP-1"] = NOW - timedelta(seconds=30)
    store.connections["CP-1"] = "conn-1"
    source.put(AuthorizationEntry("ALICE"), frozenset({"CP-9"}))
    await sync.tags_changed(["ALICE"])
    await sync.station_connected("CP-1", connection_id="conn-1")  # its queued connect event
    assert [c for c, _ in cp.received].count("get-local-list-version") == 1
    await sync.station_connected("CP-1", connection_id="conn-2")  # it reconnected
    assert [c for c, _ in cp.received].count("get-local-list-version") == 2


async def test_a_tag_run_leaves_a_station_whose_connect_check_is_under_way_to_that_check(
        ) -> None:
    cp = SimulatedList()
    sync, _, source, store = setup(("CP-1", cp))
    store.connected["CP-1"] = NOW - timedelta(seconds=30)  # no connection id known
    source.put(AuthorizationEntry("ALICE"), frozenset({"CP-9"}))
    check = asyncio.create_task(sync.station_connected("CP-1", connection_id="conn-1",
                                                       settle=0.05))
    await asyncio.sleep(0)  # the connect's check is waiting for its settle
    await sync.tags_changed(["ALICE"])
    await check
    assert [c for c, _ in cp.received].count("get-local-list-version") == 1
    assert sent(cp) == [(1, "full", 0)]


async def test_the_tags_of_a_run_that_failed_are_taken_by_the_next_run() -> None:
    """A run takes the changed tags and then reads the database: when that fails, the next
    run (at the next tag change) must still cover them, or their stations stay stale."""
    cp = SimulatedList()
    sync, _, source, _ = setup(("CP-1", cp))
    await sync.station_connected("CP-1")
    source.put(AuthorizationEntry("CARD"), frozenset({"CP-1"}))
    allowed_at = source.stations_for

    def database_away(key: str) -> frozenset[str] | None:
        raise ConnectionError("database away")

    source.stations_for = database_away  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await sync.tags_changed(["CARD"])
    source.stations_for = allowed_at  # type: ignore[method-assign]
    source.put(AuthorizationEntry("OTHER"), frozenset({"CP-9"}))
    await sync.tags_changed(["OTHER"])
    assert cp.statuses() == {"CARD": "Accepted"}
