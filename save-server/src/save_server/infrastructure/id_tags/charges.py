"""Charges as the id tags see them: each tag's running charges (published to the gateways
as `id-tag-registry.active-charges` by the worker's unit of work) and the energy of running
charges (their latest energy register reading)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, or_, select, tuple_

from save_server.domain.rules import Measurand
from save_server.infrastructure.db.tables import charge_meter_values, charges
from save_server.infrastructure.id_tags.revision import next_revision, registry_event
from save_server.infrastructure.id_tags.tables import id_tags
from save_server.infrastructure.outbox.writer import add_to_outbox


def running_charges(db: Connection, keys: Sequence[str] | None = None
                    ) -> dict[str, list[dict[str, str]]]:
    """The charges not ended yet, per tag key (all tags, or those of `keys`)."""
    key = func.lower(charges.c.id_tag)
    query = (select(key.label("key"), charges.c.station_id, charges.c.transaction_id)
             .where(charges.c.stopped.is_(False), charges.c.id_tag.is_not(None))
             .order_by(charges.c.station_id, charges.c.transaction_id))
    if keys is not None:
        query = query.where(key.in_(list(keys)))
    found: dict[str, list[dict[str, str]]] = {}
    for row in db.execute(query):
        found.setdefault(row.key, []).append({"charging_station_id": row.station_id,
                                              "transaction_id": row.transaction_id})
    return found


def publish_active_charges(db: Connection, keys: set[str], only_running: bool = False
                           ) -> None:
    """`id-tag-registry.active-charges` for each registered tag among `keys` whose charges
    started or ended in this transaction (the worker's unit of work calls it before commit),
    or, `only_running`, that was just registered while some of its charges run (a card
    enrolled while it charges: the gateways count that charge from now on)."""
    if not keys:
        return
    registered = db.execute(select(id_tags.c.token_key, id_tags.c.id_tag).where(
        id_tags.c.token_key.in_(sorted(keys)))).all()
    running = running_charges(db, [row.token_key for row in registered])
    for row in registered:
        if only_running and not running.get(row.token_key):
            continue
        add_to_outbox(db, registry_event("active-charges", next_revision(db), {
            "id_tag": row.id_tag, "charges": running.get(row.token_key, [])}, None))


def latest_registers(db: Connection, keys: list[tuple[str, str]]
                      ) -> dict[tuple[str, str], float]:
    """The highest energy register reading (Wh, no phase) of each running charge."""
    if not keys:
        return {}
    m = charge_meter_values.c
    query = (select(m.station_id, m.transaction_id, func.max(m.value).label("value"))
             .where(tuple_(m.station_id, m.transaction_id).in_(keys),
                    m.measurand == Measurand.ENERGY_REGISTER.value,
                    or_(m.phase.is_(None), m.phase == ""))
             .group_by(m.station_id, m.transaction_id))
    return {(r.station_id, r.transaction_id): r.value for r in db.execute(query)}


def energy(start_wh: float | None, stop_wh: float | None) -> float | None:
    if start_wh is None or stop_wh is None:
        return None
    return max(stop_wh - start_wh, 0.0)
