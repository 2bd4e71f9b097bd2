"""The id tag registry copy: kept in memory, fed by `id-tag-registry.*` messages from the
registry exchange (through the station registry adapter's queue, as a `RegistryFeed`) and kept
in a file (`id_tag_file.py`), so a restarted gateway answers the cards it knew while
save-server is down."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import structlog

from ocpp_events.domain.id_tags import (
    PREFIX,
    SNAPSHOT,
    SNAPSHOT_REQUESTED,
    ActiveCharges,
    ChargeRef,
    IdTag,
    ParsedSnapshot,
    parse_snapshot,
)
from ocpp_events.domain.ports import IdTagDirectory, IdTagListener
from ocpp_events.domain.registry_fields import InvalidRegistryEvent
from ocpp_events.infrastructure import id_tag_file

log = structlog.get_logger("ocpp_events.id_tags")


class IdTagCopy(IdTagDirectory):
    prefix = PREFIX
    snapshot_requested = SNAPSHOT_REQUESTED

    def __init__(self, path: pathlib.Path | None = None) -> None:
        self.state = id_tag_file.load(path)
        self.invalid_messages = 0
        self._file = id_tag_file.IdTagFile(path)
        self._listeners: list[IdTagListener] = []

    def get(self, id_tag: str) -> IdTag | None:
        return self.state.get(id_tag)

    def active_charges(self, id_tag: str) -> ActiveCharges | None:
        return self.state.active_charges(id_tag)

    def owner(self, charge: ChargeRef) -> str | None:
        return self.state.owners.get(charge)

    def __len__(self) -> int:
        return len(self.state.tags)

    def on_change(self, listener: IdTagListener) -> None:
        self._listeners.append(listener)

    def apply(self, event: dict[str, Any] | ParsedSnapshot,
              body: bytes | None = None) -> list[str]:
        """Apply one event (`body`: the message it was parsed from, kept in the journal)."""
        changed = self.state.apply(event)
        whole = isinstance(event, ParsedSnapshot) or event.get("type") == SNAPSHOT
        if changed:
            self._file.applied(body or json.dumps(event).encode(), self.state, whole=whole)
            for listener in self._listeners:
                try:
                    listener(changed)
                except Exception:  # the change is applied; one listener must not stop others
                    log.exception("id tag listener failed")
        return changed

    def decode(self, body: bytes) -> dict[str, Any] | ParsedSnapshot | Exception:
        """The message parsed; a snapshot's newer tags too. Safe in a worker thread (reads the
        copy only), so the adapters decode big messages off the event loop."""
        try:
            event = json.loads(body)
            if not isinstance(event, dict):
                raise InvalidRegistryEvent("not a JSON object")
            if event.get("type") == SNAPSHOT:
                return parse_snapshot(event, self.state.revision_of)
            return event
        except (ValueError, InvalidRegistryEvent) as error:
            return error

    def receive(self, body: bytes,
                decoded: dict[str, Any] | ParsedSnapshot | Exception | None = None) -> list[str]:
        """A message from the broker (`decoded` when done already): applied, or counted and
        logged when it is outside the contract (then dropped: redelivering it would never make
        it valid)."""
        event = self.decode(body) if decoded is None else decoded
        try:
            if isinstance(event, Exception):
                raise event
            return self.apply(event, body)
        except (ValueError, InvalidRegistryEvent) as error:
            self.invalid_messages += 1
            log.error("id tag registry message dropped", error=str(error)[:300])
            return []

    async def flush(self) -> None:
        """Called when the feed closes: what is pending is written, the journal folded in."""
        await self._file.close(self.state)
