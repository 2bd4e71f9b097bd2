"""Ports of the gateway's domain: what it needs from the outside world, as small ABCs."""

from __future__ import annotations

import abc
import asyncio
from datetime import UTC, datetime

from ocpp_events.domain.events import Event


class PublishFailed(Exception):
    """The broker did not confirm the event (down, refused, unroutable or timed out)."""


class Notifier(abc.ABC):
    """Publishes events to the broker (the thesis's `Notifier`).

    `publish` returns only once the broker has confirmed the event and raises `PublishFailed`
    otherwise: the gateway answers a station only after this returned.
    """

    @abc.abstractmethod
    async def publish(self, event: Event) -> None: ...

    async def start(self) -> None:
        """Connect (may keep retrying in the background)."""
        return None

    async def close(self) -> None:
        """Release connections; pending publishes are finished or failed first."""
        return None

    @abc.abstractmethod
    def is_ready(self) -> bool:
        """True while events can be published (the broker is reachable)."""


class Clock:
    """Current time, timezone-aware UTC; tests inject their own."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
