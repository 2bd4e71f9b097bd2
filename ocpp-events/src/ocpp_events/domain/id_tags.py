"""The gateway's copy of the id tag registry, kept from `id-tag-registry.*` events.

Same design as the station registry copy (`station_registry.py`): save-server owns the tags and
publishes one event per change, each with a `revision` that grows across everything it
publishes; applying is last-writer-wins per id tag (casefolded, as OCPP compares tokens),
removals leave tombstones, and a snapshot removes what it does not list unless the gateway saw
a newer change. save-server's view of each tag's running charges is kept the same way, per tag,
separately from the tag itself (its own revision).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpp_events.domain.registry_fields import (
    InvalidRegistryEvent,
    item_revision,
    required_text,
)
from ocpp_events.domain.station_registry import parse_time, rfc3339

PREFIX = "id-tag-registry."
TAG_UPDATED = "id-tag-registry.tag-updated"
TAG_REMOVED = "id-tag-registry.tag-removed"
ACTIVE_CHARGES = "id-tag-registry.active-charges"
SNAPSHOT = "id-tag-registry.snapshot"
SNAPSHOT_REQUESTED = "id-tag-registry.snapshot-requested"
STATUSES = ("active", "blocked")
EVSE_TYPES = ("AC", "DC")  # what an EVSE delivers; a tag may be restricted to some


def tag_key(id_tag: str) -> str:
    """OCPP compares id tokens case-insensitively."""
    return id_tag.casefold()


@dataclass(frozen=True, slots=True)
class IdTag:
    id_tag: str
    revision: int
    status: str = "active"  # "active" | "blocked"
    token_type: str | None = None  # 2.0.1 IdTokenEnumType; None: any type
    group_id: str | None = None  # parentIdTag / groupIdToken
    expires_at: datetime | None = None
    site_ids: frozenset[str] | None = None  # None: every site
    station_ids: frozenset[str] | None = None  # None: every station
    max_concurrent_charges: int = 1
    budget_exhausted: bool = False
    evse_types: frozenset[str] | None = None  # None: every type of EVSE


@dataclass(frozen=True, slots=True)
class ChargeRef:
    """One running charge: 1.6 transactionId in decimal, 2.0.1 the station's transactionId."""

    station_id: str
    transaction_id: str


@dataclass(frozen=True, slots=True)
class ActiveCharges:
    revision: int
    charges: frozenset[ChargeRef] = frozenset()


@dataclass(frozen=True)
class ParsedSnapshot:
    """A snapshot validated, with its tags newer than the copy's parsed (`parse_snapshot`:
    pure, so a big one can be parsed off the event loop and merged on it)."""

    revision: int
    listed: frozenset[str]  # casefolded tags it lists
    tags: tuple[IdTag, ...]  # those newer than the copy held when parsing
    charges: tuple[tuple[str, ActiveCharges], ...]


def parse_snapshot(event: dict[str, Any],
                   revision_of: Callable[[str], int] = lambda key: -1) -> ParsedSnapshot:
    revision = item_revision(event)
    payload = event.get("payload")
    tags = payload.get("tags") if isinstance(payload, dict) else None
    charges = payload.get("active_charges") if isinstance(payload, dict) else None
    if not isinstance(tags, list) or not isinstance(charges, list):
        raise InvalidRegistryEvent("snapshot payload.tags and .active_charges must be lists")
    listed: set[str] = set()
    parsed: list[IdTag] = []
    for item in tags:
        if not isinstance(item, dict):
            raise InvalidRegistryEvent("an id tag must be a JSON object")
        key, tag_revision = tag_key(required_text(item, "id_tag")), item_revision(item)
        listed.add(key)
        if tag_revision > revision_of(key):  # parsed only when newer (reconnections)
            parsed.append(parse_tag(item, tag_revision))
    running = []
    for item in charges:
        if not isinstance(item, dict):
            raise InvalidRegistryEvent("active_charges items must be objects")
        running.append((tag_key(required_text(item, "id_tag")),
                        ActiveCharges(item_revision(item), _charges(item.get("charges")))))
    return ParsedSnapshot(revision, frozenset(listed), tuple(parsed), tuple(running))


