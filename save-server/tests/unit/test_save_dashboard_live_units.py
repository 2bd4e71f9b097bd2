"""The dashboard's live and operational parts without servers: refused charging profiles in
the overview's order and filter."""

from __future__ import annotations

from typing import Any

from save_server.infrastructure.dashboard import views
from save_server.infrastructure.dashboard.load_view import refused_stations


def _document(station_id: str, status: str, *connectors: str) -> dict[str, Any]:
    return {"id": station_id, "status": status, "name": None, "last_seen_at": None,
            "connectors": [{"connector_id": i + 1, "status": s}
                           for i, s in enumerate(connectors)]}


def _power_row(station_id: str, profile: str | None, failsafe: str | None = None
               ) -> dict[str, Any]:
    return {"charging_station_id": station_id, "connector_id": 1,
            "last_profile": None if profile is None else {"result": profile, "limit_a": 6},
            "failsafe": None if failsafe is None else {"result": failsafe, "limit_a": 0}}


def test_stations_whose_profile_or_failsafe_was_not_accepted_are_refused() -> None:
    documents = [{"connectors": [_power_row("OK", "accepted", "accepted"),
                                 _power_row("NEVER-SENT", None),
                                 _power_row("REJECTED", "rejected"),
                                 _power_row("TIMED-OUT", "timeout")]},
                 {"connectors": [_power_row("FAILSAFE", None, "call_error")]}, {}]
    assert refused_stations(documents) == {"REJECTED", "TIMED-OUT", "FAILSAFE"}


def test_a_refused_profile_comes_after_faulted_and_offline_before_the_rest() -> None:
    stations = [views.summary(_document("A-OK", "connected", "available"), None),
                views.summary(_document("B-BUSY-REFUSED", "connected", "in_use"), None, True),
                views.summary(_document("C-OFF", "disconnected", "available"), None),
                views.summary(_document("D-FAULT", "connected", "faulted"), None, True),
                views.summary(_document("E-UNAV", "connected", "unavailable"), None)]
    assert [s.station_id for s in views.problems_first(stations)] == [
        "D-FAULT", "C-OFF", "B-BUSY-REFUSED", "E-UNAV", "A-OK"]
    refused = views.OverviewQuery(state=views.PROFILE_REFUSED)
    assert [s.station_id for s in stations if refused.matches(s)] == [
        "B-BUSY-REFUSED", "D-FAULT"]
    assert views.PROFILE_REFUSED in views.FILTERS
