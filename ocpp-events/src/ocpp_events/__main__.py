"""CLI: `python -m ocpp_events serve` (services mode; needs AMQP_URL)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocpp_events")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the OCPP gateway against RabbitMQ (AMQP_URL)")
    parser.parse_args(argv)
    from ocpp_events.entrypoints import serve

    serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
