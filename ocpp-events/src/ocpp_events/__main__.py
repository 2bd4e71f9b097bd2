"""CLI: `python -m ocpp_events serve` (services mode; needs AMQP_URL)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from ocpp_events.config import Settings
from ocpp_events.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocpp_events")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the OCPP gateway against RabbitMQ (AMQP_URL)")
    parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    from ocpp_events.bootstrap import run_services

    with asyncio.Runner(loop_factory=loop_factory(settings.gateway_event_loop)) as runner:
        runner.run(run_services(settings))
    return 0


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop, or asyncio's own (None). `auto`: uvloop where it is installed (a
    dependency everywhere but Windows, where uvloop does not exist)."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as error:
        if name == "auto":
            return None
        raise SystemExit("GATEWAY_EVENT_LOOP=uvloop needs `pip install uvloop`") from error
    return uvloop.new_event_loop


if __name__ == "__main__":
    raise SystemExit(main())
