"""An in-memory IdTagStore for fast tests, held to the same contract suite as the SQL store
(integration/test_save_id_tag_store.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags import (
    GroupInUse,
    IdTag,
    IdTagGroup,
    IdTagStore,
    RunningCharge,
    TagPage,
    TagScope,
    TagStatus,
    UnknownTag,
    UsageRow,
    token_key,
)


class MemoryIdTagStore(IdTagStore):
    def __init__(self, sites: set[str] | None = None, stations: set[str] | None = None
                 ) -> None:
        self._groups: dict[str, IdTagGroup] = {}
        self._tags: dict[str, IdTag] = {}
        self._unknown: dict[tuple[str, str], UnknownTag] = {}
        self._counted: set[str] = set()
        self.revision = 0
        self.published: list[BusinessEvent] = []  # the outbox, in order
        self.sites, self.stations = sites or set(), stations or set()
        self.usage: list[UsageRow] = []
        self.running: dict[str, list[RunningCharge]] = {}
        # site id -> (its name, the groups its load-management settings name)
        self.site_settings: dict[str, tuple[str, set[str]]] = {}

    def _next(self) -> int:
        self.revision += 1
        return self.revision

    def _registry(self, kind: str, revision: int, payload: dict[str, Any],
                  principal: str | None) -> None:
        self.published.append(BusinessEvent(f"id-tag-registry.{kind}", payload, principal,
                                            extra={"revision": revision}))

    def group(self, group_id: str) -> IdTagGroup | None:
        return self._groups.get(group_id)

    def groups(self) -> list[IdTagGroup]:
        return [self._groups[g] for g in sorted(self._groups)]

    def save_group(self, group: IdTagGroup, event: BusinessEvent) -> None:
        self._groups[group.group_id] = group
        self.published.append(event)

    def delete_group(self, group_id: str, event: BusinessEvent) -> bool:
        used = sum(t.group_id == group_id for t in self._tags.values())
        if used:
            raise GroupInUse(f"{used} tag(s) belong to group {group_id}")
        if group_id not in self._groups:
            return False
        naming = sorted(((site_id, name) for site_id, (name, groups)
                         in self.site_settings.items() if group_id in groups),
                        key=lambda site: (site[1], site[0]))
        if naming:
            raise GroupInUse.named_by_sites(group_id, naming)
        del self._groups[group_id]
        self.published.append(event)
        return True

    def tag(self, id_tag: str) -> IdTag | None:
        return self._tags.get(token_key(id_tag))

    def tags_with_keys(self, keys: Collection[str]) -> list[IdTag]:
        return [self._tags[k] for k in sorted(set(keys)) if k in self._tags]

    def budget_candidates(self) -> list[IdTag]:
        budgeted = {g for g, group in self._groups.items()
                    if group.monthly_budget_kwh is not None}
        return [t for _, t in sorted(self._tags.items())
                if t.monthly_budget_kwh is not None or t.group_id in budgeted
                or t.budget_exhausted]

    def search(self, text: str | None = None, group_id: str | None = None,
               status: TagStatus | None = None, after: str | None = None,
               limit: int = 100, scope: TagScope | None = None) -> TagPage:
        needle = (text or "").casefold()
        found = [self._tags[k] for k in sorted(self._tags)
                 if (after is None or k > after)
                 and (not needle or needle in k or needle in (self._tags[k].holder or "")
                      .casefold())
                 and (group_id is None or self._tags[k].group_id == group_id)
                 and (status is None or self._tags[k].status == status)
                 and (scope is None or scope.sees(self._tags[k]))]
        more = len(found) > limit
        found = found[:limit]
        return TagPage(found, found[-1].key if more else None)

    def save_tags(self, tags: Sequence[IdTag], events: Sequence[BusinessEvent],
                  principal: str | None) -> list[IdTag]:
        if any(t.group_id is not None and t.group_id not in self._groups for t in tags):
            raise LookupError("a tag names a group that does not exist")
        saved, audits = [], list(events)
        for n, tag in enumerate(tags):
            tag = replace(tag, revision=self._next())
            if audits:
                audits[n] = replace(audits[n], payload={**audits[n].payload,
                                                        "revision": tag.revision})
            self._tags[tag.key] = tag
            for place in [k for k in self._unknown if k[0] == tag.key]:
                del self._unknown[place]
            self._registry("tag-updated", tag.revision, tag.registry_document(), principal)
            saved.append(tag)
        self.published.extend(audits)
        return saved

    def delete_tag(self, id_tag: str, events: Sequence[BusinessEvent],
                   principal: str | None) -> bool:
        tag = self._tags.pop(token_key(id_tag), None)
        if tag is None:
            return False
        revision = self._next()
        self._registry("tag-removed", revision, {"id_tag": tag.id_tag}, principal)
        self.published.extend(replace(e, payload={**e.payload, "revision": revision})
                              for e in events)
        return True

    def publish_snapshot(self, requested_by: str | None) -> int:
        tags = [self._tags[k] for k in sorted(self._tags)]
        self._registry("snapshot", self.revision, {
            "requested_by": requested_by,
            "tags": [{**t.registry_document(), "revision": t.revision} for t in tags],
            "active_charges": [{"id_tag": t.id_tag, "revision": self.revision, "charges": [
                {"charging_station_id": c.station_id, "transaction_id": c.transaction_id}
                for c in self.running[t.key]]}
                               for t in tags if t.key in self.running]}, None)
        return self.revision

    def record_unknown(self, event_id: str, id_tag: str, station_id: str,
                       at: datetime) -> bool:
        if event_id in self._counted or token_key(id_tag) in self._tags:
            return False
        self._counted.add(event_id)
        place = (token_key(id_tag), station_id)
        old = self._unknown.get(place)
        self._unknown[place] = (UnknownTag(id_tag, station_id, at, at, 1) if old is None else
                                replace(old, first_seen_at=min(old.first_seen_at, at),
                                        last_seen_at=max(old.last_seen_at, at),
                                        count=old.count + 1))
        return True

    def unknown_tags(self) -> list[UnknownTag]:
        return sorted(self._unknown.values(), key=lambda u: (
            -u.last_seen_at.timestamp(), token_key(u.id_tag), u.station_id))

    def known_places(self) -> tuple[set[str], set[str]]:
        return set(self.sites), set(self.stations)

    def usage_rows(self, start: datetime, end: datetime,
                   keys: Collection[str] | None = None) -> list[UsageRow]:
        return [u for u in self.usage if start <= u.started_at < end
                and (keys is None or u.id_tag_key in keys)]

    def keys_charged_at(self, station_ids: Collection[str]) -> set[str]:
        return {u.id_tag_key for u in self.usage if u.station_id in station_ids}

    def running_charges(self) -> dict[str, list[RunningCharge]]:
        return {k: list(v) for k, v in self.running.items() if k in self._tags and v}