@dataclass
class IdTagState:
    """Tags and save-server's active charges by casefolded id tag, with tombstones."""

    tags: dict[str, IdTag] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    charges: dict[str, ActiveCharges] = field(default_factory=dict)
    owners: dict[ChargeRef, str] = field(default_factory=dict)  # running charge -> tag key

    def get(self, id_tag: str) -> IdTag | None:
        return self.tags.get(tag_key(id_tag))

    def active_charges(self, id_tag: str) -> ActiveCharges | None:
        return self.charges.get(tag_key(id_tag))

    def revision_of(self, key: str) -> int:
        tag = self.tags.get(key)
        return tag.revision if tag is not None else self.tombstones.get(key, -1)

    def apply(self, event: dict[str, Any] | ParsedSnapshot) -> list[str]:
        """Apply one event (parsed JSON, or a parsed snapshot); return the casefolded tags it
        changed."""
        if isinstance(event, ParsedSnapshot):
            return self._merge_snapshot(event)
        kind = event.get("type")
        if kind == SNAPSHOT_REQUESTED:
            return []
        if kind == SNAPSHOT:
            return self._merge_snapshot(parse_snapshot(event, self.revision_of))
        revision = item_revision(event)
        payload = event.get("payload")
        if not isinstance(payload, dict):
            raise InvalidRegistryEvent("payload must be an object")
        if kind == TAG_UPDATED:
            return self._put(parse_tag(payload, revision))
        if kind == TAG_REMOVED:
            key = tag_key(required_text(payload, "id_tag"))
            if revision <= self.revision_of(key):
                return []
            self.tags.pop(key, None)
            self.tombstones[key] = revision
            return [key]
        if kind == ACTIVE_CHARGES:
            return self._put_charges(payload, revision)
        raise InvalidRegistryEvent(f"unknown id tag registry event type {kind!r}")

    def _put(self, tag: IdTag) -> list[str]:
        key = tag_key(tag.id_tag)
        if tag.revision <= self.revision_of(key):
            return []
        self.tags[key] = tag
        self.tombstones.pop(key, None)
        return [key]

    def _put_charges(self, item: dict[str, Any], revision: int) -> list[str]:
        return self._put_active(tag_key(required_text(item, "id_tag")),
                                ActiveCharges(revision, _charges(item.get("charges"))))

    def _put_active(self, key: str, active: ActiveCharges) -> list[str]:
        known = self.charges.get(key)
        if known is not None and active.revision <= known.revision:
            return []
        self._set_charges(key, active)
        return [key]

    def _set_charges(self, key: str, active: ActiveCharges | None) -> None:
        known = self.charges.pop(key, None)
        for ref in known.charges if known is not None else ():
            self.owners.pop(ref, None)
        if active is not None:
            self.charges[key] = active
            self.owners.update(dict.fromkeys(active.charges, key))

    def _merge_snapshot(self, snapshot: ParsedSnapshot) -> list[str]:
        changed: list[str] = []
        for tag in snapshot.tags:
            changed += self._put(tag)
        for key in [k for k, t in self.tags.items()
                    if k not in snapshot.listed and t.revision <= snapshot.revision]:
            del self.tags[key]  # gone by the snapshot's time
            self.tombstones[key] = snapshot.revision
            changed.append(key)
        with_charges = {key for key, _ in snapshot.charges}
        for key, active in snapshot.charges:
            changed += self._put_active(key, active)
        for key, known in list(self.charges.items()):
            if key not in with_charges and known.revision <= snapshot.revision:
                self._set_charges(key, None)  # no running charge at the snapshot's time
                changed.append(key)
        return sorted(set(changed))

    def to_document(self) -> dict[str, Any]:
        """What the gateway keeps on disk (the snapshot's shape plus tombstones)."""
        return {"tags": [tag_document(t) for t in self.tags.values()],
                "tombstones": dict(self.tombstones),
                "active_charges": [charges_document(key, active)
                                   for key, active in self.charges.items()]}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> IdTagState:
        state = cls(tombstones={str(k): int(v) for k, v in
                                (document.get("tombstones") or {}).items()})
        for item in document["tags"]:
            state._put(parse_tag(item, item_revision(item)))
        for item in document.get("active_charges") or ():
            state._put_charges(item, item_revision(item))
        return state


