"""Local authorization lists: what each station should hold, what it holds as far as we know,
and the SendLocalList messages that bring one to the other. Plain Python, no OCPP framing.

Choices (docs/architecture.md, "Local authorization lists"):
- A station's list holds the tags allowed at that station. Blocked and expired tags are kept
  in it with their status (`Blocked`, `Expired`), not removed: in 1.6 and 2.0.1 the local list
  takes precedence over the authorization cache, so an offline station refuses a blocked card
  even when its cache still remembers it as accepted. Removal happens when a tag is deleted or
  no longer allowed at the station.
- When the tags do not fit the station's maximum list size, the most recently used come first
  (never used last, then by token).
- Version numbers only grow per station: a new message takes one more than the highest number
  sent or reported by the station.
- A full list bigger than the station's per-message limit goes as a `Full` message with the
  first part, then `Differential` messages with the rest, one version number each.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Support(StrEnum):
    UNKNOWN = "unknown"
    SUPPORTED = "supported"
    NOT_SUPPORTED = "not-supported"


class UpdateType(StrEnum):
    FULL = "full"
    DIFFERENTIAL = "differential"


class ListStatus(StrEnum):
    """The status a list entry carries (the same names in 1.6 and 2.0.1)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"


TOKEN_LENGTH = {"1.6": 20}  # 1.6 idTag ≤ 20 characters; 2.0.1 idToken ≤ 36
DEFAULT_TOKEN_LENGTH = 36
DEFAULT_PER_MESSAGE = 250  # when the station does not say (SendLocalListMaxLength unknown)


@dataclass(frozen=True)
class AuthorizationEntry:
    """One tag allowed at one station, as the tag registry knows it."""

    id_tag: str
    blocked: bool = False
    expires_at: datetime | None = None
    parent_id_tag: str | None = None
    last_used_at: datetime | None = None
    token_type: str = "ISO14443"


@dataclass(frozen=True)
class ListEntry:
    """One entry of a station's local list (what is sent, and what it holds)."""

    id_tag: str
    status: ListStatus
    expires_at: datetime | None = None
    parent_id_tag: str | None = None
    token_type: str = "ISO14443"


def key(id_tag: str) -> str:
    """OCPP compares id tags case-insensitively: one entry per tag whatever its case."""
    return id_tag.casefold()


@dataclass(frozen=True)
class ListChange:
    """An entry to add or replace, or (entry None) a tag to remove."""

    id_tag: str
    entry: ListEntry | None


@dataclass(frozen=True)
class ListMessage:
    """One SendLocalList message."""

    version: int
    update_type: UpdateType
    changes: tuple[ListChange, ...]
    part: int = 1
    parts: int = 1


class AuthorizationListSource(ABC):
    """The tag registry, as local lists need it (adapter: the id-tag store)."""

    @abstractmethod
    def revision(self) -> int:
        """A number that grows with every change of any tag."""

    @abstractmethod
    def entries_for(self, station_id: str) -> list[AuthorizationEntry]:
        """Every tag allowed at this station (by its site or by itself), blocked or not."""

    @abstractmethod
    def stations_for(self, id_tag: str) -> frozenset[str] | None:
        """The stations where this tag is allowed; None: every station."""


def desired_list(entries: Iterable[AuthorizationEntry], now: datetime,
                 max_size: int | None = None,
                 max_token_length: int = DEFAULT_TOKEN_LENGTH) -> dict[str, ListEntry]:
    """What the station should hold: tags that fit its token length, with their status,
    the most recently used first when they do not all fit `max_size`."""
    usable = [e for e in entries if len(e.id_tag) <= max_token_length
              and (e.parent_id_tag is None or len(e.parent_id_tag) <= max_token_length)]
    usable.sort(key=lambda e: (e.last_used_at is None,
                               -(e.last_used_at.timestamp()) if e.last_used_at else 0.0,
                               key(e.id_tag)))
    chosen: dict[str, ListEntry] = {}
    for entry in usable:
        if max_size is not None and len(chosen) >= max_size:
            break
        chosen.setdefault(key(entry.id_tag), ListEntry(
            entry.id_tag, _status(entry, now), entry.expires_at, entry.parent_id_tag,
            entry.token_type))
    return chosen


def _status(entry: AuthorizationEntry, now: datetime) -> ListStatus:
    if entry.blocked:
        return ListStatus.BLOCKED
    if entry.expires_at is not None and entry.expires_at <= now:
        return ListStatus.EXPIRED
    return ListStatus.ACCEPTED


def differences(held: Mapping[str, ListEntry],
                desired: Mapping[str, ListEntry]) -> tuple[ListChange, ...]:
    """Adds and changes (in the desired order), then removals (by token)."""
    changes = [ListChange(entry.id_tag, entry) for k, entry in desired.items()
               if held.get(k) != entry]
    removals = [ListChange(held[k].id_tag, None) for k in sorted(held) if k not in desired]
    return tuple(changes + removals)


def plan(held: Mapping[str, ListEntry] | None, desired: Mapping[str, ListEntry],
         first_version: int, per_message: int | None = None,
         full: bool = False) -> list[ListMessage]:
    """The messages that bring the station from `held` (None: unknown) to `desired`,
    numbered from `first_version`; none when it already holds it."""
    limit = max(1, per_message or DEFAULT_PER_MESSAGE)
    if full or held is None:
        entries = [ListChange(e.id_tag, e) for e in desired.values()]
        chunks = [entries[i:i + limit] for i in range(0, len(entries), limit)] or [[]]
        kinds = [UpdateType.FULL] + [UpdateType.DIFFERENTIAL] * (len(chunks) - 1)
    else:
        changes = differences(held, desired)
        if not changes:
            return []
        chunks = [list(changes[i:i + limit]) for i in range(0, len(changes), limit)]
        kinds = [UpdateType.DIFFERENTIAL] * len(chunks)
    return [ListMessage(first_version + n, kind, tuple(chunk), n + 1, len(chunks))
            for n, (kind, chunk) in enumerate(zip(kinds, chunks, strict=True))]


