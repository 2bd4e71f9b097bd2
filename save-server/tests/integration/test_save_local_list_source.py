"""The id tag registry as AuthorizationListSource (SQLite and PostgreSQL): a tag reaches a
station when unrestricted, restricted to it, or to its site; blocked or budget-spent tags are
Blocked; the last use comes from the charges; stations_for names a tag's stations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from save_server.bootstrap import Container
from save_server.domain.id_tags.model import IdTag, TagStatus
from save_server.infrastructure.db.tables import charges
from save_server.infrastructure.id_tags.store import SqlIdTagStore
from save_server.infrastructure.local_lists.source import SqlAuthorizationListSource

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def token(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}".upper()


def test_tags_allowed_by_site_station_or_everywhere(container: Container) -> None:
    registry = container.access_control().registry
    site = registry.create_site("Block A", by="test")
    here, there = token("CP-"), token("CP-")
    registry.register(here, 0, by="test", site_id=site.site_id)
    registry.register(there, 0, by="test")
    everywhere, at_site, at_here, at_there, lost, spent = (
        token(p) for p in ("ALL", "SITE", "HERE", "THERE", "LOST", "SPENT"))
    store = SqlIdTagStore(container.engine)
    store.save_tags([
        IdTag(everywhere, group_id=None), IdTag(at_site, site_ids=(site.site_id,)),
        IdTag(at_here, station_ids=(here,), token_type="KeyCode"),
        IdTag(at_there, station_ids=(there,)),
        IdTag(lost, status=TagStatus.BLOCKED, station_ids=(here,)),
        IdTag(spent, station_ids=(here,), budget_exhausted=True)], [], None)
    with container.engine.begin() as db:
        db.execute(charges.insert().values(station_id=here, transaction_id="1",
                                           id_tag=at_here.lower(), started_at=T0, sort_at=T0,
                                           stopped=False, status="charging"))
    source = SqlAuthorizationListSource(container.engine)
    entries = {e.id_tag: e for e in source.entries_for(here)}
    mine = {everywhere, at_site, at_here, lost, spent}
    assert mine <= set(entries) and at_there not in entries
    assert {tag for tag in mine if entries[tag].blocked} == {lost, spent}
    assert entries[at_here].last_used_at == T0
    assert (entries[at_here].token_type, entries[at_site].token_type) == ("KeyCode", "ISO14443")
    assert at_site not in {e.id_tag for e in source.entries_for(there)}
    assert source.stations_for(at_site) == frozenset({here})
    assert source.stations_for(at_there) == frozenset({there})
    assert source.stations_for(everywhere) is None
    assert source.stations_for("NOBODY") == frozenset()
    before = source.revision()
    store.save_tags([IdTag(everywhere, status=TagStatus.BLOCKED)], [], None)
    assert source.revision() > before


def test_entries_follow_every_change_of_the_registry(container: Container) -> None:
    """The tags are kept in memory per revision: each change shows at the next read, and a
    tag naming both the station and its site comes once."""
    registry = container.access_control().registry
    site = registry.create_site("Block B", by="test")
    here = token("CP-")
    registry.register(here, 0, by="test", site_id=site.site_id)
    card, other = token("CARD"), token("OTHER")
    store = SqlIdTagStore(container.engine)
    store.save_tags([IdTag(card, station_ids=(here,))], [], None)
    source = SqlAuthorizationListSource(container.engine)
    assert [e.id_tag for e in source.entries_for(here) if e.id_tag in (card, other)] == [card]
    store.save_tags([IdTag(card, status=TagStatus.BLOCKED, site_ids=(site.site_id,),
                           station_ids=(here,)), IdTag(other, station_ids=(token("CP-"),))],
                    [], None)
    mine = [e for e in source.entries_for(here) if e.id_tag in (card, other)]
    assert [(e.id_tag, e.blocked) for e in mine] == [(card, True)]
    store.delete_tag(card, [], None)
    assert card not in {e.id_tag for e in source.entries_for(here)}
