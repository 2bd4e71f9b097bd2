"""`id-tags.*` business events back into tags and groups, for a replay into a wiped database
(docs/architecture.md, "What a replay rebuilds"). Each event carries its tag or group whole,
and a tag's events the revision its change took: the id tag registry's counter is raised to
it, so after a rebuild the gateways' copies (which hold those revisions) accept what comes
next. Not rebuilt: the unknown tokens (derived from the gateways' events, they come back as
cards are presented again) and `budget_exhausted` (worked out again by the enforcement's next
check, which republishes it).

`project(db, event_type, payload)` runs on the worker's connection (its transaction); the
`projections` families of save-server's worker call it for `TYPES`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from save_server.domain.id_tags import (
    IdTag,
    IdTagGroup,
    InvalidIdTag,
    TagStatus,
    check_group,
    check_tag,
    token_key,
)
from save_server.infrastructure.id_tags.store import tag_row
from save_server.infrastructure.id_tags.tables import (
    id_tag_groups,
    id_tag_revision,
    id_tags,
    unknown_id_tags,
)

TAG_SAVED = ("id-tags.tag-created", "id-tags.tag-updated", "id-tags.tag-enrolled")
TAG_DELETED = "id-tags.tag-deleted"
GROUP_SAVED = ("id-tags.group-created", "id-tags.group-updated")
GROUP_DELETED = "id-tags.group-deleted"
TYPES = (*TAG_SAVED, TAG_DELETED, *GROUP_SAVED, GROUP_DELETED)


class UnusableIdTagEvent(ValueError):
    """An `id-tags.*` event that lacks what its projection needs (poison)."""


def project(db: Connection, event_type: str, payload: Mapping[str, Any],
            occurred_at: datetime | None = None) -> None:
    try:
        if event_type in TAG_SAVED:
            _save_tag(db, _tag(payload), occurred_at or datetime.now(UTC))
        elif event_type == TAG_DELETED:
            db.execute(delete(id_tags).where(id_tags.c.token_key == token_key(
                str(payload["id_tag"]))))
            _raise_revision(db, int(payload.get("revision") or 0))
        elif event_type in GROUP_SAVED:
            group = check_group(IdTagGroup(str(payload["group_id"]), str(payload["label"]),
                                           payload.get("monthly_budget_kwh")))
            if not db.execute(update(id_tag_groups).where(
                    id_tag_groups.c.group_id == group.group_id)
                    .values(group.document())).rowcount:
                db.execute(insert(id_tag_groups).values(group.document()))
        elif event_type == GROUP_DELETED:
            db.execute(delete(id_tag_groups).where(
                id_tag_groups.c.group_id == str(payload["group_id"])))
        else:
            raise UnusableIdTagEvent(f"not an id tag event: {event_type}")
    except (KeyError, TypeError, ValueError, InvalidIdTag) as error:
        if isinstance(error, UnusableIdTagEvent):
            raise
        raise UnusableIdTagEvent(f"{event_type}: unusable payload ({error})") from error


def _tag(payload: Mapping[str, Any]) -> IdTag:
    expires = payload.get("expires_at")
    sites, stations = payload.get("site_ids"), payload.get("station_ids")
    return check_tag(IdTag(
        str(payload["id_tag"]), payload.get("token_type"), payload.get("group_id"),
        payload.get("holder"), TagStatus(payload["status"]),
        datetime.fromisoformat(expires.replace("Z", "+00:00")).astimezone(UTC)
        if expires else None,
        tuple(sites) if sites is not None else None,
        tuple(stations) if stations is not None else None,
        int(payload["max_concurrent_charges"]), payload.get("monthly_budget_kwh"),
        int(payload.get("revision") or 0),
        evse_types=tuple(payload["evse_types"]) if payload.get("evse_types") is not None
        else None))  # absent from events before 0014_id_tag_groups_evse_types: every type


def _save_tag(db: Connection, tag: IdTag, updated_at: datetime) -> None:
    row = tag_row(tag, updated_at)
    if not db.execute(update(id_tags).where(id_tags.c.token_key == tag.key)
                      .values(row)).rowcount:
        db.execute(insert(id_tags).values(row))
    db.execute(delete(unknown_id_tags).where(unknown_id_tags.c.token_key == tag.key))
    _raise_revision(db, tag.revision)


def _raise_revision(db: Connection, revision: int) -> None:
    current = db.execute(select(id_tag_revision.c.revision)).scalar()
    if current is None:
        db.execute(insert(id_tag_revision).values(id=1, revision=revision))
    elif current < revision:
        db.execute(update(id_tag_revision).values(revision=revision))
