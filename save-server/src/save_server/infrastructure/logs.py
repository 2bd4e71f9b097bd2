"""structlog setup, the same in every service: console or JSON lines on stderr, context
(station, connection, event ids) bound per task or thread.

Records of other libraries (QUIET_LOGGERS and the rest) go through the same renderer, so
with LOG_FORMAT=json every line of the process is one JSON object.
"""

from __future__ import annotations

import logging
import sys

import structlog

QUIET_LOGGERS = ("pika",)


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)
    for chatty in QUIET_LOGGERS:  # per-connection chatter
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
