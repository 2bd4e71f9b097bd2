"""The load-management store on SQLAlchemy Core: each write commits with its event in the
outbox and marks that event applied, so its own delivery back is a duplicate and a replay
(into an empty database) applies it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exc, insert, select

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.allocator import BuildingLoad
from save_server.domain.load.documents import (
    model_document,
    model_from_document,
    turns_document,
    turns_from_document,
)
from save_server.domain.load.model import ConnectorKey, ElectricalModel, InvalidElectricalModel
from save_server.domain.load.ports import AllocationRound, LoadStore
from save_server.domain.load.rotation import Turn
from save_server.infrastructure.db.tables import processed_events
from save_server.infrastructure.id_tags.tables import id_tag_groups
from save_server.infrastructure.load.tables import (
    site_building_loads,
    site_electrical_models,
    site_power,
    site_rotation_turns,
)
from save_server.infrastructure.outbox.writer import add_all_to_outbox, add_to_outbox
from save_server.infrastructure.registry.tables import sites


class SqlLoadStore(LoadStore):
    def __init__(self, engine: Engine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine, self._on_commit = engine, on_commit

    def _commit(self, change: Callable[[Connection], Any]) -> Any:
        try:
            with self._engine.begin() as db:
                result = change(db)
        except exc.IntegrityError:
            return False  # the event id was applied meanwhile (a concurrent redelivery)
        self._on_commit()
        return result

    # live writes ---------------------------------------------------------------------------
    def save_model(self, model: ElectricalModel, event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            _put_model(db, model, event.occurred_at or datetime.now(UTC))
            _require_groups(db, model)
            add_to_outbox(db, event)  # also records the event as applied
        self._commit(change)

    def record_load(self, site_id: str, load: BuildingLoad, event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            _put_load(db, site_id, load)
            add_to_outbox(db, event)  # also records the event as applied
        self._commit(change)

    def publish(self, event: BusinessEvent) -> None:
        self._commit(lambda db: add_to_outbox(db, event))

    def record_rounds(self, rounds: Sequence[AllocationRound]) -> None:
        if not rounds:
            return
        views = {r.site_id: r for r in rounds}  # the last of each site
        turns: dict[str, AllocationRound] = {}
        for r in rounds:
            kept = turns.get(r.site_id)
            if r.event is not None and r.turns is not None and (kept is None
                                                                 or kept.at <= r.at):
                turns[r.site_id] = r
        with self._engine.begin() as db:
            add_all_to_outbox(db, [r.event for r in rounds if r.event is not None])
            _put_turns_if_newer(db, {r.site_id: (r.turns or {}, r.at)
                                     for r in turns.values()})
            db.execute(delete(site_power).where(site_power.c.site_id.in_(list(views))))
            db.execute(insert(site_power), [
                {"site_id": r.site_id, "document": r.power, "computed_at": r.at}
                for r in views.values()])
        self._on_commit()

    def turns(self, site_id: str) -> dict[ConnectorKey, Turn]:
        with self._engine.connect() as db:
            kept = db.execute(select(site_rotation_turns.c.turns).where(
                site_rotation_turns.c.site_id == site_id)).scalar()
        return turns_from_document(kept) if kept else {}

    def apply_turns(self, event_id: str, site_id: str, turns: Mapping[ConnectorKey, Turn],
                    at: datetime) -> bool:
        def change(db: Connection) -> bool:
            if not _mark(db, event_id, "load-management.allocation"):
                return False
            _put_turns_if_newer(db, {site_id: (turns, at)})
            return True
        return bool(self._commit(change))

    def power(self, site_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as db:
            return db.execute(select(site_power.c.document).where(
                site_power.c.site_id == site_id)).scalar()

    # reads ---------------------------------------------------------------------------------
    def model(self, site_id: str) -> ElectricalModel | None:
        with self._engine.connect() as db:
            row = db.execute(select(site_electrical_models.c.model).where(
                site_electrical_models.c.site_id == site_id)).first()
        return model_from_document(row.model) if row else None

    def models(self) -> list[ElectricalModel]:
        with self._engine.connect() as db:
            rows = db.execute(select(site_electrical_models.c.model).order_by(
                site_electrical_models.c.site_id)).all()
        return [model_from_document(r.model) for r in rows]

    def load(self, site_id: str) -> BuildingLoad | None:
        with self._engine.connect() as db:
            row = db.execute(select(site_building_loads).where(
                site_building_loads.c.site_id == site_id)).first()
        return BuildingLoad(row.per_phase_a, row.measured_at) if row else None

    # replays -------------------------------------------------------------------------------
    def apply_model(self, event_id: str, model: ElectricalModel, at: datetime) -> bool:
        def change(db: Connection) -> bool:
            if not _mark(db, event_id, "load-management.electrical-model-set"):
                return False
            kept = db.execute(select(site_electrical_models.c.updated_at).where(
                site_electrical_models.c.site_id == model.site_id)).scalar()
            if kept is None or kept <= at:
                _put_model(db, model, at)
            return True
        return bool(self._commit(change))

    def apply_load(self, event_id: str, site_id: str, load: BuildingLoad) -> bool:
        def change(db: Connection) -> bool:
            if not _mark(db, event_id, "load-management.measurement-recorded"):
                return False
            _put_load(db, site_id, load)
            return True
        return bool(self._commit(change))


def _mark(db: Connection, event_id: str, event_type: str) -> bool:
    """Record the event as applied; False when it already was."""
    if db.execute(select(processed_events.c.event_id).where(
            processed_events.c.event_id == event_id)).first():
        return False
    db.execute(insert(processed_events).values(event_id=event_id, event_type=event_type,
                                               processed_at=datetime.now(UTC)))
    return True


def put_model_if_newer(db: Connection, model: ElectricalModel, at: datetime) -> None:
    """A replayed model applies only over an older one."""
    kept = db.execute(select(site_electrical_models.c.updated_at).where(
        site_electrical_models.c.site_id == model.site_id)).scalar()
    if kept is None or kept <= at:
        _put_model(db, model, at)


def put_load(db: Connection, site_id: str, load: BuildingLoad) -> None:
    _put_load(db, site_id, load)


def _put_model(db: Connection, model: ElectricalModel, at: datetime) -> None:
    db.execute(delete(site_electrical_models).where(
        site_electrical_models.c.site_id == model.site_id))
    db.execute(insert(site_electrical_models).values(
        site_id=model.site_id, model=model_document(model), updated_at=at))


def _require_groups(db: Connection, model: ElectricalModel) -> None:
    """The model's id tag groups exist, checked after its write in its transaction: on
    PostgreSQL the key-share lock makes a concurrent group deletion wait for this commit (it
    then finds the model and refuses), or this wait for the deletion's (and find the group
    gone); on SQLite the write above holds the one write lock."""
    named = [group_id for group_id, _ in model.group_priorities]
    if not named:
        return
    found = set(db.execute(select(id_tag_groups.c.group_id)
                           .where(id_tag_groups.c.group_id.in_(named))
                           .with_for_update(read=True, key_share=True)).scalars())
    for group_id in named:
        if group_id not in found:
            raise InvalidElectricalModel.unknown_group(group_id)


def sites_naming_group(db: Connection, group_id: str) -> list[tuple[str, str]]:
    """(site id, name) of each site whose electrical model names this id tag group in its
    `group_priorities`, by name; the model left behind by a deleted site does not count."""
    m = site_electrical_models.c
    rows = db.execute(select(m.site_id, m.model, sites.c.name)
                      .join(sites, sites.c.site_id == m.site_id)
                      .order_by(sites.c.name, m.site_id))
    return [(row.site_id, row.name) for row in rows
            if any(g == group_id for g, _ in model_from_document(row.model).group_priorities)]


def _put_load(db: Connection, site_id: str, load: BuildingLoad) -> None:
    """The later measurement wins, whatever order they arrive in."""
    kept = db.execute(select(site_building_loads.c.measured_at).where(
        site_building_loads.c.site_id == site_id)).scalar()
    if kept is not None and kept > load.measured_at:
        return
    db.execute(delete(site_building_loads).where(site_building_loads.c.site_id == site_id))
    db.execute(insert(site_building_loads).values(
        site_id=site_id, per_phase_a=dict(load.per_phase), measured_at=load.measured_at))


def _put_turns_if_newer(db: Connection,
                        turns: Mapping[str, tuple[Mapping[ConnectorKey, Turn], datetime]]
                        ) -> None:
    """Each site's allocation turns (and when they were computed) replace the kept ones
    unless those are later; three statements for all the sites."""
    if not turns:
        return
    kept = dict(db.execute(select(site_rotation_turns.c.site_id,
                                  site_rotation_turns.c.computed_at).where(
        site_rotation_turns.c.site_id.in_(list(turns)))).all())
    newer = [site for site, (_, at) in turns.items() if site not in kept or kept[site] <= at]
    if not newer:
        return
    db.execute(delete(site_rotation_turns).where(site_rotation_turns.c.site_id.in_(newer)))
    db.execute(insert(site_rotation_turns), [
        {"site_id": site, "turns": turns_document(turns[site][0]), "computed_at": turns[site][1]}
        for site in newer])
