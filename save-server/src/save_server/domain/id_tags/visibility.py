"""Which id tags an account scoped to sites/stations sees (docs/api.md, "Id tags and scope").

A tag restricted to places (`site_ids`/`station_ids` given, even empty) is seen only when one
of its places is in the scope: its holder and group belong to those places, and a tag
restricted to other sites is never shown, even when it charged here (its card was refused, or
its restriction changed). A tag allowed everywhere belongs to the whole network: it is seen
only when it charged at a station of the scope (the charge already shows its token there).
Unscoped accounts see every tag.

A tag is shown to a scoped account with only the places of its scope (`shown`): a tag
restricted to sites A and B reads "A" to A's viewer, never naming B.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from save_server.domain.id_tags.model import IdTag


@dataclass(frozen=True)
class TagScope:
    sites: frozenset[str]  # named in the scope, or the site of a station in it
    stations: frozenset[str]
    charged_here: frozenset[str]  # keys of the tags with a charge at a station of the scope

    def sees(self, tag: IdTag) -> bool:
        if tag.site_ids is None and tag.station_ids is None:
            return tag.key in self.charged_here
        return bool(self.sites.intersection(tag.site_ids or ())
                    or self.stations.intersection(tag.station_ids or ()))

    def shown(self, tag: IdTag) -> IdTag:
        """The tag as this scope may read it: its places cut down to the scope's."""
        return replace(tag, site_ids=_within(tag.site_ids, self.sites),
                       station_ids=_within(tag.station_ids, self.stations))


def _within(ids: tuple[str, ...] | None, scope: frozenset[str]) -> tuple[str, ...] | None:
    return None if ids is None else tuple(i for i in ids if i in scope)
