"""The failsafe: the default profile each station keeps when the platform or the network is
gone. Each connector's safe share is an equal split of the tightest node and phase it uses
(the building counted at its fallback on a metered supply), so the shares of all connectors
on any node add up to at most its usable limit, whoever charges. A share below the
connector's minimum is 0: without the platform that connector does not charge."""

from __future__ import annotations

import math

from save_server.domain.load.live import StationLive
from save_server.domain.load.model import ROOT, ConnectorKey, ElectricalModel


def safe_shares(model: ElectricalModel) -> dict[ConnectorKey, float]:
    users: dict[tuple[str, str], int] = {}
    for connector in model.connectors:
        for node in model.path(connector):
            for phase in connector.phases:
                users[(node, phase)] = users.get((node, phase), 0) + 1
    building = model.fallback_building_a() if model.building_metered else 0.0
    shares = {}
    for connector in model.connectors:
        share = min((model.usable(node) - (building if node == ROOT else 0.0))
                    / users[(node, phase)]
                    for node in model.path(connector) for phase in connector.phases)
        share = min(share, connector.max_a)
        shares[connector.key] = (math.floor(share * 10 + 1e-6) / 10
                                 if share >= connector.min_a else 0.0)
    return shares


def station_safe_total(model: ElectricalModel, station_id: str) -> float | None:
    """What the whole station may draw per phase without the platform: the sum of its
    connectors' safe shares (its station max profile)."""
    shares = [a for (s, _), a in safe_shares(model).items() if s == station_id]
    return math.floor(sum(shares) * 10 + 1e-6) / 10 if shares else None


def station_default(model: ElectricalModel, station_id: str) -> float | None:
    """One limit for every connector of the station (profile on connector 0): the smallest
    share of its connectors; None when the model does not list the station."""
    shares = [a for (s, _), a in safe_shares(model).items() if s == station_id]
    return min(shares) if shares else None


def failsafe_within_allocation(station: StationLive, allowed: list[float]) -> bool:
    """Every connector of the station is allowed at least what its accepted failsafe gives
    (one limit for all its connectors): without the platform none could draw more than its
    allocation, whatever starts or ends there, so a cap at its allocation would add nothing.
    (Unknown or refused failsafe: not bounded.)"""
    limit = station.failsafe_limit_a
    return station.failsafe_result == "accepted" and limit is not None \
        and all(a >= limit for a in allowed)
