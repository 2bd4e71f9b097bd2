"""Use cases of id tags: tags and groups (each write an `id-tags.*` business event with the
`id-tag-registry.*` event for the gateways), unknown tokens and their enrolment, the monthly
usage and the budgets."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags import (
    IdTag,
    IdTagGroup,
    IdTagStore,
    InvalidIdTag,
    TagPage,
    TagScope,
    TagStatus,
    UnknownTag,
    UsageRow,
    budget_exhausted,
    check_group,
    check_tag,
    month_of,
    month_window,
    token_key,
)
from save_server.domain.registry import DEFAULT_TIMEZONE

Clock = Callable[[], datetime]
ZONE_SLACK = timedelta(hours=15)  # covers every UTC offset around a month's UTC window


class TagNotFound(LookupError):
    pass


class GroupNotFound(LookupError):
    pass


class AlreadyExists(Exception):
    pass


@dataclass
class Usage:
    energy_kwh: float = 0.0
    charges: int = 0

    def add(self, row: UsageRow) -> None:
        self.charges += 1
        self.energy_kwh += (row.energy_wh or 0.0) / 1000


@dataclass
class MonthlyUsage:
    month: str
    tags: dict[str, Usage] = field(default_factory=dict)  # by tag key
    groups: dict[str, Usage] = field(default_factory=dict)
    unregistered: Usage = field(default_factory=Usage)


class IdTagService:
    def __init__(self, store: IdTagStore, clock: Clock = lambda: datetime.now(UTC),
                 default_timezone: str = DEFAULT_TIMEZONE) -> None:
        self._store, self._clock, self.default_timezone = store, clock, default_timezone

    def _audit(self, kind: str, by: str | None, payload: Mapping[str, Any]) -> BusinessEvent:
        return BusinessEvent(f"id-tags.{kind}", payload, by, event_id=str(uuid.uuid4()),
                             occurred_at=self._clock())

    # groups -------------------------------------------------------------------------------
    def groups(self) -> list[IdTagGroup]:
        return self._store.groups()

    def group(self, group_id: str) -> IdTagGroup:
        found = self._store.group(group_id)
        if found is None:
            raise GroupNotFound(f"no id tag group {group_id}")
        return found

    def create_group(self, group: IdTagGroup, by: str) -> IdTagGroup:
        group = check_group(group)
        if self._store.group(group.group_id) is not None:
            raise AlreadyExists(f"id tag group {group.group_id} exists")
        self._store.save_group(group, self._audit("group-created", by, group.document()))
        return group

    def update_group(self, group_id: str, changes: Mapping[str, Any], by: str) -> IdTagGroup:
        group = check_group(IdTagGroup(**{**self.group(group_id).document(), **changes}))
        self._store.save_group(group, self._audit("group-updated", by, group.document()))
        self.refresh_budgets(by, self._store.search(group_id=group_id, limit=100_000).tags)
        return group

    def delete_group(self, group_id: str, by: str) -> None:
        if not self._store.delete_group(group_id, self._audit("group-deleted", by,
                                                              {"group_id": group_id})):
            raise GroupNotFound(f"no id tag group {group_id}")

    # tags ---------------------------------------------------------------------------------
    def keys_charged_at(self, station_ids: Collection[str]) -> set[str]:
        return self._store.keys_charged_at(station_ids)

    def tag(self, id_tag: str) -> IdTag:
        found = self._store.tag(id_tag)
        if found is None:
            raise TagNotFound(f"no id tag {id_tag}")
        return found

    def search(self, text: str | None = None, group_id: str | None = None,
               status: TagStatus | None = None, after: str | None = None,
               limit: int = 100, scope: TagScope | None = None) -> TagPage:
        return self._store.search(text, group_id, status, after, limit, scope)

    def create_tag(self, tag: IdTag, by: str, kind: str = "tag-created") -> IdTag:
        if self._store.tag(tag.id_tag) is not None:
            raise AlreadyExists(f"id tag {tag.id_tag} exists")
        return self.save([tag], by, kind)[0]

    def update_tag(self, id_tag: str, changes: Mapping[str, Any], by: str) -> IdTag:
        current = self.tag(id_tag)
        return self.save([current.changed(**changes)], by, "tag-updated")[0]

    def delete_tag(self, id_tag: str, by: str) -> None:
        current = self.tag(id_tag)
        if not self._store.delete_tag(id_tag, [self._audit(
                "tag-deleted", by, {"id_tag": current.id_tag})], by):
            raise TagNotFound(f"no id tag {id_tag}")

    def save(self, tags: Sequence[IdTag], by: str | None, kind: str | Sequence[str]
             ) -> list[IdTag]:
        """Check, then save all in one commit with one `id-tags.<kind>` event each (`kind`:
        one for all, or one per tag)."""
        kinds = [kind] * len(tags) if isinstance(kind, str) else list(kind)
        checked = [self.check(t) for t in tags]
        exhausted = self._exhausted(checked)
        checked = [t.changed(budget_exhausted=t.key in exhausted) for t in checked]
        audits = [self._audit(k, by, _audit_payload(t)) for k, t in zip(kinds, checked,
                                                                         strict=True)]
        saved = self._store.save_tags(checked, audits, by)
        return saved

    def places(self) -> tuple[set[str], set[str]]:
        return self._store.known_places()

    def check(self, tag: IdTag, places: tuple[set[str], set[str]] | None = None) -> IdTag:
        tag = check_tag(tag)
        if tag.group_id is not None and self._store.group(tag.group_id) is None:
            raise InvalidIdTag("group_id", f"no id tag group {tag.group_id}")
        if tag.site_ids is not None or tag.station_ids is not None:
            site_ids, station_ids = places or self._store.known_places()
            unknown_sites = sorted(set(tag.site_ids or ()) - site_ids)
            if unknown_sites:
                raise InvalidIdTag("site_ids", f"unknown site(s): {', '.join(unknown_sites)}")
            unknown_stations = sorted(set(tag.station_ids or ()) - station_ids)
            if unknown_stations:
                raise InvalidIdTag("station_ids",
                                   f"unknown station(s): {', '.join(unknown_stations)}")
        return tag

    # unknown tokens -----------------------------------------------------------------------
    def unknown(self) -> list[UnknownTag]:
        return self._store.unknown_tags()

    def record_unknown(self, event_id: str, id_tag: str, station_id: str,
                       at: datetime) -> bool:
        return self._store.record_unknown(event_id, id_tag, station_id, at)

    def auto_enroll(self, id_tag: str, token_type: str | None, by: str) -> bool:
        """A card a gateway let charge although unknown (its `accept` policy for unknown
        cards) becomes an active tag; False when it is registered already or is no valid
        token (it is then listed as unknown instead)."""
        if self._store.tag(id_tag) is not None:
            return True
        try:
            self.create_tag(IdTag(id_tag, token_type), by, "tag-enrolled")
        except AlreadyExists:
            return True  # enrolled meanwhile (a redelivery, another API process)
        except (InvalidIdTag, LookupError):
            return False
        return True

    def enroll(self, id_tag: str, by: str, **details: Any) -> IdTag:
        """An unknown token seen by a station becomes a tag (active unless said otherwise)."""
        seen = [u for u in self._store.unknown_tags() if token_key(u.id_tag) == token_key(id_tag)]
        if not seen:
            raise TagNotFound(f"no unknown id tag {id_tag}")
        return self.create_tag(IdTag(seen[0].id_tag, **details), by, "tag-enrolled")

    # usage and budgets --------------------------------------------------------------------
    def usage(self, month: str) -> MonthlyUsage:
        """Energy and charges per tag and group in `month`: a charge counts in the month, in
        its station's site's time zone (else the default), in which it started."""
        rows = self._month_rows(month)
        tags = {t.key: t for t in self._all()}
        usage = MonthlyUsage(month)
        for row in rows:
            tag = tags.get(row.id_tag_key)
            if tag is None:
                usage.unregistered.add(row)
                continue
            usage.tags.setdefault(tag.key, Usage()).add(row)
            if tag.group_id is not None:
                usage.groups.setdefault(tag.group_id, Usage()).add(row)
        return usage

    def _month_rows(self, month: str) -> list[UsageRow]:
        start, end = month_window(month, "UTC")
        rows = self._store.usage_rows(start - ZONE_SLACK, end + ZONE_SLACK)
        return [r for r in rows
                if month_of(r.started_at, r.timezone or self.default_timezone) == month]

    def _current_rows(self, keys: set[str]) -> list[UsageRow]:
        """Each charge of these tags that started in the current month of its own site's
        time zone."""
        now = self._clock()
        start, end = month_window(month_of(now, "UTC"), "UTC")
        rows = self._store.usage_rows(start - ZONE_SLACK, end + ZONE_SLACK, keys)
        return [r for r in rows if month_of(r.started_at, r.timezone or self.default_timezone)
                == month_of(now, r.timezone or self.default_timezone)]

    def _exhausted(self, tags: Iterable[IdTag]) -> set[str]:
        """Keys of the tags whose own or group budget is used up this month."""
        tags = list(tags)
        if not any(t.monthly_budget_kwh is not None or t.group_id is not None for t in tags):
            return set()
        budgets = {g.group_id: g.monthly_budget_kwh for g in self._store.groups()}
        all_tags = {t.key: t for t in tags}
        for group_id in {t.group_id for t in tags if budgets.get(t.group_id or "")}:
            all_tags |= {t.key: t for t in self._store.search(group_id=group_id,
                                                                limit=100_000).tags}
        rows = self._current_rows(set(all_tags))
        per_tag: dict[str, float] = {}
        per_group: dict[str, float] = {}
        for row in rows:
            kwh = (row.energy_wh or 0.0) / 1000
            per_tag[row.id_tag_key] = per_tag.get(row.id_tag_key, 0.0) + kwh
            owner = all_tags.get(row.id_tag_key)
            if owner is not None and owner.group_id is not None:
                per_group[owner.group_id] = per_group.get(owner.group_id, 0.0) + kwh
        return {t.key for t in tags
                if budget_exhausted(per_tag.get(t.key, 0.0), t.monthly_budget_kwh)
                or (t.group_id is not None and budget_exhausted(
                    per_group.get(t.group_id, 0.0), budgets.get(t.group_id)))}

    def exhausted_keys(self, tags: Sequence[IdTag]) -> set[str]:
        """Keys of the tags (among these) whose own or group budget is used up this month."""
        return self._exhausted(tags)

    def refresh_budgets(self, by: str | None = "budget",
                        tags: Sequence[IdTag] | None = None) -> list[IdTag]:
        """Republish the tags whose `budget_exhausted` flipped (a month began, energy was
        used, a budget changed); returns them."""
        tags = list(self._store.budget_candidates() if tags is None else tags)
        exhausted = self._exhausted(tags)
        flipped = [t.changed(budget_exhausted=t.key in exhausted) for t in tags
                   if (t.key in exhausted) != t.budget_exhausted]
        return self._store.save_tags(flipped, [], by) if flipped else []

    def all_tags(self) -> list[IdTag]:
        """Every tag, ordered by key."""
        return self._all()

    def _all(self) -> list[IdTag]:
        found: list[IdTag] = []
        after = None
        while True:
            page = self._store.search(after=after, limit=1000)
            found += page.tags
            if page.next_after is None:
                return found
            after = page.next_after

    def publish_snapshot(self, requested_by: str | None) -> int:
        return self._store.publish_snapshot(requested_by)


def _audit_payload(tag: IdTag) -> dict[str, Any]:
    """The tag as the `id-tags.*` events carry it (its revision is the registry's business)."""
    document = tag.document()
    del document["revision"]
    return document
