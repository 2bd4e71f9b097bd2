"""Id tag registry events as save-server publishes them (docs/events.md), for the tests."""

from __future__ import annotations

from typing import Any

from .registry_events import envelope, next_revision


def tag(id_tag: str, *, status: str = "active", token_type: str | None = None,
        group_id: str | None = None, expires_at: str | None = None,
        site_ids: list[str] | None = None, station_ids: list[str] | None = None,
        max_concurrent_charges: int = 1, budget_exhausted: bool = False,
        evse_types: list[str] | None = None) -> dict[str, Any]:
    return {"id_tag": id_tag, "token_type": token_type, "group_id": group_id,
            "status": status, "expires_at": expires_at, "site_ids": site_ids,
            "station_ids": station_ids, "max_concurrent_charges": max_concurrent_charges,
            "budget_exhausted": budget_exhausted, "evse_types": evse_types}


def updated(id_tag: str, revision: int | None = None, **fields: Any) -> dict[str, Any]:
    return envelope("id-tag-registry.tag-updated", None, tag(id_tag, **fields),
                    revision or next_revision())


def removed(id_tag: str, revision: int | None = None) -> dict[str, Any]:
    return envelope("id-tag-registry.tag-removed", None, {"id_tag": id_tag},
                    revision or next_revision())


def charges(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"charging_station_id": s, "transaction_id": t} for s, t in pairs]


def active_charges(id_tag: str, *pairs: tuple[str, str],
                   revision: int | None = None) -> dict[str, Any]:
    return envelope("id-tag-registry.active-charges", None,
                    {"id_tag": id_tag, "charges": charges(*pairs)},
                    revision or next_revision())


def snapshot(tags: list[dict[str, Any]], revision: int,
             running: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`tags` and `running` entries carry their own revision."""
    return envelope("id-tag-registry.snapshot", None,
                    {"requested_by": None, "tags": tags, "active_charges": running or []},
                    revision)
