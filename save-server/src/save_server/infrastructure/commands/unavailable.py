"""CommandBus used when no broker is configured (AMQP_URL unset outside embedded mode)."""

from __future__ import annotations

from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandBusUnavailable,
    CommandRequest,
)


class NoCommandBus(CommandBus):
    async def send(self, request: CommandRequest) -> CommandAnswer:
        raise CommandBusUnavailable("no broker configured (AMQP_URL): commands cannot be sent")
