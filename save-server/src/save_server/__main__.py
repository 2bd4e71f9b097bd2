"""`python -m save_server api|worker|migrate|scheduler|create-account|generate-signing-key`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from save_server import entrypoints

COMMANDS = {
    "api": entrypoints.run_api,
    "worker": entrypoints.run_worker,
    "migrate": entrypoints.run_migrate,
    "scheduler": entrypoints.run_scheduler,
}
ROLES = ("admin", "operator", "technician", "viewer")


def create_account(args: argparse.Namespace) -> None:
    """An account (password from a prompt, or stdin with --password-stdin; never argv),
    optionally with an API key printed once."""
    if args.email is None:
        raise SystemExit("create-account needs --email")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            raise SystemExit("the passwords differ")
    account, key = entrypoints.create_account(args.email, args.name or args.email, args.role,
                                            password or None, args.api_key)
    print(f"account {account.account_id} ({account.email}, {account.role.value}) created")
    if key:
        print(f"API key (shown only now): {key}")


def generate_signing_key(args: argparse.Namespace) -> None:
    from save_server.infrastructure.accounts.tokens import ensure_key_pair

    folder = Path(args.out)
    private, public = folder / "auth-signing-key.pem", folder / "auth-public-key.pem"
    if private.exists():
        raise SystemExit(f"{private} exists: not overwritten (move it away to rotate)")
    ensure_key_pair(private, public)
    print(f"wrote {private} (secret, mode 0600) and {public}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="save_server", description=__doc__)
    parser.add_argument("command", choices=sorted([*COMMANDS, "create-account",
                                                   "generate-signing-key"]))
    parser.add_argument("--email", help="create-account: the account's e-mail")
    parser.add_argument("--name", help="create-account: display name (default: the e-mail)")
    parser.add_argument("--role", choices=ROLES, default="admin", help="create-account")
    parser.add_argument("--password-stdin", action="store_true",
                        help="create-account: read the password from the first line of stdin")
    parser.add_argument("--api-key", action="store_true",
                        help="create-account: also create an API key and print it once")
    parser.add_argument("--out", default="secrets",
                        help="generate-signing-key: folder of the two PEM files")
    args = parser.parse_args(argv)
    from save_server.domain.accounts import InvalidAccountData
    from save_server.infrastructure.accounts.setup import MissingSecret
    try:
        if args.command == "create-account":
            create_account(args)
        elif args.command == "generate-signing-key":
            generate_signing_key(args)
        else:
            COMMANDS[args.command]()
    except MissingSecret as error:
        raise SystemExit(f"save_server {args.command}: {error}") from error
    except InvalidAccountData as error:
        raise SystemExit(f"save_server {args.command}: {error.field_name}: {error}") from error


if __name__ == "__main__":
    main()
