"""The id tag store port. Every write commits with its events (the outbox): the audit events
given by the caller and the `id-tag-registry.*` event for the gateways, which the store builds
because it alone knows the new revision."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags.model import IdTag, IdTagGroup, TagStatus
from save_server.domain.id_tags.rules import RunningCharge
from save_server.domain.id_tags.visibility import TagScope

SITES_NAMED = 10  # at most this many sites named in a refusal; the rest are counted


class GroupInUse(Exception):
    """A group is not deleted while tags belong to it or sites' load management names it."""

    @classmethod
    def named_by_sites(cls, group_id: str, sites: Sequence[tuple[str, str]]) -> GroupInUse:
        """`sites`: (site id, name) of each site whose `group_priorities` name the group."""
        named = ", ".join(f"{site_id} ({name})" for site_id, name in sites[:SITES_NAMED])
        more = f" and {len(sites) - SITES_NAMED} more" if len(sites) > SITES_NAMED else ""
        return cls(f"id tag group {group_id} is named in the load management of site(s) "
                   f"{named}{more}: take it out of their group_priorities first")


@dataclass(frozen=True)
class UnknownTag:
    """A token a gateway refused as unknown (`Invalid`), per station."""

    id_tag: str
    station_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    count: int


@dataclass(frozen=True)
class UsageRow:
    """One charge, as the monthly usage needs it."""

    id_tag_key: str
    station_id: str
    timezone: str | None  # of the station's site (None: no site)
    started_at: datetime
    energy_wh: float | None


@dataclass(frozen=True)
class TagPage:
    tags: list[IdTag]
    next_after: str | None  # the key to continue after (keyset paging), None at the end


class IdTagStore(ABC):
    # groups -------------------------------------------------------------------------------
    @abstractmethod
    def group(self, group_id: str) -> IdTagGroup | None: ...

    @abstractmethod
    def groups(self) -> list[IdTagGroup]:
        """Ordered by group id."""

    @abstractmethod
    def save_group(self, group: IdTagGroup, event: BusinessEvent) -> None:
        """Insert or replace."""

    @abstractmethod
    def delete_group(self, group_id: str, event: BusinessEvent) -> bool:
        """False when unknown; raises GroupInUse (`named_by_sites` for the second) while tags
        belong to it or while the load-management settings of an existing site name it in
        their `group_priorities`. The checks and the deletion are one transaction: a site's
        settings saved concurrently either come first and refuse the deletion, or come
        after it and are refused themselves (LoadStore.save_model)."""

    # tags ---------------------------------------------------------------------------------
    @abstractmethod
    def tag(self, id_tag: str) -> IdTag | None:
        """The tag whose token equals `id_tag` case-insensitively."""

    @abstractmethod
    def tags_with_keys(self, keys: Collection[str]) -> list[IdTag]:
        """The registered tags among these keys (`token_key` values), ordered by key."""

    @abstractmethod
    def budget_candidates(self) -> list[IdTag]:
        """The tags whose `budget_exhausted` may have to change: those with a budget of their
        own or in a group with one, and those flagged exhausted now."""

    @abstractmethod
    def search(self, text: str | None = None, group_id: str | None = None,
               status: TagStatus | None = None, after: str | None = None,
               limit: int = 100, scope: TagScope | None = None) -> TagPage:
        """Tags ordered by their key; `text` matches a part of the token or of the holder
        label, case-insensitively; `after`: the `next_after` of the previous page; `scope`:
        only the tags it sees (`TagScope.sees`), chosen by the query itself, so a page of a
        scoped account costs no more than any other (None: every tag)."""

    @abstractmethod
    def save_tags(self, tags: Sequence[IdTag], events: Sequence[BusinessEvent],
                  principal: str | None) -> list[IdTag]:
        """Insert or replace each tag (matched by key; a new spelling replaces the old),
        all in one commit: each gets the next revision and an `id-tag-registry.tag-updated`
        event; `events` (the audit: none, or one per tag, in the same order) commit with
        them, each given its tag's `revision` in its payload (a replay rebuilds the revision
        counter from them). A tag saved also leaves the list of unknown tokens."""

    @abstractmethod
    def delete_tag(self, id_tag: str, events: Sequence[BusinessEvent],
                   principal: str | None) -> bool:
        """False when unknown; else `id-tag-registry.tag-removed` with a new revision, also
        put in the payload of `events` (the audit)."""

    @abstractmethod
    def publish_snapshot(self, requested_by: str | None) -> int:
        """Every tag (and the running charges of each) as one `id-tag-registry.snapshot`;
        returns its revision."""

    # unknown tokens -----------------------------------------------------------------------
    @abstractmethod
    def record_unknown(self, event_id: str, id_tag: str, station_id: str,
                       at: datetime) -> bool:
        """Count one refusal (once per event id); False when already counted or when the
        token is registered meanwhile."""

    @abstractmethod
    def unknown_tags(self) -> list[UnknownTag]:
        """Latest first."""

    # places and usage ---------------------------------------------------------------------
    @abstractmethod
    def known_places(self) -> tuple[set[str], set[str]]:
        """(site ids, station ids) a tag may be restricted to: the sites, and the stations
        registered or heard from."""

    @abstractmethod
    def usage_rows(self, start: datetime, end: datetime,
                   keys: Collection[str] | None = None) -> list[UsageRow]:
        """The charges with an id tag (of these keys, or any) that started in [start, end);
        a running charge's energy is its latest energy register reading minus its start."""

    @abstractmethod
    def keys_charged_at(self, station_ids: Collection[str]) -> set[str]:
        """The keys (casefolded tokens) of the id tags of every charge at these stations,
        registered tags or not."""

    @abstractmethod
    def running_charges(self) -> dict[str, list[RunningCharge]]:
        """The charges not ended yet of each registered tag (by tag key)."""
