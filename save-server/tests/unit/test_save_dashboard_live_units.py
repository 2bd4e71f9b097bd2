"""The dashboard's live and operational parts without servers: refused charging profiles in
the overview's order and filter."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from save_server.infrastructure.dashboard import power_view, views
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


MODEL = {"site_id": "S", "supply": "three-phase", "limit_a": 100.0, "margin": 0.1,
         "connectors": [
             {"charging_station_id": "TRI", "connector_id": 1, "phases": ["L1", "L2", "L3"]},
             {"charging_station_id": "MONO", "connector_id": 1, "phases": ["L2"]},
             {"charging_station_id": "STUCK", "connector_id": 2, "phases": ["L3"]}]}


def test_the_gauge_adds_each_connector_on_the_site_phases_it_uses() -> None:
    power = {"building": {"per_phase_a": {"L1": 10.0, "L2": 20.0, "L3": 30.0},
                          "source": "measured"},
             "connectors": [
                 {"charging_station_id": "TRI", "connector_id": 1, "allocation_a": 16.0,
                  "counted_a": None, "measured_a": 15.0},
                 {"charging_station_id": "MONO", "connector_id": 1, "allocation_a": 0.0,
                  "counted_a": None, "measured_a": None},  # paused
                 {"charging_station_id": "STUCK", "connector_id": 2, "allocation_a": None,
                  "counted_a": 32.0, "measured_a": 31.0}]}  # uncontrolled: its maximum
    phases = power_view.gauges(MODEL, power)
    assert [(g.phase, g.usable_a, g.building_a, g.allocated_a, g.measured_a)
            for g in phases] == [("L1", 90.0, 10.0, 16.0, 25.0), ("L2", 90.0, 20.0, 16.0, 35.0),
                                 ("L3", 90.0, 30.0, 48.0, 76.0)]
    assert [round(g.headroom_a, 1) for g in phases] == [64.0, 54.0, 12.0]
    drawing = power_view.gauge_svg(phases, "<Power>", {"building": "prédio"})
    assert "&lt;Power&gt;" in drawing and "<Power>" not in drawing and "prédio" in drawing
    assert drawing.count("stroke-dasharray") == 3  # a usable-limit line per phase


def test_a_single_phase_site_has_one_gauge_and_no_measure_without_readings() -> None:
    model = {**MODEL, "supply": "single-phase", "connectors": []}
    phases = power_view.gauges(model, {"connectors": [], "building": {"per_phase_a": None}})
    assert [(g.phase, g.allocated_a, g.measured_a) for g in phases] == [("L1", 0.0, None)]
    assumed = {"per_phase_a": {"L1": 12.0}, "source": "fallback"}  # not measured
    phases = power_view.gauges(model, {"connectors": [], "building": assumed})
    assert [(g.building_a, g.measured_a) for g in phases] == [(12.0, None)]


def test_the_history_takes_the_most_loaded_phase_of_each_allocation_in_order() -> None:
    payloads = [
        {"computed_at": "2026-12-05T10:05:00Z", "queue": [],
         "connectors": [{"charging_station_id": "MONO", "connector_id": 1, "limit_a": 20.0},
                        {"charging_station_id": "TRI", "connector_id": 1, "limit_a": 10.0}],
         "building_a": {"L1": 5.0, "L2": 7.0}},
        {"computed_at": "2026-12-05T10:00:00Z", "building_a": {},
         "queue": [{"charging_station_id": "MONO", "connector_id": 1}],
         "connectors": [{"charging_station_id": "STUCK", "connector_id": 2,
                         "limit_a": None, "reserved_a": 32.0}]},
        {"computed_at": None}]
    points = power_view.history(MODEL, payloads)
    assert [(p.at.minute, p.allocated_a, p.building_a, p.paused) for p in points] == [
        (0, 32.0, 0.0, 1), (5, 30.0, 7.0, 0)]


def test_the_allocation_history_chart_draws_steps_and_the_usable_limit() -> None:
    from datetime import UTC, datetime, timedelta

    from save_server.infrastructure.dashboard.i18n import Formatter
    from save_server.infrastructure.dashboard.sites_page import _history_chart

    at = datetime.now(UTC) - timedelta(hours=2)
    payloads = [{"computed_at": (at + timedelta(minutes=m)).isoformat(), "queue": [],
                 "building_a": {"L2": building},
                 "connectors": [{"charging_station_id": "MONO", "connector_id": 1,
                                 "limit_a": limit}]}
                for m, limit, building in ((0, 16.0, 7.0), (30, 24.5, 9.0))]
    drawing = _history_chart(Formatter("pt_BR"), MODEL, payloads, "America/Sao_Paulo").decode()
    values = re.findall(r'<desc class="value">\d\d:\d\d: ([0-9,]+)</desc>', drawing)
    # allocated and building: a step per allocation, held until now; the usable limit: a line
    assert values == ["16,0", "16,0", "24,5", "24,5", "7,0", "7,0", "9,0", "9,0",
                      "90,0", "90,0"]
    assert "Alocado aos carregadores (A)" in drawing and "<script src" not in drawing
    local = (at.astimezone(ZoneInfo("America/Sao_Paulo"))).strftime("%H:%M")
    assert f"{local}: 16,0" in drawing  # times on the site's clock
    empty = _history_chart(Formatter("en"), MODEL, [], "UTC", "not <available>").decode()
    assert "not &lt;available&gt;" in empty and 'class="value"' not in empty


def test_every_text_of_the_templates_and_pages_has_a_brazilian_translation() -> None:
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    import save_server.infrastructure.dashboard as dashboard

    root = Path(dashboard.__file__).parent
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    found = {message for _, _, message, _, _ in extract_from_dir(
        str(root), method_map, keywords={"_": None, "gettext": None})
        if isinstance(message, str)}
    with (root / "locale/pt_BR/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po, locale="pt_BR")
    assert len(found) > 100
    assert sorted(m for m in found if m not in catalog or not catalog[m].string) == []
