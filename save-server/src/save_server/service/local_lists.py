"""Use case: keep every station's local authorization list in sync with the tag registry.

Triggers: a station connects or boots (`station_connected`: GetLocalListVersion, its limits,
then the update it needs), tags change (`tags_changed`: a differential update, at once, to the
connected stations that support lists and may be concerned: those the tags are allowed at now,
every one for a tag allowed everywhere, and those whose list holds them or is unknown — a
station not connected gets its update when it next connects), a tag is blocked
(`tag_blocked`: ClearCache where it was allowed).
One station is handled at a time (a lock per station); stations in parallel.
Commands go through the remote-command bus (`requested_by` = REQUESTED_BY). They are not
written to the operators' command history (a few per connection of every station would bury
it): each SendLocalList is in the local-list history, and the gateway publishes every command
as an `ocpp-commands.*` event that the event-store keeps.

A station answers one call at a time (OCPP-J), so an operator's command waits behind the
sync's: hence the short SYNC_TIMEOUT, and one check per connection: a connect is checked
CONNECT_SETTLE after it (its boot, usually within that, is checked at once and the connect's
check is then skipped; a connection that closes at once gets nothing), a boot on a connection
whose check was answered is not checked again unless its firmware changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from save_server.domain.local_lists import (
    AuthorizationListSource,
    ListMessage,
    LocalListSend,
    LocalListState,
    LocalListStore,
    Support,
    desired_list,
    plan,
)
from save_server.domain.station_commands import (
    CommandBus,
    CommandOutcome,
    CommandRecord,
    CommandRequest,
)
from save_server.service.coalescing import Coalescer
from save_server.service.keyed_locks import KeyedLocks
from save_server.service.local_list_limits import read_limits, send_parameters

log = structlog.get_logger("save_server.local_lists")
REQUESTED_BY = "local-list-sync"
SYNC_TIMEOUT = 10.0  # seconds a station may take to answer the sync (then: full next time)
CONNECT_SETTLE = 2.0  # seconds between a connect and its check
UNSUPPORTED_ERRORS = frozenset({"NotSupported", "NotImplemented"})
RETRY_WITH_FULL = frozenset({"Failed", "VersionMismatch"})


@dataclass
class LocalListSync:
    source: AuthorizationListSource
    store: LocalListStore
    bus: CommandBus
    timeout: float = SYNC_TIMEOUT
    concurrency: int = 32
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _locks: KeyedLocks = field(default_factory=KeyedLocks)
    _answered: dict[str, str | None] = field(default_factory=dict)  # station → connection
    _limit: asyncio.Semaphore | None = None
    _coalesced: Coalescer = field(default_factory=Coalescer)
    _changed: set[str] | None = field(default_factory=set)  # tags for the next run; None: all
    _checking: set[str] = field(default_factory=set)  # stations whose check is under way

    # --- triggers -----------------------------------------------------------------------------

    async def station_connected(self, station_id: str, booted: bool = False,
                                firmware_version: str | None = None,
                                connection_id: str | None = None, settle: float = 0.0) -> None:
        """`settle`: wait first (a connect: its boot usually follows within it, and a
        connection that closes at once — a probe — gets nothing)."""
        self._checking.add(station_id)
        try:
            await self._check(station_id, booted, firmware_version, connection_id, settle)
        finally:
            self._checking.discard(station_id)

    async def _check(self, station_id: str, booted: bool, firmware_version: str | None,
                     connection_id: str | None, settle: float) -> None:
        if settle:
            await asyncio.sleep(settle)
        async with self._lock(station_id):
            state = await self._state(station_id)
            firmware_before = state.firmware_version
            if booted:
                state.booted(firmware_version)
            if (connection_id is not None and self._answered.get(station_id) == connection_id
                    and state.firmware_version == firmware_before):
                return  # this connection's check was answered already (connect and boot)
            if state.support is not Support.NOT_SUPPORTED:
                await self._clear_cache_if_pending(state)
                if await self._ask_version(state, connection_id):
                    await read_limits(state, self._call)
                    await self._bring_up_to_date(state, "boot" if booted else "connect")
            await self._save(state)

    async def tags_changed(self, id_tags: Iterable[str] | None = None) -> None:
        """The stations these tags (None: any tag) may concern get what changed for them
        (nothing when nothing changed there). Many changes at once (a CSV import) share one
        run, which covers the tags of all of them."""
        if id_tags is None:
            self._changed = None
        elif self._changed is not None:
            self._changed.update(t.casefold() for t in id_tags)
        await self._coalesced.run("tags", self._reconcile_changed)

    async def _reconcile_changed(self) -> None:
        keys, self._changed = self._changed, set()
        try:
            stations = await asyncio.to_thread(self._concerned, keys)
            # connected before the sync knew them (deployed meanwhile, or it was down when
            # they connected): the whole check now rather than at their next connection
            unchecked = await asyncio.to_thread(
                self.store.unchecked_connected, self.clock() - timedelta(seconds=CONNECT_SETTLE))
        except Exception:
            self._retake(keys)  # the next run covers them
            raise
        await asyncio.gather(
            *(self._limited(self._reconcile(s)) for s in stations),
            *(self._limited(self.station_connected(s, connection_id=connection))
              for s, connection in unchecked if s not in self._checking))

    def _retake(self, keys: set[str] | None) -> None:
        if keys is None or self._changed is None:
            self._changed = None
        else:
            self._changed |= keys

    def _concerned(self, keys: set[str] | None) -> list[str]:
        """Where the tags are allowed now, plus where they may be held (they were allowed
        there before, or the list is unknown); among the stations that support lists."""
        supported = self.store.stations(Support.SUPPORTED)
        if keys is None:
            return supported
        concerned: set[str] = set()
        for key in keys:
            allowed = self.source.stations_for(key)
            if allowed is None:  # allowed everywhere
                return supported
            concerned |= allowed
        concerned |= set(self.store.stations_holding(keys))
        return [s for s in supported if s in concerned]

    async def tag_blocked(self, id_tag: str, everywhere: bool = False) -> None:
        """ClearCache on the stations where the tag was allowed (every station we know when
        it was not restricted, or `everywhere`: a deleted tag's places are gone with it); a
        station not connected gets it when it next connects."""
        allowed = None if everywhere else await asyncio.to_thread(self.source.stations_for,
                                                                   id_tag)
        stations = (await asyncio.to_thread(self.store.stations, None) if allowed is None
                    else sorted(allowed))
        await asyncio.gather(*(self._limited(self._coalesced.run(
            ("clear-cache", s), lambda s=s: self._clear_cache(s))) for s in stations))

    # --- steps --------------------------------------------------------------------------------

    async def _reconcile(self, station_id: str) -> None:
        async with self._lock(station_id):
            state = await self._state(station_id)
            if state.support is not Support.SUPPORTED:
                return
            revision = await asyncio.to_thread(self.source.revision)
            if state.held is not None and state.source_revision == revision:
                return
            sent = await self._bring_up_to_date(state, "tags-changed")
            await self._save(state, with_held=sent)

    async def _ask_version(self, state: LocalListState, connection_id: str | None) -> bool:
        """False when the station has no local list or could not be asked."""
        record = await self._call(state.station_id, "get-local-list-version", {})
        self._answered.pop(state.station_id, None)
        state.ocpp_version = record.ocpp_version or state.ocpp_version
        if _unsupported(record):
            state.not_supported()
            return False
        payload = record.payload or {}
        version = payload.get("listVersion", payload.get("versionNumber"))
        if record.outcome is not CommandOutcome.ACCEPTED or not isinstance(version, int):
            return False
        self._answered[state.station_id] = connection_id
        state.reported_version(version)
        return state.support is Support.SUPPORTED

    async def _bring_up_to_date(self, state: LocalListState, reason: str) -> bool:
        """The planned messages; after Failed/VersionMismatch once more as a full list.
        Whether anything was sent (else the held entries did not change)."""
        sent = False
        for attempt in range(2):
            revision = await asyncio.to_thread(self.source.revision)
            entries = await asyncio.to_thread(self.source.entries_for, state.station_id)
            desired = desired_list(entries, self.clock(), state.max_list_size,
                                   state.max_token_length)
            messages = plan(state.held, desired, state.next_version, state.max_per_message)
            status = await self._send_all(state, messages, revision,
                                          reason if attempt == 0 else "after-" + reason)
            sent = sent or bool(messages)
            if status not in RETRY_WITH_FULL or state.support is Support.NOT_SUPPORTED:
                break
        return sent

    async def _send_all(self, state: LocalListState, messages: list[ListMessage],
                        revision: int, reason: str) -> str | None:
        """Sends until one is not accepted; returns that one's status (None: all went)."""
        if not messages:
            state.source_revision = revision
        for message in messages:
            before = state.last_version
            state.versions_sent([message])
            sent_at = self.clock()
            record = await self._call(state.station_id, "send-local-list",
                                      send_parameters(message))
            await asyncio.to_thread(self.store.record, LocalListSend(
                record.command_id, state.station_id, message.version, message.update_type,
                len(message.changes), message.part, message.parts, sent_at,
                record.outcome.value, record.status or record.error_code, reason))
            if record.outcome is CommandOutcome.ACCEPTED and record.status == "Accepted":
                state.accepted(message, revision)
                continue
            if _unsupported(record) or record.status == "NotSupported":
                state.not_supported()
            if record.outcome is CommandOutcome.NOT_CONNECTED:
                state.last_version = before  # it never left the platform
            else:
                state.lost_track()  # nothing known of what it holds now
            log.info("local list not accepted", charging_station_id=state.station_id,
                     version=message.version, outcome=record.outcome.value,
                     status=record.status, error_code=record.error_code)
            return record.status or record.outcome.value
        return None

    async def _clear_cache_if_pending(self, state: LocalListState) -> None:
        if state.clear_cache_pending:
            record = await self._call(state.station_id, "clear-cache", {})
            state.clear_cache_pending = record.outcome in (CommandOutcome.NOT_CONNECTED,
                                                           CommandOutcome.TIMEOUT)

    async def _clear_cache(self, station_id: str) -> None:
        async with self._lock(station_id):
            state = await self._state(station_id)
            state.clear_cache_pending = True
            await self._clear_cache_if_pending(state)
            await self._save(state)

    # --- plumbing -----------------------------------------------------------------------------

    async def _call(self, station_id: str, command: str,
                    parameters: dict[str, Any]) -> CommandRecord:
        request = CommandRequest(str(uuid.uuid4()), station_id, command, parameters,
                                 self.timeout, REQUESTED_BY)
        requested_at = self.clock()
        answer = await self.bus.send(request)
        record = CommandRecord(
            request.command_id, station_id, command, parameters, REQUESTED_BY, requested_at,
            answer.outcome, self.clock(), answer.payload, answer.error_code,
            answer.error_description, None, answer.ocpp_version, answer.action)
        return record

    def _lock(self, station_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._locks.hold(station_id)

    async def _limited(self, work: Any) -> None:
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.concurrency)
        async with self._limit:
            await work

    async def _state(self, station_id: str) -> LocalListState:
        state = await asyncio.to_thread(self.store.get, station_id)
        return state or LocalListState(station_id)

    async def _save(self, state: LocalListState, with_held: bool = True) -> None:
        state.updated_at = self.clock()
        await asyncio.to_thread(self.store.save, state, with_held)


def _unsupported(record: CommandRecord) -> bool:
    """The gateway or the station says there is no such thing here."""
    return record.outcome is CommandOutcome.UNSUPPORTED or (
        record.outcome is CommandOutcome.CALL_ERROR and record.error_code in UNSUPPORTED_ERRORS)
