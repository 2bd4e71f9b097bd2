"""CLI: `python -m event_store api|worker`, and `import-sqlite PATH` (copy an embedded
event store's SQLite file into the configured storage: MongoDB when MONGO_URL is set)."""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

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
    roles = parser.add_subparsers(dest="role", required=True, metavar="{api,worker,import-sqlite}")
    roles.add_parser("api", help="query/replay HTTP API")
    roles.add_parser("worker", help="queue consumer")
    importing = roles.add_parser(
        "import-sqlite", help="copy the events of an embedded event store's SQLite file into "
                              "the configured storage (idempotent by event id)")
    importing.add_argument("path", type=pathlib.Path, help="e.g. .data/event-store.sqlite3 or "
                                                            "a backup's event-store.sqlite3")
    importing.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings)
    if args.role == "import-sqlite":
        raise SystemExit(import_sqlite(settings, args.path, args.batch_size))
    if args.role == "api":
        from event_store.infrastructure.tokens import MissingSecret
        try:
            bootstrap.run_api(settings)
        except MissingSecret as error:
            raise SystemExit(f"event_store api: {error}") from error
    else:
        bootstrap.run_worker(settings)


def import_sqlite(settings: Settings, path: pathlib.Path, batch_size: int) -> int:
    """`import-sqlite PATH`: exit code 0 when every event of PATH is in the target."""
    from event_store.infrastructure.sqlite_storage import SqliteEventStorage
    from event_store.service.importing import copy_events

    if not path.is_file():
        print(f"error: no event store file at {path}", file=sys.stderr)
        return 2
    if batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if not settings.mongo_url and settings.sqlite_path.resolve() == path.resolve():
        print(f"error: {path} is the configured storage itself (set MONGO_URL, or "
              "EVENT_STORE_SQLITE_PATH to another file)", file=sys.stderr)
        return 2
    source, target = SqliteEventStorage(path), bootstrap.build_storage(settings)
    try:
        result = copy_events(source, target, batch_size, lambda done: print(
            f"{done.read} events read, {done.new} new", file=sys.stderr, flush=True))
    finally:
        source.close()
        target.close()
    where = "MongoDB" if settings.mongo_url else str(settings.sqlite_path)
    print(f"imported {path} into {where}: {result.read} events, {result.new} new "
          f"({result.read - result.new} were there already)")
    return 0


if __name__ == "__main__":
    main()
