"""The invariant checker of a load-management run: reads the run's events from the
event-store and checks them, and checks what the simulated cars really drew.

1. Every `load-management.allocation` keeps every node and phase within its usable limit
   (limit less margin), building load and connectors counted at their maximum included,
   unless the allocation itself reports the node as overloaded (then everything on it is 0).
2. No connector waits in the rotation queue longer than the rotation promises:
   (position when paused + 1) * (slot + grace), `grace` covering one recomputation.
3. What the cars draw, plus the building, stays within the usable limit at every tick,
   except within `window` seconds after the building's load rose (the documented transition:
   a measurement is followed by a recomputation and the decreases) and never above the
   breaker's own limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx

PHASES = ("L1", "L2", "L3")


def fetch_events(event_store: str, headers: dict[str, str], types: Iterable[str]
                 ) -> list[dict[str, Any]]:
    """Every event of these types, oldest first (following the `Link` pages)."""
    events: list[dict[str, Any]] = []
    url: str | None = f"{event_store}/events"
    params: Any = [("type", t) for t in types] + [("limit", "1000")]
    with httpx.Client(headers=headers, timeout=30) as client:
        while url:
            answer = client.get(url, params=params)
            answer.raise_for_status()
            events += answer.json()
            link = answer.headers.get("link", "")
            url = link[link.index("<") + 1:link.index(">")] if "rel=\"next\"" in link else None
            params = None
    return events


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_allocations(model: dict[str, Any], allocations: list[dict[str, Any]]) -> list[str]:
    usable = model["limit_a"] * (1 - model["margin"])
    phases = {(c["charging_station_id"], c["connector_id"]): c["phases"]
              for c in model["connectors"]}
    problems = []
    for event in allocations:
        payload = event["payload"]
        overloaded = {o["phase"] for o in payload["overloaded"] if o["node"] == "supply"}
        load = {p: payload["building_a"].get(p, 0.0) for p in PHASES}
        given = dict.fromkeys(PHASES, 0.0)
        for row in payload["connectors"]:
            key = (row["charging_station_id"], row["connector_id"])
            for phase in phases[key]:
                load[phase] += (row["limit_a"] or 0.0) + (row["reserved_a"] or 0.0)
                given[phase] += row["limit_a"] or 0.0
        for phase in PHASES:
            if phase in overloaded:
                if given[phase] > 0:
                    problems.append(f"{payload['computed_at']}: {phase} overloaded but "
                                    f"{given[phase]} A given")
            elif load[phase] > usable + 1e-6:
                problems.append(f"{payload['computed_at']}: {phase} at {load[phase]:.2f} A "
                                f"> {usable:.2f} A")
    return problems


def check_waits(allocations: list[dict[str, Any]], slot_s: float, grace_s: float,
                until: datetime) -> list[str]:
    """Allocations are published when they change: a wait still open at `until` (the run's
    end) is checked against it too."""
    deadline: dict[tuple[str, int], tuple[datetime, float]] = {}
    problems = []
    for event in allocations:
        payload = event["payload"]
        at = _time(payload["computed_at"])
        queue = [(q["charging_station_id"], q["connector_id"]) for q in payload["queue"]]
        for position, key in enumerate(queue):
            since, bound = deadline.setdefault(key, (at, (position + 1) * (slot_s + grace_s)))
            if (at - since).total_seconds() > bound:
                problems.append(f"{key} waits {(at - since).total_seconds():.1f} s > {bound} s")
        for key in [k for k in deadline if k not in queue]:
            del deadline[key]
    for key, (since, bound) in deadline.items():
        if (until - since).total_seconds() > bound:
            problems.append(f"{key} still waits at the end: {(until - since).total_seconds():.1f}"
                            f" s > {bound} s")
    return problems


def check_draws(samples: list[Any], limit_a: float, margin: float, rises: list[float],
                window_s: float) -> list[str]:
    usable = limit_a * (1 - margin)
    problems = []
    for sample in samples:
        for phase in PHASES:
            total = sample.draws[phase] + sample.building[phase]
            in_window = any(0 <= sample.wall - rise <= window_s for rise in rises)
            if total > limit_a + 1e-6 or (total > usable + 1e-6 and not in_window):
                problems.append(f"t={sample.wall:.1f}: {phase} draws {total:.2f} A "
                                f"(usable {usable:.2f}, breaker {limit_a})")
    return problems
