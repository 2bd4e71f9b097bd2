"""CLI: `python -m event_store api|worker`."""

from __future__ import annotations

import argparse
import logging

import structlog

from event_store import bootstrap
from event_store.config import Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer = (structlog.processors.JSONRenderer() if settings.log_format == "json"
                else structlog.dev.ConsoleRenderer())
    # lines of libraries using `logging` (uvicorn, pika) get the same format: with
    # LOG_FORMAT=json every line of the process is JSON
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name,
                           structlog.processors.add_log_level,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.getLogger("pika").setLevel(max(level, logging.WARNING))  # per-connection chatter
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
        from event_store.infrastructure.tokens import MissingSecret
        try:
            bootstrap.run_api(settings)
        except MissingSecret as error:
            raise SystemExit(f"event_store api: {error}") from error
    else:
        bootstrap.run_worker(settings)


if __name__ == "__main__":
    main()
