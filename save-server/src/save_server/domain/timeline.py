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
later status report of its connector speaks; its end makes the connector available where the
charge was all that kept it in use (a 2.0.1 connector still `Occupied` stays in use until it
reports otherwise).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from save_server.domain.rules import (
    EVSE_STATUS_PRECEDENCE,
    STATUS_AFTER_BOOT,
    STATUS_WHILE_CHARGING,
    ConnectorStatus,
)
from save_server.domain.status import FactSource, StatusReport

UNKNOWN_ARRIVAL = datetime.min.replace(tzinfo=UTC)
_REST_OF_THE_SECOND = timedelta(microseconds=999_999)
_RANK = {FactSource.BOOT: 0, FactSource.CHARGE: 1, FactSource.STATUS: 2}
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
    at = fact.at
    if fact.source is not FactSource.BOOT and at.microsecond == 0:
        at += _REST_OF_THE_SECOND
    if (fact.source is FactSource.STATUS and fact.connection_id is not None
            and fact.received_at is not None):
        boot = clock.last_boot(fact.connection_id, fact.received_at)
        if boot is not None and boot > at:
            at = boot
    return (at, _RANK[fact.source], fact.received_at or UNKNOWN_ARRIVAL, fact.status.value,
            fact.raw_status or "", fact.error_code or "", fact.info or "",
            fact.evse_connector_id or 0, fact.connection_id or "")


@dataclass(frozen=True)
class Derived:
    shown: StatusReport
    last_released_at: datetime | None  # when it last left "in use" (None: not in the facts)
    horizon: datetime  # facts before it cannot change any derived value any more
    # The last release before the horizon: final (later facts cannot undo it), the answer
    # once a late fact shows that a release in the window was none.
    released_before_horizon: datetime | None
    connectors: dict[int, StatusReport]  # a 2.0.1 EVSE's connectors since its last reset


class _State:
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

    def held(self) -> list[Held]:
        held = list(self.connectors.values()) or ([self.whole] if self.whole else [])
        return held + ([self.charge] if self.charge else [])

    def shown(self) -> Held:
        """The first status of the precedence; among equals the station's own report (a
        charge's claim adds no detail to a `Preparing`), then the newest."""
        return min(self.held(), key=lambda h: (
            _PRECEDENCE[h[1].status], h[1].source is FactSource.CHARGE, -h[0]))


def derive(reports: Sequence[StatusReport], boots: Mapping[datetime, str | None],
           horizon: datetime | None = None) -> Derived | None:
    """Replay a connector's reports with the station's boots since the oldest report or the
    horizon (a boot may be the fact the connector's state rests on); at least one of the two
    must be given. None when there is no fact at all."""
    earliest = min([report.at for report in reports] + ([horizon] if horizon else []))
    log = list(reports) + [
        StatusReport(at, STATUS_AFTER_BOOT, source=FactSource.BOOT, connection_id=connection)
        for at, connection in boots.items() if at >= earliest]
    if not log:
        return None
    clock = BootClock(boots)
    log.sort(key=lambda fact: sort_key(fact, clock))
    state = _State()
    run_start: int | None = None
    last_run: tuple[int, int] | None = None
    releases: list[int] = []
    for position, fact in enumerate(log):
        state.apply(position, fact)
        if state.shown()[1].status is ConnectorStatus.IN_USE:
            run_start = position if run_start is None else run_start
        elif run_start is not None:
            last_run, run_start = (run_start, position), None
            releases.append(position)
    keep = [position for position, _ in state.held()]
    keep += [last_run[0]] if last_run else []
    keep += [run_start] if run_start is not None else []
    start = min(keep)
    before = [position for position in releases if position < start]
    return Derived(
        shown=state.shown()[1],
        last_released_at=log[last_run[1]].at if last_run else None,
        horizon=min(fact.at for fact in log[start:]),
        released_before_horizon=log[before[-1]].at if before else None,
        connectors={c: fact for c, (_, fact) in sorted(state.connectors.items())},
    )
