"""Use case: publish an event and wait for the broker's confirmation, within a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ocpp_events.domain.events import Event
from ocpp_events.domain.ports import Notifier, PublishFailed

LatencyObserver = Callable[[float, bool], None]


class ConfirmedPublisher:
    """Wraps a Notifier: a publish either returns confirmed or raises PublishFailed.

    A confirmation arriving after `timeout` is too late: the station was already told to retry,
    so the same OCPP call may then appear twice on the broker (with two event ids).
    """

    def __init__(self, notifier: Notifier, timeout: float,
                 observe: LatencyObserver | None = None) -> None:
        self._notifier = notifier
        self._timeout = timeout
        self._observe = observe

    async def publish(self, event: Event) -> None:
        started = time.perf_counter()
        confirmed = False
        try:
            async with asyncio.timeout(self._timeout):  # no extra task, unlike wait_for
                await self._notifier.publish(event)
            confirmed = True
        except PublishFailed:
            raise
        except TimeoutError as error:
            raise PublishFailed(f"not confirmed within {self._timeout} s") from error
        except Exception as error:  # any adapter failure means "not confirmed"
            raise PublishFailed(repr(error)) from error
        finally:
            if self._observe is not None:
                self._observe(time.perf_counter() - started, confirmed)
