"""CLI: `python -m event_store api|worker`."""

from __future__ import annotations

import argparse

from event_store import entrypoints


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="event_store", description=__doc__)
    parser.add_argument("role", choices=["api", "worker"],
                        help="api: query/replay HTTP API; worker: queue consumer")
    args = parser.parse_args(argv)
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
