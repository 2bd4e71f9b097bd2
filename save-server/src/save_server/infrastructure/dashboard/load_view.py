"""What the dashboard reads of site load management: the load manager's latest power
document per site (`site_power`, the same documents `GET /sites/{id}/power` answers on every
replica), and from them the stations whose charging profiles were refused."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, select

from save_server.infrastructure.load.tables import site_power

ACCEPTED = "accepted"
PowerDocuments = Callable[[], dict[str, dict[str, Any]]]  # site id → its power document


def power_documents(engine: Engine) -> PowerDocuments:
    def read() -> dict[str, dict[str, Any]]:
        with engine.connect() as db:
            return {site_id: document for site_id, document in db.execute(
                select(site_power.c.site_id, site_power.c.document))}
    return read


def _refused(result: Any) -> bool:
    return result is not None and result != ACCEPTED


def refused_stations(documents: Iterable[Mapping[str, Any]]) -> set[str]:
    """Stations with a connector whose last profile, or whose failsafe, was not accepted
    (rejected, a CallError, no answer in time, unsupported, offline)."""
    refused = set()
    for document in documents:
        for row in document.get("connectors") or ():
            profile, failsafe = row.get("last_profile") or {}, row.get("failsafe") or {}
            if _refused(profile.get("result")) or _refused(failsafe.get("result")):
                refused.add(str(row.get("charging_station_id")))
    return refused


def power_stamps(engine: Engine) -> Callable[[str], Any]:
    """When the site's power document was last written (None: never): the sites page's live
    stream compares it each second (one primary-key read)."""
    def read(site_id: str) -> Any:
        with engine.connect() as db:
            return db.execute(select(site_power.c.computed_at).where(
                site_power.c.site_id == site_id)).scalar()
    return read
