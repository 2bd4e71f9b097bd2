"""What the load context knows of stations and connectors right now, from their events:
online or not, a charge in progress and its transaction, the current drawn, the last profile
sent and its result. Plus the rule that gives a car's unused current to the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

UNDERUSE_MARGIN_A = 2.0  # drawing this much below its limit …
UNDERUSE_FOR = timedelta(seconds=60)  # … for this long: the car takes less than it is given
HEADROOM_A = 1.0  # its cap is then what it draws plus this
RAMP_MARGIN_A = 0.5  # drawing within this of its cap: it may want more, the cap is lifted

# results after which the connector is counted at its maximum until its next charge or boot
# (not_connected and timeout: until its TxProfile is tried again, service/load_profiles.py)
REFUSED_RESULTS = frozenset({"rejected", "call_error", "unsupported", "timeout", "not_connected"})


@dataclass(frozen=True)
class StationSeen:
    station_id: str
    online: bool
    connection_id: str | None = None
    ocpp_version: str | None = None
    booted: bool = False  # connected or booted: send the failsafe default profile


@dataclass(frozen=True)
class ChargeChanged:
    """A charge started, may draw, stopped drawing, or ended. `connector_id` None: the
    connector is found by the transaction (1.6 StopTransaction names only that)."""

    station_id: str
    connector_id: int | None
    charging: bool
    transaction_id: str | None = None
    id_tag: str | None = None  # who started it, when the event says


@dataclass(frozen=True)
class CurrentMeasured:
    station_id: str
    connector_id: int
    amps: float  # the highest phase
    at: datetime
    per_phase: tuple[tuple[str, float], ...] = ()  # (phase, A) when the reading names them


@dataclass(frozen=True)
class PowerMeasured:
    """A reading of `Power.Active.Import` (W) where no current was sampled: converted to a
    current with the site's voltage (`as_current`)."""

    station_id: str
    connector_id: int
    watts: float  # the total
    at: datetime
    per_phase: tuple[tuple[str, float], ...] = ()  # (phase, W) when the reading names them

    def as_current(self, voltage_v: float) -> CurrentMeasured:
        """Per phase: W / V. A total alone is taken as if drawn on one phase (W / V): an upper
        bound of every phase's current, so a car is never capped below what it may draw."""
        per_phase = tuple((p, w / voltage_v) for p, w in self.per_phase)
        amps = max(a for _, a in per_phase) if per_phase else self.watts / voltage_v
        return CurrentMeasured(self.station_id, self.connector_id, max(0.0, amps), self.at,
                               per_phase)


Observation = StationSeen | ChargeChanged | CurrentMeasured | PowerMeasured


@dataclass
class ConnectorLive:
    charging: bool = False
    transaction_id: str | None = None
    id_tag: str | None = None
    measured_a: float | None = None
    measured_at: datetime | None = None
    underused_since: datetime | None = None
    car_max_a: float | None = None
    profile_limit_a: float | None = None  # the last TxProfile sent
    profile_result: str | None = None  # accepted, rejected, call_error, timeout, unsupported
    profile_sent_at: datetime | None = None
    profile_valid_to: datetime | None = None  # its lease: renewed before, expires without us

    @property
    def refused(self) -> bool:
        return self.profile_result in REFUSED_RESULTS

    def measured(self, amps: float, at: datetime, limit_a: float | None) -> bool:
        """Record a reading; True when the car's cap changed (a reason to recompute)."""
        self.measured_a, self.measured_at = amps, at
        before = self.car_max_a
        if self.car_max_a is not None and amps >= self.car_max_a - RAMP_MARGIN_A:
            self.car_max_a, self.underused_since = None, None  # ramping up: give it back
        elif limit_a is not None and limit_a > 0 and amps < limit_a - UNDERUSE_MARGIN_A:
            self.underused_since = self.underused_since or at
            if at - self.underused_since >= UNDERUSE_FOR and self.car_max_a is None:
                self.car_max_a = amps + HEADROOM_A
        else:
            self.underused_since = None
        return before != self.car_max_a


@dataclass
class StationLive:
    online: bool = False
    connection_id: str | None = None
    ocpp_version: str | None = None
    failsafe_limit_a: float | None = None
    failsafe_result: str | None = None
    # the station max profile (ChargePointMaxProfile / ChargingStationMaxProfile): a permanent
    # one at its safe total, and a leased one over it at what it is allocated now
    base_cap_a: float | None = None
    base_cap_result: str | None = None
    cap_a: float | None = None  # the leased cap last accepted
    cap_result: str | None = None
    cap_valid_to: datetime | None = None
