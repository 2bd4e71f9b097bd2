"""What an OCPP session needs: who is connected, and the gateway's shared collaborators."""

from __future__ import annotations

from dataclasses import dataclass, field

from ocpp_events.domain.authorization import AuthorizationPolicy, FixedPolicy
from ocpp_events.domain.flood_control import FloodPolicy
from ocpp_events.domain.ports import Clock, CommandInbox, StationRegistry
from ocpp_events.domain.transaction_ids import TransactionIdAllocator
from ocpp_events.infrastructure.metrics import GatewayMetrics
from ocpp_events.service.publishing import ConfirmedPublisher

NO_FLOOD_CONTROL = FloodPolicy(calls_per_second=0, burst=1, close_after=0, window=1.0)


@dataclass(frozen=True)
class Session:
    """One websocket connection of one station."""

    station_id: str
    connection_id: str
    ocpp_version: str


@dataclass
class GatewayServices:
    """Collaborators shared by every connection of one gateway."""

    publisher: ConfirmedPublisher
    transaction_ids: TransactionIdAllocator
    clock: Clock = field(default_factory=Clock)
    authorization: AuthorizationPolicy = field(default_factory=FixedPolicy)
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    heartbeat_interval: int = 300
    data_transfer_vendors: frozenset[str] = frozenset()
    command_inbox: CommandInbox | None = None  # remote commands routed per connected station
    validate_responses: bool = False  # also schema-validate the answers (tests: on)
    flood_policy: FloodPolicy = NO_FLOOD_CONTROL
    station_registry: StationRegistry | None = None  # read when a pending station boots
