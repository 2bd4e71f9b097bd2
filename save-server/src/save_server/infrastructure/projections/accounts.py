"""`accounts.*` back into accounts, API keys and ended sign-in sessions.

Rules (docs/architecture.md, "What a replay rebuilds"):
- an account's events carry it whole; its password hash only when it was set (otherwise the
  stored one stays);
- an e-mail names one account: when a creation names an e-mail another account holds, the
  account created first keeps it. The later one can only be the first-start admin that
  save-server made on an empty database before the replay (its events are in the log too):
  it is dropped, its keys pass to the history's account (the key file written at that start
  keeps working), and its own later events find no account and change nothing;
- a session's refresh token is not in any event: sessions are not rebuilt (users sign in
  again), but a signed-out session is, so its access tokens stay refused until they expire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from save_server.domain.commands import ProjectBusinessEvent
from save_server.infrastructure.accounts.store import bump_credential_revision
from save_server.infrastructure.accounts.tables import accounts, api_keys, sign_in_sessions
from save_server.infrastructure.db.statements import SqlStatements
from save_server.infrastructure.projections.common import moment, required

TYPES = ("accounts.account-created", "accounts.account-updated", "accounts.account-deleted",
         "accounts.api-key-created", "accounts.api-key-revoked", "accounts.signed-in",
         "accounts.signed-out")

ACCOUNT_FIELDS = ("account_id", "email", "display_name", "role", "enabled", "station_scope",
                  "created_at")


def project(sql: SqlStatements, command: ProjectBusinessEvent) -> None:
    db, payload, kind = sql.db, command.payload, command.event_type.split(".", 1)[1]
    if kind in ("account-created", "account-updated"):
        _account(db, payload, created=kind == "account-created")
    elif kind == "account-deleted":
        required(payload, "account_id")
        _delete_account(db, payload["account_id"])
    elif kind == "api-key-created":
        _key(db, payload)
    elif kind == "api-key-revoked":
        required(payload, "key_id", "revoked_at")
        db.execute(update(api_keys).where(api_keys.c.key_id == payload["key_id"])
                   .values(revoked_at=moment(payload["revoked_at"])))
    elif kind == "signed-in":
        required(payload, "account_id")
        db.execute(update(accounts).where(accounts.c.account_id == payload["account_id"])
                   .values(last_login_at=command.occurred_at))
        return  # nothing that authentication reads
    elif kind == "signed-out":
        _ended_session(db, payload, command)
    bump_credential_revision(db)


def _account(db: Connection, payload: Mapping[str, Any], created: bool) -> None:
    required(payload, *ACCOUNT_FIELDS)
    row = {"account_id": payload["account_id"], "email": payload["email"],
           "display_name": payload["display_name"], "role": payload["role"],
           "enabled": payload["enabled"], "station_scope": payload["station_scope"],
           "site_scope": payload.get("site_scope"),
           "created_at": moment(payload["created_at"]),
           "last_login_at": moment(payload.get("last_login_at"))}
    if "password_hash" in payload:
        row["password_hash"] = payload["password_hash"]
    if db.execute(update(accounts).where(accounts.c.account_id == row["account_id"])
                  .values(row)).rowcount:
        return
    if not created:
        return  # an update of an account dropped for its e-mail (module docstring)
    holder = db.execute(select(accounts.c.account_id, accounts.c.created_at).where(
        accounts.c.email == row["email"])).first()
    if holder is not None and holder.created_at <= row["created_at"]:
        return  # the account created first keeps the e-mail
    if holder is not None:  # the e-mail is freed first (it is unique)
        db.execute(update(accounts).where(accounts.c.account_id == holder.account_id)
                   .values(email=f"replaced-{holder.account_id}"))
    db.execute(insert(accounts).values({"password_hash": None, **row}))
    if holder is not None:
        # its keys (the preset admin key, the key file written at that start) stay usable:
        # they pass to the account that now holds the e-mail, never missing in between
        db.execute(update(api_keys).where(api_keys.c.account_id == holder.account_id)
                   .values(account_id=row["account_id"]))
        _delete_account(db, holder.account_id)


def _delete_account(db: Connection, account_id: str) -> None:
    db.execute(delete(api_keys).where(api_keys.c.account_id == account_id))
    db.execute(delete(sign_in_sessions).where(sign_in_sessions.c.account_id == account_id))
    db.execute(delete(accounts).where(accounts.c.account_id == account_id))


def _exists(db: Connection, account_id: str) -> bool:
    return db.execute(select(accounts.c.account_id).where(
        accounts.c.account_id == account_id)).first() is not None


def _key(db: Connection, payload: Mapping[str, Any]) -> None:
    required(payload, "key_id", "account_id", "name", "role", "secret_hash", "created_at")
    if not _exists(db, payload["account_id"]):
        return  # its account was dropped for its e-mail: the key went with it
    row = {"key_id": payload["key_id"], "account_id": payload["account_id"],
           "name": payload["name"], "role": payload["role"],
           "secret_hash": payload["secret_hash"], "created_at": moment(payload["created_at"]),
           "expires_at": moment(payload.get("expires_at")),
           "revoked_at": moment(payload.get("revoked_at")),
           "last_used_at": moment(payload.get("last_used_at"))}
    if not db.execute(update(api_keys).where(api_keys.c.key_id == row["key_id"])
                      .values(row)).rowcount:
        db.execute(insert(api_keys).values(row))


NO_REFRESH = ""  # a rebuilt session has no refresh token: no digest equals it


def _ended_session(db: Connection, payload: Mapping[str, Any],
                   command: ProjectBusinessEvent) -> None:
    required(payload, "account_id", "session_id", "expires_at")
    if not _exists(db, payload["account_id"]):
        return
    ended = {"ended_at": command.occurred_at, "expires_at": moment(payload["expires_at"])}
    if not db.execute(update(sign_in_sessions).where(
            sign_in_sessions.c.session_id == payload["session_id"]).values(ended)).rowcount:
        db.execute(insert(sign_in_sessions).values(
            session_id=payload["session_id"], account_id=payload["account_id"],
            refresh_hash=NO_REFRESH, created_at=command.occurred_at, **ended))
