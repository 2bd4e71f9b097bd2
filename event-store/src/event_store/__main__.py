"""CLI: `python -m event_store api|worker`."""

from __future__ import annotations

import argparse
import logging

import structlog

from event_store import bootstrap
from event_store.config import Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(message)s")
    renderer = (structlog.processors.JSONRenderer() if settings.log_format == "json"
                else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="event_store", description=__doc__)
    parser.add_argument("role", choices=["api", "worker"],
                        help="api: query/replay HTTP API; worker: queue consumer")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings)
    if args.role == "api":
        bootstrap.run_api(settings)
    else:
        bootstrap.run_worker(settings)


if __name__ == "__main__":
    main()
