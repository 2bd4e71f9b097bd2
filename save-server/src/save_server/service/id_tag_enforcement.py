"""What save-server enforces after the fact, through remote stops (the gateways decide each
start from their copy, but two gateways may accept one tag at the same moment, and a budget
may run out during a charge):

- a tag running more charges than its `max_concurrent_charges`: the later ones are stopped;
- a tag whose own or group budget for the month is used up while it charges: its running
  charges are stopped when `ID_TAG_BUDGET_ACTION=stop` (default), left to finish with `finish`
  (new starts are refused by the gateways either way: `budget_exhausted`).

It also republishes, every minute, the tags whose `budget_exhausted` flipped (energy used, a
new month, a budget changed).
Each stop is sent once per charge by this process (a second API replica may send it again:
the station refuses a stop of a transaction that is over, which is harmless)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from save_server.domain.id_tags import IdTagStore, charges_over_limit
from save_server.service.id_tags import IdTagService

log = structlog.get_logger("save_server.id_tags")
BudgetAction = Literal["stop", "finish"]
RemoteStop = Callable[[str, str, str], Awaitable[None]]  # station, transaction, reason
ENFORCER = "id-tag-enforcement"


@dataclass(frozen=True)
class StopDecision:
    station_id: str
    transaction_id: str
    reason: str  # "concurrent-limit" or "budget-exhausted"


@dataclass
class IdTagEnforcement:
    service: IdTagService
    store: IdTagStore
    remote_stop: RemoteStop
    budget_action: BudgetAction = "stop"
    refresh_every: float = 60.0  # seconds between republishing budget flags that flipped
    _sent: set[tuple[str, str]] = field(default_factory=set)
    _refreshed_at: float | None = None

    def decide(self) -> list[StopDecision]:
        """The charges to stop now (blocking: reads the database)."""
        running = self.store.running_charges()
        if not running:
            return []
        tags = {t.key: t for t in self.store.tags_with_keys(running)}
        decisions = [StopDecision(c.station_id, c.transaction_id, "concurrent-limit")
                     for key, tag in tags.items()
                     for c in charges_over_limit(running[key], tag.max_concurrent_charges)]
        if self.budget_action == "stop":
            exhausted = self.service.exhausted_keys(list(tags.values()))
            decisions += [StopDecision(c.station_id, c.transaction_id, "budget-exhausted")
                          for key in sorted(exhausted) for c in running[key]]
        return _once_per_charge(decisions)

    async def check_once(self) -> list[StopDecision]:
        """Refresh the budget flags, then stop what must stop; returns the stops sent."""
        now = time.monotonic()
        if self._refreshed_at is None or now - self._refreshed_at >= self.refresh_every:
            await asyncio.to_thread(self.service.refresh_budgets)
            self._refreshed_at = now
        decisions = [d for d in await asyncio.to_thread(self.decide)
                     if (d.station_id, d.transaction_id) not in self._sent]
        for decision in decisions:
            self._sent.add((decision.station_id, decision.transaction_id))
            log.warning("id tag enforcement: remote stop", reason=decision.reason,
                        charging_station_id=decision.station_id,
                        transaction_id=decision.transaction_id)
            try:
                await self.remote_stop(decision.station_id, decision.transaction_id,
                                       decision.reason)
            except Exception as error:  # the station is away: try again next round
                self._sent.discard((decision.station_id, decision.transaction_id))
                log.warning("id tag enforcement: stop not sent", error=str(error))
        return decisions

    async def run(self, interval: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.check_once()
            except Exception as error:  # the database is away: next round
                log.warning("id tag enforcement failed; retrying", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)


def _once_per_charge(decisions: list[StopDecision]) -> list[StopDecision]:
    seen: dict[tuple[str, str], StopDecision] = {}
    for decision in decisions:
        seen.setdefault((decision.station_id, decision.transaction_id), decision)
    return list(seen.values())


