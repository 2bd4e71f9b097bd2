"""Keeps every managed site's allocation current: observes the stations' events, recomputes a
site when something that matters changed, and sends the profiles — decreases first, increases
once the decreases were answered (accepted, refused or timed out). Runs as one asyncio task
in the API process (the command path lives there); observations come from another thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from save_server.domain.business_events import BusinessEvent
from save_server.domain.load.allocator import (
    Allocation,
    BuildingLoad,
    ConnectorDemand,
    allocate,
)
from save_server.domain.load.live import (
    ChargeChanged,
    CurrentMeasured,
    Observation,
    PowerMeasured,
)
from save_server.domain.load.model import ConnectorKey, ElectricalModel
from save_server.domain.load.plan import DEFAULT_HYSTERESIS_A, Plan, plan_changes
from save_server.domain.load.ports import AllocationRound, Lease, LoadStore, ProfileSender
from save_server.domain.load.rotation import DEFAULT_SLOT
from save_server.service.load_management import ALLOCATION, CLOCK_SKEW, measurement_event
from save_server.service.load_profiles import ProfileDispatch
from save_server.service.load_rounds import RecentIds, RoundWriter
from save_server.service.load_state import LiveState
from save_server.service.load_views import allocation_payload, power_document

log = structlog.get_logger("save_server.load")
DEFAULT_MIN_INTERVAL = timedelta(seconds=30)
DEFAULT_SWEEP = timedelta(seconds=30)
LEASE_CHECK_S = 1.0  # the lease is checked at most this often while events keep coming
DEFAULT_LEASE = timedelta(minutes=10)  # docs/load-management.md, "Failsafe"
MAX_TAGS_CACHED = 100_000  # id tag → group look-ups kept (then forgotten, looked up again)
WRITTEN_IDS_KEPT = 10_000  # own allocation events recognised when they come back
FAILSAFE_RETRY_S = 0.25  # a failsafe not confirmed is tried again after this, then doubling


# the site's model, its new allocation, the current its charging connectors were last seen
# drawing (highest phase each, summed), and its `GET /sites/{id}/power` document
AllocationObserver = Callable[[ElectricalModel, Allocation, float, dict[str, Any]], None]
ProfileObserver = Callable[[str], None]
# what save-server's tables know of these stations (None: every managed one): connection, charges
Seed = Callable[[frozenset[str] | None], list[Observation]]


@dataclass
class Settings:
    slot: timedelta = DEFAULT_SLOT
    hysteresis_a: float = DEFAULT_HYSTERESIS_A
    min_interval: timedelta = DEFAULT_MIN_INTERVAL  # between increases of one connector
    sweep: timedelta = DEFAULT_SWEEP  # every site recomputed (slots end, leases renew)
    principal: str = "load-management"
    lease_retry_s: float = 5.0  # between attempts to take the lease (and to read the tables)
    measurement_threshold_a: float = 1.0  # a building load moving less waits for the sweep
    profile_lease: timedelta | None = DEFAULT_LEASE  # TxProfiles' validTo; None: no end
    station_caps: bool = True  # station max profiles (base + leased), docs "Failsafe"


class LoadAllocation:
    def __init__(self, store: LoadStore, sender: ProfileSender | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 settings: Settings | None = None,
                 on_allocation: AllocationObserver = lambda *seen: None,
                 on_profile: ProfileObserver = lambda outcome: None,
                 seed: Seed = lambda only: [],
                 lease: Lease | None = None,
                 group_of: Callable[[str], str | None] = lambda id_tag: None) -> None:
        self._store, self._sender, self._clock = store, sender, clock
        self._on_allocation, self._on_profile = on_allocation, on_profile
        self._seed = seed  # at start, and for stations a model change adds
        self._unseen: set[str] = set()  # managed now, their earlier events were ignored
        self._retry_delay = FAILSAFE_RETRY_S
        self._retry_at = 0.0  # the loop's time from which `failsafe_retry` may go again
        self._lease = lease
        self._group_of = group_of  # an id tag's group (id tags context), for its priority
        self._groups: dict[str, str | None] = {}  # id tag → group, at its last charge
        self.leading = threading.Event()  # this process manages load (holds the lease)
        self.settings = settings or Settings()
        self._state = LiveState()
        self._lock = threading.Lock()
        self._models: dict[str, ElectricalModel] | None = None  # cached; None: load all
        self._stale: set[str] = set()  # sites whose model must be read again
        self._site_of: dict[str, str] = {}
        self._meter_of: dict[ConnectorKey, str] = {}  # building meters → their site
        self._building_used: dict[str, BuildingLoad | None] = {}  # at each site's last round
        self._loads: dict[str, BuildingLoad | None] = {}  # each site's latest, once read
        self._load_epochs: dict[str, int] = {}  # measurements seen per site (see _building_load)
        self._rounds = RoundWriter(store)
        self._written = RecentIds(WRITTEN_IDS_KEPT)
        self._wake: Callable[[], None] = lambda: None
        self._waiting: set[str] = set()  # dirty while their task ran: woken when it ends
        self._profiles = ProfileDispatch(
            self._state, self._lock, sender, clock, lambda: self.settings.min_interval,
            on_profile, lambda station: self._site_of.get(station, ""),
            lambda: self.settings.profile_lease, lambda: self.settings.station_caps,
            self._retry_soon)

    # observations (any thread) -------------------------------------------------------------
    def site_changed(self, site_id: str) -> None:
        """Its model or building load changed: recompute it, renew its stations' failsafe."""
        with self._lock:
            self._stale.add(site_id)
            self._state.dirty.add(site_id)
            stations = {s for s, site in self._sites().items() if site == site_id}
            self._state.failsafe_due |= {s for s in stations if self._online(s)}
            self._unseen |= {s for s in stations if s not in self._state.stations}
        self._wake()

    def _online(self, station_id: str) -> bool:
        """Lock held. An offline station gets its failsafe when it connects."""
        station = self._state.stations.get(station_id)
        return station is not None and station.online

    def building_measured(self, site_id: str, load: BuildingLoad) -> None:
        """A new building load: recompute the site when it moved by the threshold on some
        phase since the load its last allocation used (or that one was missing or is
        older than the model's freshness); smaller moves wait for the periodic sweep."""
        with self._lock:
            self._load_epochs[site_id] = self._load_epochs.get(site_id, 0) + 1
            if site_id in self._loads:  # the later measurement wins, as in the store
                kept = self._loads[site_id]
                if kept is None or kept.measured_at <= load.measured_at:
                    self._loads[site_id] = load
            model = self._current_models().get(site_id)
            if model is None or not _moved(self._building_used.get(site_id), load,
                                           model.measurement_max_age_s,
                                           self.settings.measurement_threshold_a):
                return
            self._state.dirty.add(site_id)
        self._wake()

    def observe(self, observation: Observation) -> None:
        if isinstance(observation, PowerMeasured):
            with self._lock:
                voltage = self._voltage_of(observation.station_id, observation.connector_id)
            if voltage is None:
                return  # not a managed station
            observation = observation.as_current(voltage)
        if isinstance(observation, ChargeChanged) and observation.id_tag is not None \
                and self._groups_matter(observation.station_id):
            self._look_up_group(observation.id_tag)
        if isinstance(observation, CurrentMeasured):
            with self._lock:
                self._current_models()
                meter_site = self._meter_of.get((observation.station_id,
                                                 observation.connector_id))
            if meter_site is not None:
                self._record_building(meter_site, observation)
                return
        with self._lock:
            site = self._sites().get(observation.station_id)
            if site is None:
                return  # not a managed station
            if self._state.apply(observation, site):
                self._state.dirty.add(site)
        self._wake()

    def _groups_matter(self, station_id: str) -> bool:
        """The station is managed and its site gives id tag groups a priority."""
        with self._lock:
            site = self._sites().get(station_id)
            model = self._models.get(site) if site is not None and self._models else None
        return model is not None and bool(model.group_priorities)

    def _look_up_group(self, id_tag: str) -> None:
        """At each charge it starts (outside the lock: a database read), so a tag moved to
        another group counts from its next charge; a failed look-up keeps what was known."""
        key = id_tag.casefold()
        try:
            group = self._group_of(id_tag)
        except Exception:
            log.exception("load management: cannot read the id tag's group")
            return
        with self._lock:
            if len(self._groups) >= MAX_TAGS_CACHED:
                self._groups.clear()
            self._groups[key] = group

    def _demand(self, model: ElectricalModel, key: ConnectorKey) -> ConnectorDemand:
        """With its charge's id tag group priority, where the model gives one (lock held)."""
        demand = self._state.demand(key)
        live = self._state.connectors.get(key)
        if not model.group_priorities or live is None or live.id_tag is None:
            return demand
        priority = model.group_priority(self._groups.get(live.id_tag.casefold()))
        return demand if priority is None else replace(demand, priority=priority)

    def _voltage_of(self, station_id: str, connector_id: int) -> float | None:
        """The voltage of the site a connector or building meter is on (lock held)."""
        models = self._current_models()
        site = self._meter_of.get((station_id, connector_id)) or self._site_of.get(station_id)
        model = models.get(site) if site is not None else None
        return None if model is None else model.voltage_v

    def _sites(self) -> dict[str, str]:
        """Station → site, from the cached models (read again where they changed)."""
        self._current_models()
        return self._site_of

    def _current_models(self) -> dict[str, ElectricalModel]:
        """Call with the lock held."""
        if self._models is None:
            self._models = {m.site_id: m for m in self._store.models()}
            self._stale.clear()
        elif self._stale:
            for site_id in self._stale:
                model = self._store.model(site_id)
                if model is None:
                    self._models.pop(site_id, None)
                else:
                    self._models[site_id] = model
            self._stale.clear()
        else:
            return self._models
        self._site_of = {c.station_id: m.site_id for m in self._models.values()
                         for c in m.connectors}
        self._meter_of = {m.building_meter: m.site_id for m in self._models.values()
                          if m.building_meter is not None}
        return self._models

    def _record_building(self, site_id: str, reading: CurrentMeasured) -> None:
        """A building meter's reading: kept as the site's building load (an event like a
        posted measurement) and the site recomputed."""
        per_phase = {p: max(0.0, a) for p, a in reading.per_phase}
        if not per_phase or reading.at > self._clock() + CLOCK_SKEW:
            return  # no phase named, or in the future: not a building load
        load = BuildingLoad(per_phase, reading.at)
        self._store.record_load(site_id, load, measurement_event(
            site_id, load, f"meter {reading.station_id}", self._clock()))
        self.building_measured(site_id, load)

    # recomputation -------------------------------------------------------------------------
    def allocate_site(self, model: ElectricalModel, load: BuildingLoad | None
                      ) -> tuple[Allocation, Plan, AllocationRound]:
        """The site's allocation now, the changes it needs and what the round keeps (state
        updated; nothing written: `_recompute` commits the round)."""
        now = self._clock()
        with self._lock:
            demands = {c.key: self._demand(model, c.key) for c in model.connectors}
            turns = self._state.turns.get(model.site_id, {})
            result = allocate(model, demands, load, turns, now, self.settings.slot)
            self._state.turns[model.site_id] = result.turns
            self._building_used[model.site_id] = load
            previous = self._state.last.get(model.site_id)
            self._state.last[model.site_id] = result
            current = {k: self._state.working_limit(k) for k in result.limits}
            lives = [self._state.connectors.get(c.key) for c in model.connectors]
            measured = sum(live.measured_a or 0.0 for live in lives
                           if live is not None and live.charging)
            document = power_document(model, result, self._state.connectors,
                                      self._state.stations, load)
        self._on_allocation(model, result, measured, document)
        plan = plan_changes({k: v for k, v in current.items() if v is not None}, result.limits,
                            self.settings.hysteresis_a)
        kept = AllocationRound(model.site_id, document, now)
        if previous is None or (previous.limits, previous.queue, previous.reserved,
                                previous.turns) != (result.limits, result.queue,
                                                    result.reserved, result.turns):
            event = BusinessEvent(ALLOCATION, allocation_payload(result),
                                  self.settings.principal, event_id=str(uuid.uuid4()),
                                  occurred_at=now)
            kept = replace(kept, turns=result.turns, event=event)
            self._written.add(event.event_id)
        return result, plan, kept

    def wrote(self, event_id: str) -> bool:
        """An allocation event this process committed (its delivery back changes nothing)."""
        return event_id in self._written

    async def _building_load(self, site_id: str) -> BuildingLoad | None:
        """From the measurements this process saw, or read once (a measurement arriving
        during the read makes it read again next time)."""
        with self._lock:
            if site_id in self._loads:
                return self._loads[site_id]
            epoch = self._load_epochs.get(site_id, 0)
        load = await asyncio.to_thread(self._store.load, site_id)
        with self._lock:
            if self._load_epochs.get(site_id, 0) == epoch:
                self._loads[site_id] = load
        return load

    def take_work(self, later: bool = True, retry: bool = True) -> tuple[set[str], set[str]]:
        """The dirty sites and the stations due a failsafe (with, if `later`, the sites whose
        held-back increases may go; if `retry`, the online stations whose failsafe was not
        delivered or not answered — an offline one gets its own when it connects)."""
        with self._lock:
            if later:
                self._state.dirty |= self._state.later
                self._state.later.clear()
                self._profiles.retry_unconfirmed()
            if retry:
                self._state.failsafe_due |= {s for s in self._state.failsafe_retry
                                             if self._online(s)}
                self._state.failsafe_retry.clear()
            sites, self._state.dirty = self._state.dirty, set()
            stations, self._state.failsafe_due = self._state.failsafe_due, set()
        return sites, stations

    async def run_once(self) -> None:
        """Recompute the dirty sites and send what they need; failsafe profiles first
        (concurrently: a restart sends one to every connected station)."""
        await self._read_unseen()
        sites, stations = self.take_work()
        models = await self._models_current()
        with self._lock:
            site_of = {s: self._site_of[s] for s in stations if s in self._site_of}
        await asyncio.gather(*(self._profiles.failsafe(s, models[site_of[s]])
                               for s in sorted(stations) if site_of.get(s) in models))
        self._retry_soon()
        with self._lock:  # and those a failsafe's answer changed
            sites, self._state.dirty = sites | self._state.dirty, set()
        await asyncio.gather(*(self._recompute(models[s]) for s in sorted(sites) if s in models))

    def _retry_soon(self) -> None:
        """Failsafes not delivered or not answered (`failsafe_retry`): a round after the
        backoff, not at the next event or sweep — e.g. a gateway whose command binding for a
        station that has just connected is not in place yet — nor at every event before it.
        The backoff doubles while they keep failing (at most `min_interval`); called after
        each failure and after each round's failsafes (none left: it starts again)."""
        with self._lock:
            waiting = bool(self._state.failsafe_retry)
        loop = asyncio.get_running_loop()
        if not waiting:
            self._retry_delay = FAILSAFE_RETRY_S
            return
        if loop.time() < self._retry_at:
            return  # a retry is already planned
        self._retry_at = loop.time() + self._retry_delay
        loop.call_later(self._retry_delay, self._wake)
        self._retry_delay = min(self._retry_delay * 2, self.settings.min_interval.total_seconds())

    async def _read_unseen(self) -> None:
        """Stations a model change made managed: their connection and charges from the tables
        (their events came before, when nothing managed them). A live event that arrived
        meanwhile is fresher than the tables: such a station is left as it is."""
        with self._lock:
            unseen, self._unseen = frozenset(self._unseen), set()
        if not unseen:
            return
        try:
            seen = await asyncio.to_thread(self._seed, unseen)
        except Exception:
            with self._lock:
                self._unseen |= unseen  # the next round tries again
            raise
        with self._lock:
            still = {s for s in unseen if s not in self._state.stations}
        for observation in seen:
            if observation.station_id in still:
                self.observe(observation)

    async def run(self, stop: asyncio.Event) -> None:
        """Each site is recomputed by its own task as soon as it is dirty, while the others
        are sending (a slow station delays only its site); one task per site at a time keeps
        its decreases before its increases."""
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._wake = lambda: loop.call_soon_threadsafe(wake.set)
        if not await self._lead(stop):
            return
        busy: dict[str, asyncio.Task[None]] = {}
        stopping = asyncio.create_task(stop.wait())
        stopping.add_done_callback(lambda _: wake.set())
        try:
            await self._start_from_tables(stop)
            wake.set()  # the first round at once: every site and station is due
            sweep = self.settings.sweep.total_seconds()
            if self.settings.profile_lease is not None:  # renewed well before they expire
                sweep = min(sweep, self.settings.profile_lease.total_seconds() / 4)
            retry = max(0.1, min(sweep, self.settings.min_interval.total_seconds()))
            swept = checked = retried = loop.time()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=retry)
                wake.clear()
                later = loop.time() - retried >= retry
                if later:
                    retried = loop.time()
                if loop.time() - swept >= sweep:  # also while other sites keep it busy
                    self.site_changed_all(failsafe=False)  # slots end, rate limits pass
                    swept = loop.time()
                if self._lease is not None and loop.time() - checked >= LEASE_CHECK_S:
                    if not await asyncio.to_thread(self._lease.held):
                        log.error("load-management lease lost: another process takes over")
                        return
                    checked = loop.time()
                try:
                    await self._dispatch(busy, wake, later, loop.time() >= self._retry_at)
                except Exception:  # a database or broker hiccup: the next round retries
                    log.exception("load allocation round failed")
        finally:
            stopping.cancel()
            for task in busy.values():
                task.cancel()
            await asyncio.gather(*busy.values(), return_exceptions=True)
            self.leading.clear()
            if self._lease is not None:
                await asyncio.to_thread(self._lease.release)

    async def _dispatch(self, busy: dict[str, asyncio.Task[None]], wake: asyncio.Event,
                        later: bool, retry: bool) -> None:
        """Start a task for each dirty site not already being handled; a busy site keeps its
        work for when its task ends (which then wakes the loop)."""
        await self._read_unseen()
        sites, stations = self.take_work(later, retry)
        if not sites and not stations:
            return
        waiting = self._waiting

        def done(site_id: str) -> None:
            busy.pop(site_id, None)
            if site_id in waiting:
                waiting.discard(site_id)
                wake.set()

        models = await self._models_current()
        with self._lock:
            site_of = {s: self._site_of[s] for s in stations if s in self._site_of}
        failsafe: dict[str, list[str]] = {}
        for station in sorted(stations):
            if site_of.get(station) in models:
                failsafe.setdefault(site_of[station], []).append(station)
        for site_id in sorted((sites | set(failsafe)) & set(models)):
            if site_id in busy:
                with self._lock:
                    if site_id in sites:
                        self._state.dirty.add(site_id)
                    self._state.failsafe_due |= set(failsafe.get(site_id, ()))
                waiting.add(site_id)
                continue
            task = asyncio.create_task(self._site_round(
                models[site_id], failsafe.get(site_id, []), site_id in sites))
            busy[site_id] = task
            task.add_done_callback(lambda _, site=site_id: done(site))

    async def _site_round(self, model: ElectricalModel, stations: list[str],
                          recompute: bool) -> None:
        try:
            await asyncio.gather(*(self._profiles.failsafe(s, model) for s in stations))
            if stations:
                self._retry_soon()
                with self._lock:  # a failsafe's answer changed what the site counts
                    if model.site_id in self._state.dirty:
                        self._state.dirty.discard(model.site_id)
                        recompute = True
            if recompute:
                await self._recompute(model)
        except Exception:  # the site is recomputed again at the next sweep
            log.exception("load allocation of a site failed", site_id=model.site_id)

    async def _start_from_tables(self, stop: asyncio.Event) -> None:
        """After a restart: who is online, which charges run, the rotation's turns (retried
        until the database answers: without it every station would count as unknown, at its
        maximum)."""
        while not stop.is_set():
            try:
                for seen in await asyncio.to_thread(self._seed, None):
                    self.observe(seen)
                await asyncio.to_thread(self._restore_turns)
                break
            except Exception:
                log.exception("load management: cannot read the stations yet")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.lease_retry_s)
        self.site_changed_all()

    def _restore_turns(self) -> None:
        """Who has charged or waited since when, as the last allocation of each site left it:
        the rotation's promise counts from then, across restarts and takeovers."""
        for site_id in self._models_now():
            turns = self._store.turns(site_id)
            with self._lock:
                self._state.turns.setdefault(site_id, turns)

    async def _models_current(self) -> dict[str, ElectricalModel]:
        """The cached models; read in a thread only when some must be read (every round
        asks: a thread hop each time would delay every site's recomputation)."""
        with self._lock:
            if self._models is not None and not self._stale:
                return dict(self._models)  # other threads replace models in the cache
        return await asyncio.to_thread(self._models_now)

    def _models_now(self) -> dict[str, ElectricalModel]:
        with self._lock:
            return dict(self._current_models())

    def release_lease(self) -> None:
        """Give the lease up (also one taken by an attempt still running when the task was
        cancelled: the lease's own lock makes this wait for it)."""
        self.leading.clear()
        if self._lease is not None:
            self._lease.release()

    async def _lead(self, stop: asyncio.Event) -> bool:
        """Wait until this process holds the lease (another API replica may); False when
        stopped first."""
        while self._lease is not None and not stop.is_set():
            try:
                if await asyncio.to_thread(self._lease.try_acquire):
                    break
            except Exception:
                log.exception("load-management lease: database unreachable")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.lease_retry_s)
        if stop.is_set():
            return False
        self.leading.set()
        return True

    def site_changed_all(self, failsafe: bool = True) -> None:
        with self._lock:
            sites = self._sites()
            self._state.dirty |= set(sites.values())
            if failsafe:
                self._state.failsafe_due |= {s for s, st in self._state.stations.items()
                                             if st.online}

    async def _recompute(self, model: ElectricalModel) -> None:
        load = await self._building_load(model.site_id)
        result, plan, kept = self.allocate_site(model, load)
        await self._rounds.write(kept)
        renewals = self._profiles.due_renewals(model, plan)
        caps = self._profiles.due_caps(model, result)
        if not plan.empty or renewals or caps:
            await self._profiles.send(model.site_id, plan, renewals, caps)

    # views ---------------------------------------------------------------------------------
    def power(self, model: ElectricalModel) -> dict[str, Any]:
        """`GET /sites/{id}/power`: the last allocation (a fresh one, not sent, before the
        first round) and what each connector is doing."""
        if not self.leading.is_set():  # another replica manages load: its view
            kept = self._store.power(model.site_id)
            if kept is not None:
                return kept
        load = self._store.load(model.site_id)
        with self._lock:
            result = self._state.last.get(model.site_id)
            if result is None:
                demands = {c.key: self._demand(model, c.key) for c in model.connectors}
                result = allocate(model, demands, load, {}, self._clock(), self.settings.slot)
            return power_document(model, result, self._state.connectors,
                                  self._state.stations, load)


def _moved(used: BuildingLoad | None, load: BuildingLoad, max_age_s: float,
           threshold_a: float) -> bool:
    if used is None or (load.measured_at - used.measured_at).total_seconds() >= max_age_s:
        return True
    phases = set(used.per_phase) | set(load.per_phase)
    return any(abs(load.per_phase.get(p, 0.0) - used.per_phase.get(p, 0.0)) >= threshold_a
               for p in phases)
