"""SQL adapter of the LocalListStore port (PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from save_server.domain.local_lists import (
    ListEntry,
    ListStatus,
    LocalListSend,
    LocalListState,
    LocalListStore,
    Support,
    UpdateType,
)
from save_server.domain.rules import StationStatus
from save_server.infrastructure.db.tables import station_connections, stations
from save_server.infrastructure.local_lists.tables import local_list_sends, local_list_states


class SqlLocalListStore(LocalListStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def station_known(self, station_id: str) -> bool:
        with self._engine.connect() as db:
            for column in (stations.c.station_id, local_list_states.c.station_id):
                if db.execute(select(column).where(column == station_id)).first():
                    return True
        return False

    def get(self, station_id: str) -> LocalListState | None:
        query = select(local_list_states).where(local_list_states.c.station_id == station_id)
        with self._engine.connect() as db:
            row = db.execute(query).mappings().first()
        return None if row is None else _state(row)

    def save(self, state: LocalListState, with_held: bool = True) -> None:
        values = _row(state)
        changes = values if with_held else {k: v for k, v in values.items() if k != "held"}
        with self._engine.begin() as db:
            changed = db.execute(update(local_list_states).where(
                local_list_states.c.station_id == state.station_id).values(changes)).rowcount
            if not changed:
                db.execute(insert(local_list_states).values(station_id=state.station_id,
                                                            **values))

    def record(self, send: LocalListSend) -> None:
        with self._engine.begin() as db:
            db.execute(insert(local_list_sends).values(
                command_id=send.command_id, station_id=send.station_id,
                list_version=send.version, update_type=send.update_type.value,
                entries=send.entries, part=send.part, parts=send.parts, sent_at=send.sent_at,
                outcome=send.outcome, status=send.status and send.status[:50],
                reason=send.reason[:40]))

    def sends(self, station_id: str, limit: int) -> list[LocalListSend]:
        t = local_list_sends
        query = (select(t).where(t.c.station_id == station_id)
                 .order_by(t.c.sent_at.desc(), t.c.list_version.desc()).limit(limit))
        with self._engine.connect() as db:
            return [LocalListSend(
                r["command_id"], r["station_id"], r["list_version"],
                UpdateType(r["update_type"]), r["entries"], r["part"], r["parts"],
                r["sent_at"], r["outcome"], r["status"], r["reason"])
                for r in db.execute(query).mappings()]

    def unchecked_connected(self, before: datetime) -> list[tuple[str, str | None]]:
        checked = select(local_list_states.c.station_id).where(
            local_list_states.c.station_id == stations.c.station_id)
        c = station_connections.c
        current = (select(c.connection_id)
                   .where(c.station_id == stations.c.station_id, c.disconnected_at.is_(None))
                   .order_by(c.first_seen_at.desc()).limit(1).scalar_subquery())
        query = (select(stations.c.station_id, current)
                 .where(stations.c.status == StationStatus.CONNECTED.value,
                        stations.c.last_connected_at < before, ~checked.exists())
                 .order_by(stations.c.station_id))
        with self._engine.connect() as db:
            return [(row[0], row[1]) for row in db.execute(query)]

    def stations_holding(self, keys: Collection[str]) -> list[str]:
        """Reads the held lists of the supporting stations (one JSON document each): cheaper
        than the full comparison every supporting station would otherwise get."""
        t = local_list_states.c
        query = (select(t.station_id, t.held).where(t.support == Support.SUPPORTED.value)
                 .order_by(t.station_id))
        with self._engine.connect() as db:
            return [row.station_id for row in db.execute(query)
                    if row.held is None or any(k in row.held for k in keys)]

    def stations(self, support: Support | None) -> list[str]:
        t = local_list_states
        query = select(t.c.station_id).order_by(t.c.station_id)
        if support is not None:
            query = query.where(t.c.support == support.value)
        with self._engine.connect() as db:
            return list(db.execute(query).scalars())


def _row(state: LocalListState) -> dict[str, Any]:
    held = None if state.held is None else {
        k: [e.id_tag, e.status.value, e.expires_at.isoformat() if e.expires_at else None,
            e.parent_id_tag, e.token_type] for k, e in state.held.items()}
    return {"support": state.support.value, "ocpp_version": state.ocpp_version,
            "firmware_version": state.firmware_version and state.firmware_version[:50],
            "enabled": state.enabled, "max_list_size": state.max_list_size,
            "max_per_message": state.max_per_message, "last_version": state.last_version,
            "acknowledged_version": state.acknowledged_version, "held": held,
            "source_revision": state.source_revision,
            "clear_cache_pending": state.clear_cache_pending, "updated_at": state.updated_at}


def _state(row: Any) -> LocalListState:
    held = None if row["held"] is None else {
        k: ListEntry(v[0], ListStatus(v[1]), datetime.fromisoformat(v[2]) if v[2] else None,
                     v[3], v[4]) for k, v in row["held"].items()}
    return LocalListState(
        row["station_id"], Support(row["support"]), row["ocpp_version"],
        row["firmware_version"], row["enabled"], row["max_list_size"], row["max_per_message"],
        row["last_version"], row["acknowledged_version"], held, row["source_revision"],
        row["clear_cache_pending"], row["updated_at"])
