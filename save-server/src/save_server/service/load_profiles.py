"""Sends what the allocations decide, through the command path: decreases first, increases
once every decrease was answered; increases of one connector at most once per interval; the
failsafe default profiles. Each answer is written into the live state."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from save_server.domain.load.allocator import Allocation
from save_server.domain.load.failsafe import (
    failsafe_within_allocation,
    station_default,
    station_safe_total,
)
from save_server.domain.load.live import REFUSED_RESULTS, ConnectorLive, StationLive
from save_server.domain.load.model import ConnectorKey, ElectricalModel
from save_server.domain.load.plan import Plan
from save_server.domain.load.ports import ProfileSender
from save_server.service.load_state import LiveState

log = structlog.get_logger("save_server.load")
FAILSAFE_PROFILE_ID = 900
BASE_CAP_PROFILE_ID, CAP_PROFILE_ID = 901, 902  # station max profiles, stack levels 0 and 1
STATION_MAX = "ChargePointMaxProfile"  # the gateway names it ChargingStationMaxProfile in 2.0.1
# a leased cap answered so is not sent again until the station's next boot or connection;
# one not answered in time, or that could not reach the station, is tried at the next round
CAP_REFUSED = frozenset({"rejected", "call_error", "unsupported"})
NOT_DELIVERED = "not_connected"  # the command path could not reach the station
# a failsafe (or base cap) that may not have reached its station: sent again (`failsafe_retry`)
UNCONFIRMED = frozenset({NOT_DELIVERED, "timeout"})
TX_PROFILE_BASE = 1000  # TxProfile id = base + connector: one per connector (2.0.1 ids are
                        # per station: a shared id would replace another EVSE's profile)


class ProfileDispatch:
    def __init__(self, state: LiveState, lock: threading.Lock, sender: ProfileSender | None,
                 clock: Callable[[], datetime], min_interval: Callable[[], timedelta],
                 on_profile: Callable[[str], None], site_of: Callable[[str], str],
                 lease: Callable[[], timedelta | None] = lambda: None,
                 caps: Callable[[], bool] = lambda: False,
                 on_retry: Callable[[], None] = lambda: None) -> None:
        self._state, self._lock, self._sender, self._clock = state, lock, sender, clock
        self._min_interval = min_interval  # between increases of one connector
        self._on_profile, self._site_of = on_profile, site_of
        self._lease = lease  # how long a TxProfile is valid (validTo); None: until replaced
        self._caps = caps  # station max profiles on (docs/load-management.md, "Failsafe")
        self._on_retry = on_retry  # a station joined `failsafe_retry`: plan the retry

    def due_caps(self, model: ElectricalModel, result: Allocation
                 ) -> tuple[tuple[str, float], ...]:
        """The leased station caps to send: each online station whose base cap was accepted,
        when its cap changed or half its lease passed. The cap is the sum of what its
        connectors are allowed or counted at — or, where its accepted failsafe allows none of
        its connectors more than that (`failsafe_within_allocation`), the sum of their
        maxima: then a charge starting or ending there without the platform cannot take more
        than its allocation anyway, and the cap need not follow every change of the shares."""
        if not self._caps():
            return ()
        lease, now = self._lease(), self._clock()
        totals: dict[str, float] = {}
        maxima: dict[str, float] = {}
        allowed: dict[str, list[float]] = {}
        for connector in model.connectors:
            station_id, key = connector.key[0], connector.key
            a = result.limits.get(key, 0.0) + result.reserved.get(key, 0.0)
            totals[station_id] = totals.get(station_id, 0.0) + a
            maxima[station_id] = maxima.get(station_id, 0.0) + connector.max_a
            allowed.setdefault(station_id, []).append(a)
        due = []
        with self._lock:
            for station_id, total in sorted(totals.items()):
                station = self._state.stations.get(station_id)
                if station is None or not station.online \
                        or station.base_cap_result != "accepted":
                    continue  # no station max profile there: its TxDefaultProfile is all
                bounded = failsafe_within_allocation(station, allowed[station_id])
                cap = round(maxima[station_id] if bounded else total, 1)
                renew = lease is not None and station.cap_valid_to is not None \
                    and now >= station.cap_valid_to - lease / 2
                changed = station.cap_result != "accepted" or station.cap_a != cap or renew
                if changed and station.cap_result not in CAP_REFUSED:
                    due.append((station_id, cap))
        return tuple(due)

    async def send_cap(self, station_id: str, cap_a: float) -> None:
        lease, now = self._lease(), self._clock()
        valid_to = None if lease is None else now + lease
        outcome = await self._send(station_id, {
            "connector_id": 0, "max_current_a": cap_a, "purpose": STATION_MAX,
            "profile_id": CAP_PROFILE_ID, "stack_level": 1, "valid_from": _iso(now),
            **({} if valid_to is None else {"valid_to": _iso(valid_to)})})
        self._on_profile(outcome)
        with self._lock:
            station = self._state.stations.setdefault(station_id, StationLive())
            station.cap_result = outcome
            if outcome == "accepted":
                station.cap_a, station.cap_valid_to = cap_a, valid_to

    def due_renewals(self, model: ElectricalModel, plan: Plan
                     ) -> tuple[tuple[ConnectorKey, float], ...]:
        """Accepted TxProfiles past half their lease that the plan does not change: sent
        again as they are, so they expire only when the platform is gone."""
        lease = self._lease()
        if lease is None:
            return ()
        planned = {k for k, _ in plan.decreases + plan.increases}
        now, due = self._clock(), []
        with self._lock:
            for connector in model.connectors:
                live = self._state.connectors.get(connector.key)
                if (live is not None and connector.key not in planned
                        and live.transaction_id is not None and live.profile_limit_a is not None
                        and live.profile_result == "accepted"
                        and live.profile_valid_to is not None
                        and now >= live.profile_valid_to - lease / 2):
                    due.append((connector.key, live.profile_limit_a))
        return tuple(due)

    async def send(self, site_id: str, plan: Plan,
                   renewals: tuple[tuple[ConnectorKey, float], ...] = (),
                   caps: tuple[tuple[str, float], ...] = ()) -> None:
        """A station cap only ever narrows what its TxProfiles allow: it goes with the
        decreases, whichever way it moves."""
        if self._sender is None:
            return
        await asyncio.gather(*(self._send_tx(k, a) for k, a in plan.decreases + renewals),
                             *(self.send_cap(s, a) for s, a in caps))
        now = self._clock()
        due = [(k, a) for k, a in plan.increases if self._may_increase(k, now)]
        await asyncio.gather(*(self._send_tx(k, a) for k, a in due))
        if len(due) < len(plan.increases):
            with self._lock:
                self._state.later.add(site_id)  # retried when the interval has passed

    def retry_unconfirmed(self) -> None:
        """Lock held. TxProfiles that did not reach their station or got no answer (a broker
        hiccup, a station reconnecting) once `min_interval` has passed: their connectors
        become controllable again and their sites are recomputed, so the profile is sent
        again — instead of staying counted at the maximum until the charge ends."""
        now = self._clock()
        for key in list(self._state.tx_retry):
            live = self._state.connectors.get(key)
            if live is None or live.profile_result not in UNCONFIRMED:
                self._state.tx_retry.discard(key)  # answered since, or the charge ended
            elif live.profile_sent_at is None or now - live.profile_sent_at >= self._min_interval():
                self._state.tx_retry.discard(key)
                live.profile_result = None
                self._state.dirty.add(self._site_of(key[0]))

    def _may_increase(self, key: ConnectorKey, now: datetime) -> bool:
        live = self._state.connectors.get(key)
        sent = live.profile_sent_at if live else None
        return sent is None or now - sent >= self._min_interval()

    async def _send_tx(self, key: ConnectorKey, limit_a: float) -> None:
        live = self._state.connectors.setdefault(key, ConnectorLive())
        transaction = live.transaction_id
        if transaction is None or self._sender is None:
            return
        lease, sent_at = self._lease(), self._clock()
        valid_to = None if lease is None else sent_at + lease
        parameters = {"connector_id": key[1], "max_current_a": limit_a, "purpose": "TxProfile",
                      "transaction_id": transaction, "profile_id": TX_PROFILE_BASE + key[1]}
        if valid_to is not None:
            parameters["valid_to"] = _iso(valid_to)
        outcome = await self._send(key[0], parameters)
        self._on_profile(outcome)
        with self._lock:
            if live.transaction_id != transaction:
                return  # the charge ended meanwhile
            live.profile_result, live.profile_sent_at = outcome, sent_at
            if outcome == "accepted":
                live.profile_limit_a, live.profile_valid_to = limit_a, valid_to
            elif live.refused:
                self._state.dirty.add(self._site_of(key[0]))
                if outcome in UNCONFIRMED:
                    self._state.tx_retry.add(key)
        if outcome != "accepted":
            log.warning("profile not applied", charging_station_id=key[0],
                        connector_id=key[1], outcome=outcome)

    async def _send(self, station_id: str, parameters: dict[str, Any]) -> str:
        """The sender's outcome; a failure of the path itself counts as a refusal (the
        connector is then counted at its maximum), never as a crash of the round."""
        assert self._sender is not None
        try:
            return await self._sender.send(station_id, parameters)
        except Exception:
            log.exception("profile not sent", charging_station_id=station_id)
            return "call_error"

    async def failsafe(self, station_id: str, model: ElectricalModel) -> None:
        limit = station_default(model, station_id)
        if limit is None or self._sender is None:
            return
        outcome = await self._send(station_id, {
            "connector_id": 0, "max_current_a": limit, "purpose": "TxDefaultProfile",
            "profile_id": FAILSAFE_PROFILE_ID, "stack_level": 0})
        self._on_profile(outcome)
        with self._lock:
            station = self._state.stations.setdefault(station_id, StationLive())
            before = station.failsafe_result
            station.failsafe_limit_a, station.failsafe_result = limit, outcome
            # not delivered: counted at its maximum; a retry got through: no longer
            if outcome == NOT_DELIVERED or (outcome == "accepted" and before in REFUSED_RESULTS):
                self._state.dirty.add(self._site_of(station_id))
        if outcome in UNCONFIRMED:
            self._retry(station_id)
            return
        if self._caps():
            await self._base_cap(station_id, model)

    async def _base_cap(self, station_id: str, model: ElectricalModel) -> None:
        """The permanent station max profile at its safe total (stack level 0): what the
        station keeps when the leased cap over it has expired."""
        total = station_safe_total(model, station_id)
        if total is None:
            return
        outcome = await self._send(station_id, {
            "connector_id": 0, "max_current_a": total, "purpose": STATION_MAX,
            "profile_id": BASE_CAP_PROFILE_ID, "stack_level": 0,
            "valid_from": _iso(self._clock())})
        self._on_profile(outcome)
        with self._lock:
            station = self._state.stations.setdefault(station_id, StationLive())
            station.base_cap_a, station.base_cap_result = total, outcome
            station.cap_a = station.cap_result = station.cap_valid_to = None  # send it again
            if outcome == "accepted":  # the leased cap over it goes in this round (a base cap
                self._state.dirty.add(self._site_of(station_id))  # retried: no event waits)
        if outcome in UNCONFIRMED:
            self._retry(station_id)

    def _retry(self, station_id: str) -> None:
        """A failsafe or base cap that may not have reached the station (a broker hiccup, the
        gateway not holding the connection yet, a station slow to answer): both are sent
        again after the retry's backoff while it is online, not only at its next connection
        (the station counts at its maximum meanwhile)."""
        with self._lock:
            self._state.failsafe_retry.add(station_id)
        self._on_retry()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