def parse_tag(item: Any, revision: int) -> IdTag:
    if not isinstance(item, dict):
        raise InvalidRegistryEvent("an id tag must be a JSON object")
    status = item.get("status")
    if status not in STATUSES:
        raise InvalidRegistryEvent(f"status must be one of {STATUSES}")
    limit = item.get("max_concurrent_charges", 1)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidRegistryEvent("max_concurrent_charges must be an integer >= 1")
    expires = item.get("expires_at")
    try:
        expires_at = parse_time(expires) if expires is not None else None
    except (TypeError, ValueError) as error:
        raise InvalidRegistryEvent(f"bad expires_at: {error}") from error
    return IdTag(
        id_tag=required_text(item, "id_tag"), revision=revision, status=status,
        token_type=_optional_text(item, "token_type"),
        group_id=_optional_text(item, "group_id"), expires_at=expires_at,
        site_ids=_ids(item, "site_ids"), station_ids=_ids(item, "station_ids"),
        max_concurrent_charges=limit, budget_exhausted=item.get("budget_exhausted") is True,
        evse_types=_evse_types(item))


def _evse_types(item: dict[str, Any]) -> frozenset[str] | None:
    """Absent (older events) or null: every type."""
    types = _ids(item, "evse_types")
    if types is not None and not types <= set(EVSE_TYPES):
        raise InvalidRegistryEvent(f"evse_types items are among {EVSE_TYPES}")
    return types


def tag_document(tag: IdTag) -> dict[str, Any]:
    """The contract's tag object, with its revision (as in a snapshot)."""
    return {"id_tag": tag.id_tag, "revision": tag.revision, "token_type": tag.token_type,
            "group_id": tag.group_id, "status": tag.status,
            "expires_at": rfc3339(tag.expires_at) if tag.expires_at else None,
            "site_ids": sorted(tag.site_ids) if tag.site_ids is not None else None,
            "station_ids": sorted(tag.station_ids) if tag.station_ids is not None else None,
            "max_concurrent_charges": tag.max_concurrent_charges,
            "budget_exhausted": tag.budget_exhausted,
            "evse_types": sorted(tag.evse_types) if tag.evse_types is not None else None}


def charges_document(key: str, active: ActiveCharges) -> dict[str, Any]:
    """A snapshot's `active_charges` entry (the id tag casefolded)."""
    return {"id_tag": key, "revision": active.revision,
            "charges": [{"charging_station_id": c.station_id,
                         "transaction_id": c.transaction_id} for c in active.charges]}


def _charges(items: Any) -> frozenset[ChargeRef]:
    if not isinstance(items, list):
        raise InvalidRegistryEvent("charges must be a list")
    refs = set()
    for item in items:
        if not isinstance(item, dict):
            raise InvalidRegistryEvent("a charge must be an object")
        refs.add(ChargeRef(required_text(item, "charging_station_id"),
                           required_text(item, "transaction_id")))
    return frozenset(refs)


def _ids(item: dict[str, Any], name: str) -> frozenset[str] | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRegistryEvent(f"{name} must be a list of strings or null")
    return frozenset(value)


def _optional_text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRegistryEvent(f"{name} must be a string or null")
    return value or None