def applied(held: Mapping[str, ListEntry] | None,
            message: ListMessage) -> dict[str, ListEntry]:
    """What the station holds after accepting `message`."""
    result = {} if message.update_type is UpdateType.FULL or held is None else dict(held)
    _apply_changes(result, message)
    return result


def _apply_changes(held: dict[str, ListEntry], message: ListMessage) -> None:
    for change in message.changes:
        if change.entry is None:
            held.pop(key(change.id_tag), None)
        else:
            held[key(change.id_tag)] = change.entry


@dataclass
class LocalListState:
    """One station's local list, as far as the platform knows."""

    station_id: str
    support: Support = Support.UNKNOWN
    ocpp_version: str | None = None
    firmware_version: str | None = None
    enabled: bool | None = None  # LocalAuthListEnabled / LocalAuthListCtrlr.Enabled
    max_list_size: int | None = None
    max_per_message: int | None = None
    last_version: int = 0  # the highest version number sent to or reported by the station
    acknowledged_version: int | None = None  # the version the station holds (accepted)
    held: dict[str, ListEntry] | None = None  # None: unknown, the next update is full
    source_revision: int | None = None  # the registry revision the held list reflects
    clear_cache_pending: bool = False  # a ClearCache the station missed (not connected)
    updated_at: datetime | None = None

    @property
    def needs_full(self) -> bool:
        return self.held is None

    @property
    def max_token_length(self) -> int:
        return TOKEN_LENGTH.get(self.ocpp_version or "", DEFAULT_TOKEN_LENGTH)

    def booted(self, firmware_version: str | None) -> None:
        """A new firmware may have brought local lists: ask again."""
        if firmware_version and firmware_version != self.firmware_version:
            if self.firmware_version is not None and self.support is Support.NOT_SUPPORTED:
                self.support = Support.UNKNOWN
            self.firmware_version = firmware_version

    def reported_version(self, version: int) -> None:
        """GetLocalListVersion's answer; a version other than the one we know the station
        accepted means we do not know what it holds (full update)."""
        if version < 0:  # 1.6: -1 = no local list support
            self.support = Support.NOT_SUPPORTED
            return
        self.support = Support.SUPPORTED
        self.last_version = max(self.last_version, version)
        if version != self.acknowledged_version:
            self.held = None

    def not_supported(self) -> None:
        self.support = Support.NOT_SUPPORTED

    def accepted(self, message: ListMessage, source_revision: int | None = None) -> None:
        self.support = Support.SUPPORTED
        if message.update_type is UpdateType.DIFFERENTIAL and self.held is not None:
            _apply_changes(self.held, message)  # in place: a list sent in parts stays linear
        else:
            self.held = applied(self.held, message)
        self.acknowledged_version = message.version
        if message.part == message.parts:
            self.source_revision = source_revision

    def lost_track(self) -> None:
        """Failed, VersionMismatch, no answer: the next update is a full one."""
        self.held = None
        self.source_revision = None

    def versions_sent(self, messages: Sequence[ListMessage]) -> None:
        if messages:
            self.last_version = max(self.last_version, messages[-1].version)

    @property
    def next_version(self) -> int:
        return self.last_version + 1


@dataclass(frozen=True)
class LocalListSend:
    """One SendLocalList sent, and how the station answered."""

    command_id: str
    station_id: str
    version: int
    update_type: UpdateType
    entries: int
    part: int
    parts: int
    sent_at: datetime
    outcome: str  # the command's outcome (accepted, rejected, timeout, …)
    status: str | None = None  # the station's status (Accepted, Failed, VersionMismatch, …)
    reason: str = ""  # why it was sent: connect, boot, tags-changed, mismatch


class LocalListStore(ABC):
    """Per station state and the history of sends (adapter: SQL)."""

    @abstractmethod
    def station_known(self, station_id: str) -> bool: ...

    @abstractmethod
    def get(self, station_id: str) -> LocalListState | None: ...

    @abstractmethod
    def save(self, state: LocalListState, with_held: bool = True) -> None:
        """Insert or replace; `with_held` False keeps the stored held entries (they did not
        change: saves writing a big list again)."""

    @abstractmethod
    def record(self, send: LocalListSend) -> None: ...

    @abstractmethod
    def sends(self, station_id: str, limit: int) -> list[LocalListSend]:
        """Newest first."""

    @abstractmethod
    def stations(self, support: Support | None) -> list[str]:
        """The stations whose support is this (None: every station with a state)."""

    @abstractmethod
    def unchecked_connected(self, before: datetime) -> list[tuple[str, str | None]]:
        """The stations connected now (as save-server's station view says), since before
        `before`, whose local list was never checked: connected before the sync existed, or
        while it was down (a connection newer than that has its own check coming); each
        with the id of its current connection (None: not known), so that the check of that
        connection, when its event comes, is not done twice."""

    @abstractmethod
    def stations_holding(self, keys: Collection[str]) -> list[str]:
        """The stations supporting lists whose list may hold one of these tags (casefolded):
        it does as far as we know, or we do not know what it holds."""
