"""The registry copy on disk, so a restarted gateway admits the stations it knew even while
save-server is down. Written whole to a temporary file and renamed (never half-written)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib

import structlog

from ocpp_events.domain.station_registry import InvalidRegistryEvent, RegistryState

log = structlog.get_logger("ocpp_events.registry")


def load(path: pathlib.Path | None) -> RegistryState:
    if path is None or not path.exists():
        return RegistryState()
    try:
        state = RegistryState.from_document(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, InvalidRegistryEvent) as error:
        log.error("registry file unreadable; starting from an empty registry",
                  path=str(path), error=str(error)[:300])
        return RegistryState()
    log.info("registry loaded from file", path=str(path), stations=len(state.stations))
    return state


def _write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class RegistryFile:
    """Saves the state after changes, at most once per `delay` seconds, off the event loop."""

    def __init__(self, path: pathlib.Path | None, delay: float = 0.2) -> None:
        self.path = path
        self._delay = delay
        self._pending: asyncio.Task[None] | None = None
        self._dirty = False

    def changed(self, state: RegistryState) -> None:
        if self.path is None:
            return
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._save(state))

    async def _save(self, state: RegistryState) -> None:
        assert self.path is not None
        while self._dirty:
            await asyncio.sleep(self._delay)  # changes arriving together are written once
            self._dirty = False
            text = json.dumps(state.to_document(), separators=(",", ":"))
            try:
                await asyncio.to_thread(_write, self.path, text)
            except OSError as error:
                log.error("registry file not written", path=str(self.path), error=repr(error))

    async def flush(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
