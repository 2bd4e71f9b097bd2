"""The translation layer: OCPP-shaped events in, domain commands out.

This is the only place that knows OCPP names; another protocol plugs in beside it.
"""

from __future__ import annotations

from collections.abc import Callable

from save_server.domain.commands import (
    Command,
    ObserveConnection,
    ProjectBusinessEvent,
    RecordDisconnection,
    SetStationDetails,
)
from save_server.infrastructure.translation import ocpp16, ocpp201
from save_server.infrastructure.translation.common import InvalidPayload
from save_server.infrastructure.translation.envelope import (
    BUSINESS_TYPES,
    STATION_DETAILS_CHANGED,
    BusinessEnvelope,
    Envelope,
    PoisonMessage,
    parse_envelope,
)

Translator = Callable[[Envelope], list[Command]]

PREFIX = "ocpp-events."
DISCONNECT = "ocpp-events.disconnect"

# (event type, OCPP version) → translator. Types with no business effect beyond "the station
# was heard from" map to an empty translation.
TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("ocpp-events.boot-notification", "1.6"): ocpp16.boot,
    ("ocpp-events.status-notification", "1.6"): ocpp16.status,
    ("ocpp-events.start-transaction", "1.6"): ocpp16.start_transaction,
    ("ocpp-events.stop-transaction", "1.6"): ocpp16.stop_transaction,
    ("ocpp-events.meter-values", "1.6"): ocpp16.meter_values,
    ("ocpp-events.boot-notification", "2.0.1"): ocpp201.boot,
    ("ocpp-events.status-notification", "2.0.1"): ocpp201.status,
    ("ocpp-events.transaction-event", "2.0.1"): ocpp201.transaction_event,
    ("ocpp-events.meter-values", "2.0.1"): ocpp201.meter_values,
}
HEARD_FROM = ("ocpp-events.connect", "ocpp-events.heart-beat", "ocpp-events.authorize")

# The one list of the event types this service applies: the routing keys its queue is bound to
# (RabbitMQ and the embedded broker) and the filter of what the worker applies. A replay sent
# to the queue itself bypasses the bindings and brings every type; applying only these keeps a
# rebuild equal to the live state (an unbound type would otherwise count as "heard from").
HANDLED_TYPES: tuple[str, ...] = tuple(sorted(
    {event_type for event_type, _ in TRANSLATORS} | set(HEARD_FROM) | {DISCONNECT}
    | BUSINESS_TYPES))
_HANDLED = frozenset(HANDLED_TYPES)


def handles(event_type: str) -> bool:
    """Whether this service applies events of this type (its queue is bound to it)."""
    return event_type in _HANDLED


def translate(event: Envelope | BusinessEnvelope) -> list[Command]:
    """Domain commands for one event (none for a type outside HANDLED_TYPES); PoisonMessage
    when its payload breaks the contract."""
    if event.type not in _HANDLED:
        return []
    if isinstance(event, BusinessEnvelope):
        return _business(event)
    station_id = event.charging_station_id
    if event.type == DISCONNECT:
        return [RecordDisconnection(station_id, event.connection_id, event.received_at)]
    commands: list[Command] = [ObserveConnection(station_id, event.connection_id,
                                                 event.received_at)]
    translator = TRANSLATORS.get((event.type, event.ocpp_version))
    if translator is None:
        return commands
    try:
        return commands + translator(event)
    except InvalidPayload as error:
        raise PoisonMessage(f"{event.type}: {error}", str(event.event_id)) from error
    except Exception as error:  # pure: it would fail the same way at every delivery
        raise PoisonMessage(f"{event.type}: cannot translate: {error!r}",
                            str(event.event_id)) from error


STATION_DETAILS = ("name", "address", "latitude", "longitude")


def _business(event: BusinessEnvelope) -> list[Command]:
    """Operator changes applied back in a replay (live, their own delivery is a duplicate)."""
    if event.type != STATION_DETAILS_CHANGED:
        return [ProjectBusinessEvent(event.type, event.payload, event.received_at,
                                     event.charging_station_id)]
    details = tuple((k, v) for k, v in event.payload.items() if k in STATION_DETAILS)
    if not details or event.charging_station_id is None:
        raise PoisonMessage(f"{event.type}: no station or no station detail in the payload",
                            str(event.event_id))
    return [SetStationDetails(event.charging_station_id, details)]


__all__ = ["HANDLED_TYPES", "BusinessEnvelope", "Envelope", "PoisonMessage", "handles",
           "parse_envelope", "translate"]
