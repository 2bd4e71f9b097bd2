"""Structured logs (structlog): console for people, JSON in containers."""

from __future__ import annotations

import logging

import structlog


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if log_format == "json"
        else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(renderer, level)


def _route_standard_logging(renderer: structlog.typing.Processor, level: str) -> None:
    """Lines of libraries using `logging` (uvicorn, pika, alembic) get the same format, so
    with LOG_FORMAT=json every line of the process is JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name,
                           structlog.processors.add_log_level,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
    logging.getLogger("pika").setLevel(logging.WARNING)  # per-connection chatter
