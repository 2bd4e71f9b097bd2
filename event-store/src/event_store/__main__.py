"""CLI: `python -m event_store api|worker`, and `import-sqlite PATH` (copy an embedded
event store's SQLite file into the configured storage: MongoDB when MONGO_URL is set)."""

from __future__ import annotations

import argparse
import pathlib

from event_store import entrypoints


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
    if args.role == "import-sqlite":
        raise SystemExit(entrypoints.run_import_sqlite(args.path, args.batch_size))
    if args.role == "api":
        from event_store.infrastructure.tokens import MissingSecret
        try:
            entrypoints.run_api()
        except MissingSecret as error:
            raise SystemExit(f"event_store api: {error}") from error
    else:
        entrypoints.run_worker()


if __name__ == "__main__":
    main()
