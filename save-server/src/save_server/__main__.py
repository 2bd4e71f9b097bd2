"""`python -m save_server api|worker|migrate|scheduler`."""

from __future__ import annotations

import argparse

from save_server import bootstrap

COMMANDS = {
    "api": bootstrap.run_api,
    "worker": bootstrap.run_worker,
    "migrate": bootstrap.run_migrate,
    "scheduler": bootstrap.run_scheduler,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="save_server", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    from save_server.infrastructure.accounts.setup import MissingSecret
    try:
        COMMANDS[args.command]()
    except MissingSecret as error:
        raise SystemExit(f"save_server {args.command}: {error}") from error


if __name__ == "__main__":
    main()
