"""The load context's live state: stations, connectors, rotation turns and the last
allocation of each site, updated from observations (the charger events)."""

from __future__ import annotations

from dataclasses import dataclass, field

from save_server.domain.load.allocator import Allocation, ConnectorDemand
from save_server.domain.load.live import (
    REFUSED_RESULTS,
    ChargeChanged,
    ConnectorLive,
    CurrentMeasured,
    Observation,
    StationLive,
    StationSeen,
)
from save_server.domain.load.model import ConnectorKey
from save_server.domain.load.rotation import Turn


@dataclass
class LiveState:
    """What the load context knows now, per station, connector and site."""

    stations: dict[str, StationLive] = field(default_factory=dict)
    connectors: dict[ConnectorKey, ConnectorLive] = field(default_factory=dict)
    turns: dict[str, dict[ConnectorKey, Turn]] = field(default_factory=dict)
    last: dict[str, Allocation] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    later: set[str] = field(default_factory=set)  # increases held back: dirty once they may go
    failsafe_due: set[str] = field(default_factory=set)
    # not delivered or not answered: sent again, while online, after the retry's backoff
    failsafe_retry: set[str] = field(default_factory=set)
    # TxProfiles not delivered or not answered (counted at the maximum meanwhile): the charge
    # is made controllable again, and its profile sent again, once the interval has passed
    tx_retry: set[ConnectorKey] = field(default_factory=set)

    def apply(self, seen: Observation, site_id: str) -> bool:
        """Update the live state; True when the site needs a recomputation."""
        state = self
        if isinstance(seen, StationSeen):
            station = state.stations.setdefault(seen.station_id, StationLive())
            if not seen.online and None not in (seen.connection_id, station.connection_id) \
                    and seen.connection_id != station.connection_id:
                return False  # an older connection closed after the station reconnected
            station.online = seen.online
            station.connection_id = seen.connection_id or station.connection_id
            station.ocpp_version = seen.ocpp_version or station.ocpp_version
            if seen.booted:  # a new connection or boot: what it refused before is forgotten
                state.failsafe_due.add(seen.station_id)
                station.failsafe_result = None
                for key, live in state.connectors.items():
                    if key[0] == seen.station_id:  # its profiles may be gone: ask again
                        live.profile_result = live.profile_limit_a = None
            return True
        if isinstance(seen, ChargeChanged):
            return self.charge(seen)
        if isinstance(seen, CurrentMeasured):
            key = (seen.station_id, seen.connector_id)
            live = state.connectors.setdefault(key, ConnectorLive())
            last = state.last.get(site_id)
            given = last.limits.get(key) if last is not None else None
            return live.measured(seen.amps, seen.at, given)
        return False

    def charge(self, seen: ChargeChanged) -> bool:
        connectors = self.connectors
        key: ConnectorKey | None = (seen.station_id, seen.connector_id) \
            if seen.connector_id is not None else next(
                (k for k, live in connectors.items() if k[0] == seen.station_id
                 and live.transaction_id == seen.transaction_id), None)
        if key is None:
            return False
        live = connectors.setdefault(key, ConnectorLive())
        ended = not seen.charging and seen.transaction_id is not None
        if seen.charging and seen.transaction_id not in (None, live.transaction_id):
            live.profile_result = live.profile_limit_a = live.car_max_a = None
            live.transaction_id = seen.transaction_id  # a new charge: its own profile
        if seen.id_tag is not None and seen.charging:
            changed_tag = live.id_tag != seen.id_tag
            live.id_tag = seen.id_tag
        else:
            changed_tag = False
        changed = live.charging != seen.charging or ended or changed_tag
        live.charging = seen.charging
        if ended:
            live.transaction_id = live.car_max_a = live.id_tag = None
            live.profile_result = live.profile_limit_a = None
        return changed or seen.transaction_id is not None

    def demand(self, key: ConnectorKey) -> ConnectorDemand:
        live = self.connectors.get(key) or ConnectorLive()
        station = self.stations.get(key[0])
        controllable = (station is not None and station.online and not live.refused
                        and station.failsafe_result not in REFUSED_RESULTS
                        and (not live.charging or live.transaction_id is not None))
        return ConnectorDemand(key, live.charging, controllable, live.car_max_a)

    def working_limit(self, key: ConnectorKey) -> float | None:
        """What the connector obeys now: its accepted TxProfile, else its accepted default
        profile; None when unknown (the new limit is then sent with the decreases)."""
        live = self.connectors.get(key)
        if live is not None and live.profile_result == "accepted":
            return live.profile_limit_a
        station = self.stations.get(key[0])
        if station is not None and station.failsafe_result == "accepted":
            return station.failsafe_limit_a
        return None
