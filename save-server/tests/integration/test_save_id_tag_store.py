"""One contract for the id tag store port, run against the in-memory fake, SQLite and
PostgreSQL, so the fake used by fast tests cannot drift from the real adapters."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, null, select, update

from save_server.bootstrap import Container
from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags import (
    GroupInUse,
    IdTag,
    IdTagGroup,
    IdTagStore,
    TagScope,
    TagStatus,
)
from save_server.domain.load.model import ElectricalModel, Supply
from save_server.domain.registry import Site
from save_server.infrastructure.id_tags.store import SqlIdTagStore
from save_server.infrastructure.id_tags.tables import id_tag_groups, id_tags
from save_server.infrastructure.load.store import SqlLoadStore
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.registry.store import SqlRegistryStore

from ..id_tag_memory import MemoryIdTagStore
from ..lock_waits import writes_wait_on

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def audit(kind: str = "id-tags.tag-updated") -> BusinessEvent:
    return BusinessEvent(kind, {}, "tester", event_id=str(uuid.uuid4()), occurred_at=T0)


class StoreContract:
    """Subclasses give `store` and `registry_events` (the id-tag-registry events committed)."""

    store: IdTagStore

    def registry_events(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def audit_committed(self, event_id: str) -> bool:
        raise NotImplementedError

    def name_in_site_settings(self, site_id: str, name: str, group_id: str | None) -> None:
        """The site (created if new) gets load-management settings naming this group (None:
        no group)."""
        raise NotImplementedError

    def delete_site(self, site_id: str) -> None:
        raise NotImplementedError

    @pytest.fixture
    def prefix(self) -> str:
        return f"T{uuid.uuid4().hex[:7]}"

    def events_about(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in self.registry_events()
                if prefix.casefold() in json.dumps(e["payload"]).casefold()]

    def test_tags_are_found_case_insensitively_and_a_new_spelling_replaces_the_old(
            self, prefix: str) -> None:
        [saved] = self.store.save_tags([IdTag(f"{prefix}ab", holder="Apto 302")], [audit()],
                                       "tester")
        assert saved.revision > 0
        assert self.store.tag(f"{prefix}AB") == saved
        [again] = self.store.save_tags([IdTag(f"{prefix}AB", status=TagStatus.BLOCKED)], [],
                                       "tester")
        assert again.revision > saved.revision
        assert self.store.tag(f"{prefix}ab").id_tag == f"{prefix}AB"  # type: ignore[union-attr]
        assert self.store.search(prefix).tags == [again]
        events = self.events_about(prefix)
        assert [e["type"] for e in events] == ["id-tag-registry.tag-updated"] * 2
        assert [e["revision"] for e in events] == [saved.revision, again.revision]
        assert events[1]["payload"]["status"] == "blocked"

    def test_search_filters_by_text_group_and_status_and_pages_by_key(
            self, prefix: str) -> None:
        group = IdTagGroup(f"G{prefix}", "Apto 101", 50.0)
        self.store.save_group(group, audit("id-tags.group-created"))
        tags = [IdTag(f"{prefix}{n}", group_id=group.group_id if n % 2 else None,
                      holder=f"Resident {prefix}-{n}",
                      status=TagStatus.BLOCKED if n == 3 else TagStatus.ACTIVE)
                for n in range(5)]
        self.store.save_tags(tags, [], "tester")
        assert [t.id_tag for t in self.store.search(prefix, group_id=group.group_id).tags] == [
            f"{prefix}1", f"{prefix}3"]
        assert [t.id_tag for t in self.store.search(prefix, status=TagStatus.BLOCKED).tags
                ] == [f"{prefix}3"]
        assert [t.id_tag for t in self.store.search(f"resident {prefix}-4".upper()).tags] == [
            f"{prefix}4"]
        first = self.store.search(prefix, limit=2)
        assert len(first.tags) == 2 and first.next_after == first.tags[-1].key
        rest = self.store.search(prefix, after=first.next_after, limit=10)
        assert [t.id_tag for t in first.tags + rest.tags] == [t.id_tag for t in tags]
        assert rest.next_after is None

    def scoped_dataset(self, prefix: str) -> TagScope:
        """Tags of every kind `TagScope.sees` tells apart, interleaved in key order (so a page
        of seen tags has unseen ones between them); returns the scope."""
        site, other_site = f"{prefix}-site\"A'", f"{prefix}-site-B"
        station, other_station = f"{prefix}-CP'1", f"{prefix}-CP-2"
        group = IdTagGroup(f"G{prefix}", "Apto")
        self.store.save_group(group, audit("id-tags.group-created"))
        kinds: list[dict[str, Any]] = [
            {"site_ids": (site,)}, {"site_ids": (other_site,)},
            {"site_ids": (other_site, site)}, {"station_ids": (station,)},
            {"station_ids": (other_station,)}, {"site_ids": ()},
            {"site_ids": (), "station_ids": ()}, {"site_ids": (other_site,),
                                                  "station_ids": (station,)},
            {}, {"holder": "charged here"}, {"site_ids": (other_site,), "holder": "charged here"},
            {"station_ids": (other_station, station), "status": TagStatus.BLOCKED}]
        tags = [IdTag(f"{prefix}-{n:02}", group_id=group.group_id if n % 3 else None,
                      **kinds[n % len(kinds)]) for n in range(3 * len(kinds))]
        self.store.save_tags(tags, [], "tester")
        charged = {t.key for t in tags if t.holder == "charged here"}
        return TagScope(frozenset({site}), frozenset({station}), frozenset(charged))

    def test_a_scoped_search_finds_and_pages_what_the_python_filter_did(
            self, prefix: str) -> None:
        scope = self.scoped_dataset(prefix)
        filters: list[dict[str, Any]] = [
            {"text": prefix}, {"text": prefix, "group_id": f"G{prefix}"},
            {"text": prefix, "status": TagStatus.BLOCKED}, {"text": f"{prefix}-1"}]
        for search in filters:
            seen = [t for t in self.store.search(**search, limit=1000).tags if scope.sees(t)]
            assert seen, search
            for limit in (1, 2, 3, 5, 1000):
                before = filtered_in_python(self.store, scope, limit, search)
                pages = scoped_pages(self.store, scope, limit, search)
                assert pages == [page for page in before if page], (search, limit)
                assert [t for page in pages for t in page] == seen
                assert all(len(page) == limit for page in pages[:-1])

    def test_search_text_is_not_a_pattern(self, prefix: str) -> None:
        self.store.save_tags([IdTag(f"{prefix}x_y"), IdTag(f"{prefix}xzy")], [], "tester")
        assert [t.id_tag for t in self.store.search(f"{prefix}x_").tags] == [f"{prefix}x_y"]

    def test_groups_are_saved_and_deleted_only_when_no_tag_belongs(self, prefix: str) -> None:
        group = IdTagGroup(f"G{prefix}", "Apto 101")
        self.store.save_group(group, audit("id-tags.group-created"))
        self.store.save_group(IdTagGroup(group.group_id, "Apto 102", 10.0), audit())
        assert self.store.group(group.group_id) == IdTagGroup(group.group_id, "Apto 102", 10.0)
        assert group.group_id in [g.group_id for g in self.store.groups()]
        self.store.save_tags([IdTag(prefix, group_id=group.group_id)], [], "tester")
        with pytest.raises(GroupInUse):
            self.store.delete_group(group.group_id, audit())
        assert self.store.delete_tag(prefix, [], "tester")
        assert self.store.delete_group(group.group_id, audit())
        assert not self.store.delete_group(group.group_id, audit())
        assert self.store.group(group.group_id) is None

    def test_a_group_named_by_a_sites_load_management_is_not_deleted(
            self, prefix: str) -> None:
        group = IdTagGroup(f"G{prefix}", "Apto 101")
        self.store.save_group(group, audit("id-tags.group-created"))
        for site_id, name in ((f"S{prefix}b", "Torre B"), (f"S{prefix}a", "Torre A")):
            self.name_in_site_settings(site_id, name, group.group_id)
        refused = audit("id-tags.group-deleted")
        with pytest.raises(GroupInUse) as error:
            self.store.delete_group(group.group_id, refused)
        assert str(error.value) == (
            f"id tag group {group.group_id} is named in the load management of site(s) "
            f"S{prefix}a (Torre A), S{prefix}b (Torre B): take it out of their "
            "group_priorities first")
        assert self.store.group(group.group_id) == group
        assert not self.audit_committed(refused.event_id)
        self.name_in_site_settings(f"S{prefix}a", "Torre A", None)
        self.delete_site(f"S{prefix}b")  # the model a deleted site leaves holds nothing
        deleted = audit("id-tags.group-deleted")
        assert self.store.delete_group(group.group_id, deleted)
        assert self.store.group(group.group_id) is None
        assert self.audit_committed(deleted.event_id)

    def test_a_batch_naming_an_unknown_group_saves_nothing(self, prefix: str) -> None:
        with pytest.raises(LookupError):
            self.store.save_tags([IdTag(f"{prefix}ok"), IdTag(f"{prefix}bad",
                                                              group_id=f"N{prefix}")],
                                 [], "tester")
        assert self.store.tag(f"{prefix}ok") is None
        assert self.events_about(prefix) == []

    def test_a_deleted_tag_is_removed_with_a_newer_revision(self, prefix: str) -> None:
        [saved] = self.store.save_tags([IdTag(prefix)], [], "tester")
        assert self.store.delete_tag(prefix.lower(), [audit("id-tags.tag-deleted")], "tester")
        assert not self.store.delete_tag(prefix, [], "tester")
        assert self.store.tag(prefix) is None
        removed = self.events_about(prefix)[-1]
        assert removed["type"] == "id-tag-registry.tag-removed"
        assert removed["payload"] == {"id_tag": prefix} and removed["revision"] > saved.revision

    def test_unknown_tokens_are_counted_once_per_refusal_and_per_station(
            self, prefix: str) -> None:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        assert self.store.record_unknown(first, prefix, "CP-1", T0)
        assert not self.store.record_unknown(first, prefix, "CP-1", T0)  # redelivered
        assert self.store.record_unknown(second, prefix.lower(), "CP-1",
                                         T0 - timedelta(hours=1))
        assert self.store.record_unknown(str(uuid.uuid4()), prefix, "CP-2", T0)
        mine = [u for u in self.store.unknown_tags() if u.id_tag.casefold() == prefix.casefold()]
        by_station = {u.station_id: u for u in mine}
        assert by_station["CP-1"].count == 2 and by_station["CP-2"].count == 1
        assert by_station["CP-1"].first_seen_at == T0 - timedelta(hours=1)
        assert by_station["CP-1"].last_seen_at == T0
        self.store.save_tags([IdTag(prefix)], [], "tester")  # enrolled
        assert not [u for u in self.store.unknown_tags()
                    if u.id_tag.casefold() == prefix.casefold()]
        assert not self.store.record_unknown(str(uuid.uuid4()), prefix, "CP-1", T0)

    def test_a_snapshot_lists_every_tag_with_its_revision(self, prefix: str) -> None:
        saved = self.store.save_tags([IdTag(f"{prefix}a"), IdTag(f"{prefix}b")], [], "tester")
        revision = self.store.publish_snapshot("gateway-1")
        assert revision >= max(t.revision for t in saved)
        snapshot = [e for e in self.registry_events()
                    if e["type"] == "id-tag-registry.snapshot"][-1]
        assert snapshot["revision"] == revision
        assert snapshot["payload"]["requested_by"] == "gateway-1"
        listed = {t["id_tag"]: t["revision"] for t in snapshot["payload"]["tags"]}
        assert {listed[t.id_tag] for t in saved} == {t.revision for t in saved}


    def test_tags_are_found_by_keys_and_budget_candidates_listed(self, prefix: str) -> None:
        budgeted = IdTagGroup(f"G{prefix}", "Apto 1", 10.0)
        self.store.save_group(budgeted, audit("id-tags.group-created"))
        self.store.save_group(IdTagGroup(f"H{prefix}", "Apto 2"), audit())
        tags = [IdTag(f"{prefix}own", monthly_budget_kwh=5.0),
                IdTag(f"{prefix}grp", group_id=budgeted.group_id),
                IdTag(f"{prefix}flag", budget_exhausted=True),
                IdTag(f"{prefix}none", group_id=f"H{prefix}")]
        self.store.save_tags(tags, [], "tester")
        assert [t.id_tag for t in self.store.tags_with_keys(
            [f"{prefix}OWN".casefold(), f"{prefix}none".casefold(), "nobody"])] == [
            f"{prefix}none", f"{prefix}own"]
        candidates = {t.id_tag for t in self.store.budget_candidates()
                      if t.id_tag.startswith(prefix)}
        assert candidates == {f"{prefix}own", f"{prefix}grp", f"{prefix}flag"}


def scoped_pages(store: IdTagStore, scope: TagScope, limit: int,
                 search: dict[str, Any]) -> list[list[IdTag]]:
    """Every page of a scoped search, following `next_after`."""
    pages, after = [], None
    while True:
        page = store.search(**search, after=after, limit=limit, scope=scope)
        pages.append(page.tags)
        if page.next_after is None:
            return pages
        assert page.next_after == page.tags[-1].key
        after = page.next_after


def filtered_in_python(store: IdTagStore, scope: TagScope, limit: int,
                       search: dict[str, Any]) -> list[list[IdTag]]:
    """The pages GET /id-tags gave a scoped account before the scope was in the query: pages
    of every tag filtered in Python until `limit` were seen (its last page could be empty)."""
    pages, after = [], None
    while True:
        cursor, found = after, []
        while len(found) < limit:
            page = store.search(**search, after=cursor, limit=limit)
            found += [t for t in page.tags if scope.sees(t)]
            cursor = page.next_after
            if cursor is None:
                break
        more = len(found) > limit or cursor is not None
        pages.append(found[:limit])
        if not more:
            return pages
        after = found[limit - 1].key


class TestMemoryStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _store(self) -> None:
        self.store = self.memory = MemoryIdTagStore()

    def registry_events(self) -> list[dict[str, Any]]:
        return [{"type": e.type, "payload": e.payload, **e.extra} for e in self.memory.published
                if e.type.startswith("id-tag-registry.")]

    def audit_committed(self, event_id: str) -> bool:
        return any(e.event_id == event_id for e in self.memory.published)

    def name_in_site_settings(self, site_id: str, name: str, group_id: str | None) -> None:
        self.memory.site_settings[site_id] = (name, {group_id} if group_id else set())

    def delete_site(self, site_id: str) -> None:
        del self.memory.site_settings[site_id]


@pytest.mark.integration
class TestSqlStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _store(self, container: Container) -> Iterator[None]:
        self.container = container
        self.store = SqlIdTagStore(container.engine)
        yield

    def registry_events(self) -> list[dict[str, Any]]:
        with self.container.engine.connect() as db:
            rows = db.execute(select(outbox_events.c.body).where(
                outbox_events.c.routing_key.like("id-tag-registry.%"))
                .order_by(outbox_events.c.seq)).scalars()
            return [json.loads(body) for body in rows]

    def test_places_stored_as_sql_null_read_as_everywhere_in_a_scoped_search(
            self, prefix: str) -> None:
        self.store.save_tags([IdTag(f"{prefix}-a"), IdTag(f"{prefix}-b")], [], "tester")
        with self.container.engine.begin() as db:
            db.execute(update(id_tags).where(id_tags.c.token_key.like(f"{prefix.lower()}-%"))
                       .values(site_ids=null(), station_ids=null()))
        scope = TagScope(frozenset({"S"}), frozenset({"CP"}), frozenset({f"{prefix}-a".lower()}))
        stored = self.store.tag(f"{prefix}-a")
        assert stored is not None and stored.site_ids is None and stored.station_ids is None
        assert self.store.search(prefix, scope=scope).tags == [stored]

    def audit_committed(self, event_id: str) -> bool:
        with self.container.engine.connect() as db:
            return db.execute(select(outbox_events.c.seq).where(
                outbox_events.c.event_id == event_id)).first() is not None

    def name_in_site_settings(self, site_id: str, name: str, group_id: str | None) -> None:
        registry = SqlRegistryStore(self.container.engine)
        if registry.site(site_id) is None:
            registry.add_site(Site(site_id, name), audit("registry.site-created"))
        SqlLoadStore(self.container.engine).save_model(ElectricalModel(
            site_id, Supply.THREE_PHASE, 220.0, 63.0,
            group_priorities=((group_id, 2),) if group_id else ()), audit())

    def delete_site(self, site_id: str) -> None:
        assert SqlRegistryStore(self.container.engine).delete_site(
            site_id, audit("registry.site-deleted"))

    def test_a_group_deleted_while_its_tag_is_saved_is_a_missing_group(
            self, prefix: str) -> None:
        """The save checks the group before its first write, so the deletion commits after
        that check: the group's foreign key refuses the tag, on SQLite as on PostgreSQL."""
        engine = self.container.engine
        group = IdTagGroup(f"G{prefix}", "Apto 101")
        self.store.save_group(group, audit("id-tags.group-created"))
        outcome: list[BaseException | None] = []

        def save() -> None:
            try:
                self.store.save_tags([IdTag(prefix, group_id=group.group_id)], [], "tester")
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        with engine.connect() as deleting, writes_wait_on(engine, deleting) as wait:
            deleting.execute(delete(id_tag_groups).where(
                id_tag_groups.c.group_id == group.group_id))
            saving = threading.Thread(target=save)
            saving.start()
            wait()
            deleting.commit()
            saving.join(10)
        [error] = outcome
        assert isinstance(error, LookupError) and error.__cause__ is not None, error
        assert self.store.tag(prefix) is None and self.events_about(prefix) == []
