"""A connector's facts replayed in order: the status it shows, when it last left "in use", and
how far back its history can still change anything.

Order: the station's clock where it is unambiguous, arrival where it is not.
- A whole-second station time (RFC 3339 makes fractions optional) may mean any moment of that
  second, so it counts as the end of that second.
- A status report received on a connection after that connection's boot is newer than the
  boot, whatever the station's clock says (the station sent it after its boot was answered).
- On equal times a status report outranks a charge's start or end, which outranks a boot; then
  the earlier arrival comes first.

State: a 1.6 connector (and a 2.0.1 EVSE reset by a boot) has one state; a 2.0.1 EVSE keeps the
latest report of each of its connectors and shows the first status of EVSE_STATUS_PRECEDENCE
any of them has. A charge's start counts as one more "in use" claim until the charge ends or a
later status report speaks; its end makes the connector available where the charge was all
that kept it in use (a 2.0.1 connector still `Occupied` stays in use until it reports
otherwise).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from save_server.domain.rules import (
    EVSE_STATUS_PRECEDENCE,
    STATUS_AFTER_BOOT,
    STATUS_WHILE_CHARGING,
    ConnectorStatus,
)
from save_server.domain.status import FactSource, StatusReport

_PRECEDENCE = {status: rank for rank, status in enumerate(EVSE_STATUS_PRECEDENCE)}

Held = tuple[int, StatusReport]  # (position in the ordered log, fact)


class BootClock:
    """A station's boots by the connection they arrived on."""

    def __init__(self, boots: Mapping[datetime, str | None]) -> None:
        self._by_connection: dict[str, list[datetime]] = {}
        for at, connection_id in boots.items():
            if connection_id is not None:
                self._by_connection.setdefault(connection_id, []).append(at)
        for times in self._by_connection.values():
            times.sort()

    def last_boot(self, connection_id: str, received_before: datetime) -> datetime | None:
        times = self._by_connection.get(connection_id)
        if not times:
            return None
        index = bisect_right(times, received_before)
        return times[index - 1] if index else None


def sort_key(fact: StatusReport, clock: BootClock) -> tuple:
    key = fact.timeline_key
    if (fact.source is FactSource.STATUS and fact.connection_id is not None
            and fact.received_at is not None):
        boot = clock.last_boot(fact.connection_id, fact.received_at)
        if boot is not None and boot > key[0]:
            return (boot, *key[1:])
    return key


class Derived(NamedTuple):
    shown: StatusReport
    last_released_at: datetime | None  # when it last left "in use" (None: not in the facts)
    horizon: datetime  # facts before it cannot change any derived value any more
    # The last release before the horizon: final (later facts cannot undo it), the answer
    # once a late fact shows that a release in the window was none.
    released_before_horizon: datetime | None
    # A 2.0.1 EVSE: the latest report of each of its connectors since its last reset, by
    # connector id (empty when the whole connector reported last, as every 1.6 one does).
    evse_connectors: tuple[tuple[int, StatusReport], ...] = ()


class _State:
    """What holds a connector's status while its facts are replayed: one fact for the whole
    connector, or one per 2.0.1 connector of the EVSE since its last reset; and the open
    charge's start, if any."""

    def __init__(self) -> None:
        self.whole: Held | None = None
        self.connectors: dict[int, Held] = {}
        self.charge: Held | None = None

    def apply(self, position: int, fact: StatusReport) -> None:
        held = (position, fact)
        if fact.source is FactSource.CHARGE:
            if fact.status is STATUS_WHILE_CHARGING:
                self.charge = held
                return
            self.charge = None
            if not self.connectors and (
                    self.whole is None or self.whole[1].status is ConnectorStatus.IN_USE):
                self.whole = held
        elif fact.evse_connector_id is None:
            self.whole, self.connectors, self.charge = held, {}, None
        else:
            self.connectors[fact.evse_connector_id] = held
            self.charge = None

    def in_use(self) -> bool:
        """Whether it shows `in_use` (the first status of the precedence: any holder)."""
        if self.charge is not None:
            return True
        if self.connectors:
            return any(fact.status is ConnectorStatus.IN_USE
                       for _, fact in self.connectors.values())
        return self.whole is not None and self.whole[1].status is ConnectorStatus.IN_USE

    def held(self) -> list[Held]:
        held = list(self.connectors.values()) or ([self.whole] if self.whole else [])
        return held + ([self.charge] if self.charge else [])

    def shown(self, held: list[Held]) -> Held:
        """The first status of the precedence; among equals the station's own report (a
        charge's claim adds no detail to a `Preparing`), then the newest."""
        return min(held, key=lambda h: (
            _PRECEDENCE[h[1].status], h[1].source is FactSource.CHARGE, -h[0]))


def derive(reports: Sequence[StatusReport], boots: Mapping[datetime, str | None],
           horizon: datetime | None = None) -> Derived | None:
    """Replay a connector's reports with the station's boots since the oldest report or the
    horizon (a boot may be the fact the connector's state rests on); at least one of the two
    must be given. None when there is no fact at all."""
    log = list(reports)
    if boots:
        earliest = min(report.at for report in reports) if reports else horizon
        if horizon is not None and earliest is not None and horizon < earliest:
            earliest = horizon
        log += [StatusReport(at, STATUS_AFTER_BOOT, source=FactSource.BOOT,
                             connection_id=connection)
                for at, connection in boots.items() if earliest is None or at >= earliest]
        clock = BootClock(boots)
        log.sort(key=lambda fact: sort_key(fact, clock))
    else:
        log.sort(key=lambda fact: fact.timeline_key)
    if not log:
        return None
    state = _State()
    run_start: int | None = None
    last_run: tuple[int, int] | None = None
    releases: list[int] = []
    for position, fact in enumerate(log):
        state.apply(position, fact)
        if state.in_use():
            if run_start is None:
                run_start = position
        elif run_start is not None:
            last_run, run_start = (run_start, position), None
            releases.append(position)
    held = state.held()
    start = min(position for position, _ in held)
    if last_run is not None and last_run[0] < start:
        start = last_run[0]
    if run_start is not None and run_start < start:
        start = run_start
    before = [position for position in releases if position < start]
    return Derived(
        shown=state.shown(held)[1],
        last_released_at=log[last_run[1]].at if last_run else None,
        horizon=min(fact.at for fact in log[start:]),
        released_before_horizon=log[before[-1]].at if before else None,
        evse_connectors=tuple((connector_id, state.connectors[connector_id][1])
                              for connector_id in sorted(state.connectors)),
    )
