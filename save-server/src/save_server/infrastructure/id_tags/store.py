"""The id tag store on SQLAlchemy Core. Every tag change takes the next id tag registry
revision and commits with its `id-tag-registry.*` event and its audit events (the outbox)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    case,
    delete,
    exc,
    func,
    insert,
    or_,
    select,
    update,
)

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
from save_server.infrastructure.db.committing import CommittingStore
from save_server.infrastructure.db.integrity import Violation, violates
from save_server.infrastructure.db.tables import (
    charges,
    processed_events,
    stations,
)
from save_server.infrastructure.id_tags.charges import (
    energy,
    latest_registers,
    publish_active_charges,
    running_charges,
)
from save_server.infrastructure.id_tags.revision import (
    next_revision,
    registry_event,
    with_revision,
)
from save_server.infrastructure.id_tags.scope import seen_by
from save_server.infrastructure.id_tags.tables import (
    id_tag_groups,
    id_tag_revision,
    id_tags,
    unknown_id_tags,
)
from save_server.infrastructure.load.store import sites_naming_group
from save_server.infrastructure.outbox.writer import add_to_outbox
from save_server.infrastructure.registry.tables import sites, station_registrations

UNKNOWN_SEEN = "id-tags.unknown-seen"  # the processed-event type of a counted refusal


def _group(row: Any) -> IdTagGroup:
    return IdTagGroup(row.group_id, row.label, row.monthly_budget_kwh)


def _tag(row: Any) -> IdTag:
    return IdTag(row.id_tag, row.token_type, row.group_id, row.holder, TagStatus(row.status),
                 row.expires_at, tuple(row.site_ids) if row.site_ids is not None else None,
                 tuple(row.station_ids) if row.station_ids is not None else None,
                 row.max_concurrent_charges, row.monthly_budget_kwh, row.revision,
                 row.budget_exhausted,
                 tuple(row.evse_types) if row.evse_types is not None else None)


def tag_row(tag: IdTag, updated_at: datetime) -> dict[str, Any]:
    return {"token_key": tag.key, "id_tag": tag.id_tag, "token_type": tag.token_type,
            "group_id": tag.group_id, "holder": tag.holder, "status": str(tag.status),
            "expires_at": tag.expires_at,
            "site_ids": list(tag.site_ids) if tag.site_ids is not None else None,
            "station_ids": list(tag.station_ids) if tag.station_ids is not None else None,
            "max_concurrent_charges": tag.max_concurrent_charges,
            "monthly_budget_kwh": tag.monthly_budget_kwh, "revision": tag.revision,
            "budget_exhausted": tag.budget_exhausted, "updated_at": updated_at,
            "evse_types": list(tag.evse_types) if tag.evse_types is not None else None}


class SqlIdTagStore(CommittingStore, IdTagStore):
    # groups -------------------------------------------------------------------------------
    def group(self, group_id: str) -> IdTagGroup | None:
        with self._engine.connect() as db:
            row = db.execute(select(id_tag_groups).where(
                id_tag_groups.c.group_id == group_id)).first()
        return _group(row) if row else None

    def groups(self) -> list[IdTagGroup]:
        with self._engine.connect() as db:
            return [_group(r) for r in db.execute(
                select(id_tag_groups).order_by(id_tag_groups.c.group_id))]

    def save_group(self, group: IdTagGroup, event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            if not db.execute(update(id_tag_groups).where(
                    id_tag_groups.c.group_id == group.group_id)
                    .values(group.document())).rowcount:
                db.execute(insert(id_tag_groups).values(group.document()))
            add_to_outbox(db, event)
        self._commit(change)

    def delete_group(self, group_id: str, event: BusinessEvent) -> bool:
        def change(db: Connection) -> bool:
            used = db.execute(select(func.count()).select_from(id_tags).where(
                id_tags.c.group_id == group_id)).scalar_one()
            if used:
                raise GroupInUse(f"{used} tag(s) belong to group {group_id}")
            if not db.execute(delete(id_tag_groups).where(
                    id_tag_groups.c.group_id == group_id)).rowcount:
                return False
            # Read after the delete (its row lock): a site's settings naming the group were
            # committed before it, or wait for it and then find the group gone.
            naming = sites_naming_group(db, group_id)
            if naming:
                raise GroupInUse.named_by_sites(group_id, naming)
            add_to_outbox(db, event)
            return True
        return bool(self._commit(change))

    # tags ---------------------------------------------------------------------------------
    def tag(self, id_tag: str) -> IdTag | None:
        with self._engine.connect() as db:
            row = db.execute(select(id_tags).where(
                id_tags.c.token_key == token_key(id_tag))).first()
        return _tag(row) if row else None

    def tags_with_keys(self, keys: Collection[str]) -> list[IdTag]:
        wanted = sorted(set(keys))
        found: list[IdTag] = []
        with self._engine.connect() as db:
            for start in range(0, len(wanted), 500):
                found += [_tag(r) for r in db.execute(select(id_tags).where(
                    id_tags.c.token_key.in_(wanted[start:start + 500])))]
        return sorted(found, key=lambda tag: tag.key)

    def budget_candidates(self) -> list[IdTag]:
        t = id_tags.c
        budgeted = select(id_tag_groups.c.group_id).where(
            id_tag_groups.c.monthly_budget_kwh.is_not(None))
        with self._engine.connect() as db:
            return [_tag(r) for r in db.execute(select(id_tags).where(or_(
                t.monthly_budget_kwh.is_not(None), t.group_id.in_(budgeted),
                t.budget_exhausted.is_(True))).order_by(t.token_key))]

    def search(self, text: str | None = None, group_id: str | None = None,
               status: TagStatus | None = None, after: str | None = None,
               limit: int = 100, scope: TagScope | None = None) -> TagPage:
        t = id_tags.c
        query = select(id_tags).order_by(t.token_key).limit(limit + 1)
        if text:
            needle = text.casefold()
            query = query.where(or_(t.token_key.contains(needle, autoescape=True),
                                    func.lower(t.holder).contains(needle, autoescape=True)))
        if group_id is not None:
            query = query.where(t.group_id == group_id)
        if status is not None:
            query = query.where(t.status == str(status))
        if after is not None:
            query = query.where(t.token_key > after)
        if scope is not None:
            query = query.where(seen_by(scope, self._engine.dialect.name))
        with self._engine.connect() as db:
            found = [_tag(r) for r in db.execute(query)]
        more = len(found) > limit
        found = found[:limit]
        return TagPage(found, found[-1].key if more else None)

    def save_tags(self, tags: Sequence[IdTag], events: Sequence[BusinessEvent],
                  principal: str | None) -> list[IdTag]:
        def change(db: Connection) -> list[IdTag]:
            named = {t.group_id for t in tags if t.group_id is not None}
            if named and len(named) > db.execute(select(func.count()).select_from(
                    id_tag_groups).where(id_tag_groups.c.group_id.in_(named))).scalar_one():
                raise LookupError("a tag names a group that does not exist")
            saved, new = [], set()
            audits = list(events)
            moment = datetime.now(UTC)  # the row's updated_at is its event's time: a replay
            for n, tag in enumerate(tags):  # gives the same row back
                tag = tag.changed(revision=next_revision(db))
                if audits:
                    audits[n] = replace(with_revision(audits[n], tag.revision),
                                        occurred_at=moment)
                row = tag_row(tag, moment)
                if not db.execute(update(id_tags).where(id_tags.c.token_key == tag.key)
                                  .values(row)).rowcount:
                    db.execute(insert(id_tags).values(row))
                    new.add(tag.key)
                db.execute(delete(unknown_id_tags).where(
                    unknown_id_tags.c.token_key == tag.key))
                add_to_outbox(db, registry_event("tag-updated", tag.revision,
                                                 tag.registry_document(), principal))
                saved.append(tag)
            for event in audits:
                add_to_outbox(db, event)
            publish_active_charges(db, new, only_running=True)
            return saved
        try:
            return self._commit(change)  # type: ignore[no-any-return]
        except exc.IntegrityError as error:
            if violates(error, Violation.FOREIGN_KEY, "id_tags"):  # its group, deleted meanwhile
                raise LookupError("a tag names a group that does not exist") from error
            raise

    def delete_tag(self, id_tag: str, events: Sequence[BusinessEvent],
                   principal: str | None) -> bool:
        def change(db: Connection) -> bool:
            row = db.execute(select(id_tags.c.id_tag).where(
                id_tags.c.token_key == token_key(id_tag))).first()
            if row is None:
                return False
            db.execute(delete(id_tags).where(id_tags.c.token_key == token_key(id_tag)))
            revision = next_revision(db)
            add_to_outbox(db, registry_event("tag-removed", revision, {"id_tag": row.id_tag},
                                             principal))
            for event in events:
                add_to_outbox(db, with_revision(event, revision))
            return True
        return bool(self._commit(change))

    def publish_snapshot(self, requested_by: str | None) -> int:
        def change(db: Connection) -> int:
            revision = int(db.execute(select(id_tag_revision.c.revision)).scalar() or 0)
            tags = [_tag(r) for r in db.execute(select(id_tags).order_by(id_tags.c.token_key))]
            running = running_charges(db)
            payload = {
                "requested_by": requested_by,
                "tags": [{**t.registry_document(), "revision": t.revision} for t in tags],
                "active_charges": [{"id_tag": t.id_tag, "charges": running.get(t.key, []),
                                    "revision": revision} for t in tags if t.key in running]}
            add_to_outbox(db, registry_event("snapshot", revision, payload, None))
            return revision
        return int(self._commit(change))

    # unknown tokens -----------------------------------------------------------------------
    def record_unknown(self, event_id: str, id_tag: str, station_id: str,
                       at: datetime) -> bool:
        key = token_key(id_tag)
        u = unknown_id_tags.c
        with self._engine.begin() as db:
            try:
                with db.begin_nested():
                    db.execute(insert(processed_events).values(
                        event_id=f"unknown:{event_id}", event_type=UNKNOWN_SEEN,
                        processed_at=datetime.now(UTC)))
            except exc.IntegrityError as error:
                if violates(error, Violation.UNIQUE, "processed_events"):
                    return False  # this refusal was counted already
                raise
            if db.execute(select(id_tags.c.token_key).where(
                    id_tags.c.token_key == key)).first():
                return False
            if not db.execute(update(unknown_id_tags).where(
                    u.token_key == key, u.station_id == station_id).values(
                    count=u.count + 1,
                    first_seen_at=case((u.first_seen_at > at, at), else_=u.first_seen_at),
                    last_seen_at=case((u.last_seen_at < at, at), else_=u.last_seen_at))
                    ).rowcount:
                db.execute(insert(unknown_id_tags).values(
                    token_key=key, station_id=station_id, id_tag=id_tag, first_seen_at=at,
                    last_seen_at=at, count=1))
            return True

    def unknown_tags(self) -> list[UnknownTag]:
        u = unknown_id_tags.c
        with self._engine.connect() as db:
            return [UnknownTag(r.id_tag, r.station_id, r.first_seen_at, r.last_seen_at,
                               r.count)
                    for r in db.execute(select(unknown_id_tags).order_by(
                        u.last_seen_at.desc(), u.token_key, u.station_id))]

    # places and usage ---------------------------------------------------------------------
    def known_places(self) -> tuple[set[str], set[str]]:
        with self._engine.connect() as db:
            site_ids = set(db.execute(select(sites.c.site_id)).scalars())
            station_ids = set(db.execute(select(station_registrations.c.station_id)).scalars())
            station_ids |= set(db.execute(select(stations.c.station_id)).scalars())
        return site_ids, station_ids

    def keys_charged_at(self, station_ids: Collection[str]) -> set[str]:
        if not station_ids:
            return set()
        query = (select(func.lower(charges.c.id_tag)).distinct()
                 .where(charges.c.station_id.in_(sorted(station_ids)),
                        charges.c.id_tag.is_not(None)))
        with self._engine.connect() as db:
            return set(db.execute(query).scalars())

    def running_charges(self) -> dict[str, list[RunningCharge]]:
        c = charges.c
        query = (select(id_tags.c.token_key, c.station_id, c.transaction_id, c.started_at)
                 .select_from(charges.join(id_tags,
                                           id_tags.c.token_key == func.lower(c.id_tag)))
                 .where(c.stopped.is_(False)))
        found: dict[str, list[RunningCharge]] = {}
        with self._engine.connect() as db:
            for row in db.execute(query):
                found.setdefault(row.token_key, []).append(
                    RunningCharge(row.station_id, row.transaction_id, row.started_at))
        return found

    def usage_rows(self, start: datetime, end: datetime,
                   keys: Collection[str] | None = None) -> list[UsageRow]:
        c = charges.c
        query = (select(func.lower(c.id_tag).label("key"), c.station_id, sites.c.timezone,
                        c.started_at, c.meter_start_wh, c.meter_stop_wh, c.stopped,
                        c.transaction_id)
                 .select_from(charges.outerjoin(
                     station_registrations,
                     station_registrations.c.station_id == c.station_id)
                     .outerjoin(sites, sites.c.site_id == station_registrations.c.site_id))
                 .where(c.id_tag.is_not(None), c.started_at >= start, c.started_at < end,
                        # a started charge is listed at its start: the (sort_at, id) index
                        c.sort_at >= start, c.sort_at < end))
        if keys is not None:
            query = query.where(func.lower(c.id_tag).in_(sorted(keys)))
        with self._engine.connect() as db:
            rows = db.execute(query).all()
            latest = latest_registers(db, [(r.station_id, r.transaction_id) for r in rows
                                            if not r.stopped])
        return [UsageRow(r.key, r.station_id, r.timezone, r.started_at, energy(
            r.meter_start_wh, r.meter_stop_wh if r.stopped else latest.get(
                (r.station_id, r.transaction_id)))) for r in rows]
