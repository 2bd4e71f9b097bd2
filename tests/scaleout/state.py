"""Read the state of save-server and the event-store through their public HTTP APIs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.platform import api_headers


def get_all(url: str, params: dict[str, Any] | None = None) -> list[dict]:
    """Follow `Link: rel="next"` pages to the end."""
    items: list[dict] = []
    next_url: str | None = url
    with httpx.Client(timeout=30, headers=api_headers()) as client:
        while next_url:
            response = client.get(next_url, params=params if next_url == url else None)
            response.raise_for_status()
            items.extend(response.json())
            next_url = response.links.get("next", {}).get("url")
    return items


def stations(save_server_url: str) -> dict[str, dict]:
    return {s["id"]: s for s in get_all(f"{save_server_url}/charging-stations")}


def charges(save_server_url: str) -> dict[tuple[str, str], dict]:
    """Charges by (station, transaction id), without the database's own `id`."""
    found = get_all(f"{save_server_url}/charges", {"limit": 1000})
    return {(c["charging_station_id"], c["transaction_id"]):
            {k: v for k, v in c.items() if k != "id"} for c in found}


def normalised_station(station: dict) -> dict:
    """Lists in a fixed order, so two equal states compare equal."""
    return {**station,
            "connectors": sorted(station["connectors"], key=lambda c: c["connector_id"]),
            "readings": sorted(station["readings"],
                               key=lambda r: (r["measurand"], r["phase"] or ""))}


def save_server_state(save_server_url: str) -> tuple[dict, dict]:
    return ({sid: normalised_station(s) for sid, s in stations(save_server_url).items()},
            charges(save_server_url))


def events(event_store_url: str) -> list[dict]:
    return get_all(f"{event_store_url}/events", {"limit": 1000})


def differences(actual: dict, expected: dict, limit: int = 5) -> list[str]:
    lines = [f"missing {key!r}" for key in expected.keys() - actual.keys()]
    lines += [f"unexpected {key!r}" for key in actual.keys() - expected.keys()]
    for key in sorted(actual.keys() & expected.keys(), key=repr):
        if actual[key] != expected[key]:
            fields = {f: (actual[key].get(f), expected[key].get(f))
                      for f in expected[key] if actual[key].get(f) != expected[key].get(f)}
            lines.append(f"{key!r}: (actual, expected) {fields}")
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])
