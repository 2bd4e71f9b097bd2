"""The dashboard's pure parts: languages and formats, the overview's states, counts, order
and pages, and the live feed's fan-out and resumption."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from save_server.infrastructure.dashboard import views
from save_server.infrastructure.dashboard.i18n import Formatter, choose_language, translations
from save_server.infrastructure.dashboard.live import LiveFeed


@pytest.mark.parametrize(("cookie", "header", "chosen"), [
    (None, "pt-BR,pt;q=0.9,en;q=0.8", "pt_BR"),
    (None, "en-US,en;q=0.9", "en"),
    (None, "fr-FR, en;q=0.5, pt;q=0.9", "pt_BR"),  # by quality, not by position
    (None, "de", "pt_BR"),  # nothing supported: SAVE's language
    ("en", "pt-BR", "en"),  # the switch wins
    ("xx", "en", "en"),
])
def test_the_language_comes_from_the_cookie_then_accept_language(
        cookie: str | None, header: str, chosen: str) -> None:
    assert choose_language(cookie, header) == chosen


def test_brazilian_numbers_dates_and_time_zone() -> None:
    pt = Formatter("pt_BR")
    assert pt.energy_kwh(1_234_500) == "1.234,5 kWh"
    at = datetime(2026, 12, 5, 15, 7, tzinfo=UTC)
    assert pt.when(at) == "05/12/2026 12:07"  # São Paulo, UTC-3
    assert pt.when(at, "America/Manaus") == "05/12/2026 11:07"
    en = Formatter("en")
    assert en.energy_kwh(1_234_500) == "1,234.5 kWh"
    assert en.when(at) == "12/05/2026 12:07"
    assert pt.duration(3 * 3600 + 5 * 60) == "3h05"


def test_every_message_of_the_catalog_is_translated() -> None:
    catalog = translations("pt_BR")
    assert catalog.gettext("Sign out") == "Sair"
    assert catalog.gettext("offline for more than 1 h") == "desconectadas há mais de 1 h"


def document(station_id: str, status: str = "connected", connectors: tuple[str, ...] = (),
             last_seen: datetime | None = None, name: str | None = None) -> dict:
    return {"id": station_id, "status": status, "name": name,
            "last_seen_at": last_seen.isoformat() if last_seen else None,
            "connectors": [{"connector_id": i + 1, "status": s}
                           for i, s in enumerate(connectors)]}


@pytest.mark.parametrize(("status", "connectors", "state"), [
    ("connected", ("available", "in_use"), "charging"),
    ("connected", ("faulted", "in_use"), "faulted"),
    ("disconnected", ("available",), "offline"),
    ("disconnected", ("faulted",), "faulted"),
    ("connected", ("unavailable", "unavailable"), "unavailable"),
    ("connected", ("available",), "available"),
    ("connected", (), "available"),
])
def test_a_stations_state(status: str, connectors: tuple[str, ...], state: str) -> None:
    assert views.summary(document("CP", status, connectors), None).state == state


def test_counts_problems_first_filters_and_pages() -> None:
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    stations = [views.summary(document(f"CP-{i:05d}", "connected", ("available",)), "s1")
                for i in range(120)]
    stations += [
        views.summary(document("Z-OFF-OLD", "disconnected", ("available",),
                               now - timedelta(hours=2)), "s2"),
        views.summary(document("Z-OFF-NEW", "disconnected", ("available",),
                               now - timedelta(minutes=5)), "s2"),
        views.summary(document("Z-FAULT", "connected", ("faulted",), name="Garagem"), "s1"),
        views.summary(document("Z-BUSY", "connected", ("in_use",)), "s1"),
    ]
    counts = views.counts(stations, now)
    assert (counts.total, counts.connected, counts.charging, counts.faulted,
            counts.offline_long) == (124, 122, 1, 1, 1)
    ordered = views.problems_first(stations)
    assert [s.station_id for s in ordered[:4]] == ["Z-FAULT", "Z-OFF-NEW", "Z-OFF-OLD",
                                                    "Z-BUSY"]
    rows, pages = views.page_of(ordered, 3)
    assert pages == 3 and len(rows) == 24
    assert views.page_of(ordered, 99)[0] == rows  # past the end: the last page
    assert [s.station_id for s in stations if views.OverviewQuery(site="s2").matches(s)] == [
        "Z-OFF-OLD", "Z-OFF-NEW"]
    assert [s.station_id for s in stations
            if views.OverviewQuery(search="garag").matches(s)] == ["Z-FAULT"]
    assert [s.station_id for s in stations
            if views.OverviewQuery(state="charging").matches(s)] == ["Z-BUSY"]


class Stations:
    """A fake station table: revisions and documents."""

    def __init__(self) -> None:
        self.revisions: dict[str, int] = {}
        self.documents: dict[str, str] = {}

    def write(self, station_id: str, status: str, *connectors: str) -> None:
        self.revisions[station_id] = self.revisions.get(station_id, 0) + 1
        self.documents[station_id] = json.dumps(document(station_id, status, connectors))


async def next_batch(subscription, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(subscription.queue.get(), timeout)


def test_the_feed_sends_each_tick_the_stations_that_moved_once() -> None:
    table = Stations()
    table.write("CP-1", "disconnected")
    table.write("CP-2", "connected", "available")
    feed = LiveFeed(lambda: dict(table.revisions), table.documents.get, interval=0.02)

    async def scenario() -> None:
        subscription, missed = feed.subscribe(None)
        assert missed == []
        await asyncio.sleep(0.1)  # the watcher's baseline
        for _ in range(5):  # many writes between two ticks: one entry
            table.write("CP-1", "connected", "in_use")
        event_id, stations = await next_batch(subscription)
        assert [(s.station_id, s.state) for s in stations] == [("CP-1", "charging")]
        # a reconnecting browser gets what it missed after its last event id
        table.write("CP-2", "connected", "faulted")
        later_id, _ = await next_batch(subscription)
        feed.unsubscribe(subscription)
        again, missed = feed.subscribe(event_id)
        assert missed is not None and [b[0] for b in missed] == [later_id]
        assert feed.subscribe("another-epoch-3")[1] is None  # unknown: reload
        epoch = event_id.partition("-")[0]
        # a Last-Event-ID header whose tick is no number int() reads ("²" passes isdigit)
        assert feed.subscribe(f"{epoch}-\u00b2")[1] is None
        feed.close()
        assert await next_batch(again) is None  # the stop ends every stream

    asyncio.run(scenario())


def test_a_live_message_names_only_the_stations_the_caller_may_see() -> None:
    from save_server.domain.access import Principal, Role
    from save_server.infrastructure.dashboard.pages import _message

    viewer = Principal("a", "v@x", Role.VIEWER, frozenset({"MINE"}), "session:1")
    batch = ("e-4", [views.summary(document("MINE", "connected", ("in_use",)), None),
                     views.summary(document("THEIRS", "connected", ("faulted",)), None)])
    message = _message(batch, viewer)
    assert message.startswith("id: e-4\nevent: stations\ndata: ")
    data = json.loads(message.split("data: ", 1)[1])
    assert [s["id"] for s in data] == ["MINE"]
