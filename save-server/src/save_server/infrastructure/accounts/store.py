"""The account store on SQLAlchemy Core (SQLite and PostgreSQL alike): each write bumps the
credential revision and commits with its business event in the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exc, insert, select, update

from save_server.domain.access import Role
from save_server.domain.accounts import (
    Account,
    AccountStore,
    ApiKey,
    CredentialState,
    DuplicateEmail,
    SignInSession,
    UnknownAccount,
)
from save_server.domain.business_events import BusinessEvent
from save_server.infrastructure.accounts.tables import (
    accounts,
    api_keys,
    credential_revision,
    sign_in_sessions,
)
from save_server.infrastructure.db.integrity import Violation, violates
from save_server.infrastructure.outbox.writer import add_to_outbox
from save_server.infrastructure.registry.tables import station_registrations


def _account_row(account: Account) -> dict[str, Any]:
    return {"account_id": account.account_id, "email": account.email,
            "display_name": account.display_name, "role": account.role.value,
            "enabled": account.enabled,
            "station_scope": sorted(account.station_scope)
            if account.station_scope is not None else None,
            "password_hash": account.password_hash, "created_at": account.created_at,
            "last_login_at": account.last_login_at,
            "site_scope": sorted(account.site_scope) if account.site_scope is not None else None}


def _account(row: Any) -> Account:
    return Account(row.account_id, row.email, row.display_name, Role(row.role), row.enabled,
                   frozenset(row.station_scope) if row.station_scope is not None else None,
                   row.password_hash, row.created_at, row.last_login_at,
                   frozenset(row.site_scope) if row.site_scope is not None else None)


def _key(row: Any) -> ApiKey:
    return ApiKey(row.key_id, row.account_id, row.name, Role(row.role), row.secret_hash,
                  row.created_at, row.expires_at, row.revoked_at, row.last_used_at)


def _session(row: Any) -> SignInSession:
    return SignInSession(row.session_id, row.account_id, row.refresh_hash, row.created_at,
                         row.expires_at, row.ended_at)


class SqlAccountStore(AccountStore):
    def __init__(self, engine: Engine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._on_commit = on_commit  # wakes the outbox relay

    def _write(self, change: Callable[[Connection], None], event: BusinessEvent | None,
               credentials: bool = True) -> None:
        with self._engine.begin() as db:
            change(db)
            if credentials:
                _bump_revision(db)
            if event is not None:
                add_to_outbox(db, event)
        if event is not None:
            self._on_commit()

    def add_account(self, account: Account, event: BusinessEvent) -> None:
        try:
            self._write(lambda db: db.execute(insert(accounts).values(_account_row(account))),
                        event)
        except exc.IntegrityError as error:
            if violates(error, Violation.UNIQUE, "accounts"):
                raise DuplicateEmail(account.email) from error
            raise

    def save_account(self, account: Account, event: BusinessEvent | None) -> None:
        row = _account_row(account)
        self._write(lambda db: db.execute(update(accounts).where(
            accounts.c.account_id == account.account_id).values(row)), event)

    def delete_account(self, account_id: str, event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            db.execute(delete(api_keys).where(api_keys.c.account_id == account_id))
            db.execute(delete(sign_in_sessions).where(
                sign_in_sessions.c.account_id == account_id))
            db.execute(delete(accounts).where(accounts.c.account_id == account_id))
        self._write(change, event)

    def account(self, account_id: str) -> Account | None:
        return self._one(select(accounts).where(accounts.c.account_id == account_id), _account)

    def account_by_email(self, email: str) -> Account | None:
        return self._one(select(accounts).where(accounts.c.email == email), _account)

    def accounts(self) -> list[Account]:
        with self._engine.connect() as db:
            return [_account(r) for r in db.execute(select(accounts).order_by(accounts.c.email))]

    def add_api_key(self, key: ApiKey, event: BusinessEvent) -> None:
        values = {**key.__dict__, "role": key.role.value}
        with _account_deleted_meanwhile("api_keys", key.account_id):
            self._write(lambda db: db.execute(insert(api_keys).values(values)), event)

    def save_api_key(self, key: ApiKey, event: BusinessEvent | None) -> None:
        values = {**key.__dict__, "role": key.role.value}
        self._write(lambda db: db.execute(update(api_keys).where(
            api_keys.c.key_id == key.key_id).values(values)), event)

    def api_keys(self, account_id: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if account_id is not None:
            query = query.where(api_keys.c.account_id == account_id)
        with self._engine.connect() as db:
            return [_key(r) for r in db.execute(query)]

    def api_key(self, key_id: str) -> ApiKey | None:
        return self._one(select(api_keys).where(api_keys.c.key_id == key_id), _key)

    def touch_api_keys(self, used: Mapping[str, datetime]) -> None:
        with self._engine.begin() as db:
            for key_id, moment in sorted(used.items()):
                db.execute(update(api_keys).where(api_keys.c.key_id == key_id)
                           .values(last_used_at=moment))

    def add_session(self, session: SignInSession, account: Account,
                    event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            db.execute(insert(sign_in_sessions).values(**session.__dict__))
            db.execute(update(accounts).where(accounts.c.account_id == account.account_id)
                       .values(last_login_at=account.last_login_at))
        with _account_deleted_meanwhile("sign_in_sessions", account.account_id):
            self._write(change, event, credentials=False)

    def save_session(self, session: SignInSession, event: BusinessEvent | None) -> None:
        self._write(lambda db: db.execute(update(sign_in_sessions).where(
            sign_in_sessions.c.session_id == session.session_id).values(**session.__dict__)),
            event, credentials=session.ended_at is not None)

    def session(self, session_id: str) -> SignInSession | None:
        return self._one(select(sign_in_sessions).where(
            sign_in_sessions.c.session_id == session_id), _session)

    def open_sessions(self, account_id: str, moment: datetime) -> list[SignInSession]:
        with self._engine.connect() as db:
            return [_session(r) for r in db.execute(select(sign_in_sessions).where(
                sign_in_sessions.c.account_id == account_id,
                sign_in_sessions.c.ended_at.is_(None),
                sign_in_sessions.c.expires_at > moment).order_by(
                sign_in_sessions.c.created_at))]

    def revision(self) -> int:
        with self._engine.connect() as db:
            return int(db.execute(select(credential_revision.c.revision)).scalar() or 0)

    def credential_state(self) -> CredentialState:
        now = datetime.now(UTC)
        with self._engine.connect() as db:
            revision = int(db.execute(select(credential_revision.c.revision)).scalar() or 0)
            found = {a.account_id: a for a in map(_account, db.execute(select(accounts)))}
            keys = {k.key_id: k for k in map(_key, db.execute(select(api_keys)))}
            ended = frozenset(db.execute(
                select(sign_in_sessions.c.session_id).where(
                    sign_in_sessions.c.ended_at.is_not(None),
                    sign_in_sessions.c.expires_at > now)).scalars())
            by_site: dict[str, set[str]] = {}
            for station_id, site_id in db.execute(select(
                    station_registrations.c.station_id, station_registrations.c.site_id).where(
                    station_registrations.c.site_id.is_not(None))):
                by_site.setdefault(site_id, set()).add(station_id)
        return CredentialState(revision, found, keys, ended,
                               {site: frozenset(ids) for site, ids in by_site.items()})

    def _one(self, query: Any, build: Callable[[Any], Any]) -> Any:
        with self._engine.connect() as db:
            row = db.execute(query).first()
        return build(row) if row is not None else None


@contextmanager
def _account_deleted_meanwhile(table: str, account_id: str) -> Iterator[None]:
    """The row's one foreign key is its account's: refused, the account is gone."""
    try:
        yield
    except exc.IntegrityError as error:
        if violates(error, Violation.FOREIGN_KEY, table):
            raise UnknownAccount(f"no account {account_id}") from error
        raise


def bump_credential_revision(db: Connection) -> None:
    """Scopes follow the registry (a site's stations): its changes reload credentials."""
    _bump_revision(db)


def _bump_revision(db: Connection) -> None:
    if db.execute(update(credential_revision).where(credential_revision.c.id == 1)
                  .values(revision=credential_revision.c.revision + 1)).rowcount == 0:
        db.execute(insert(credential_revision).values(id=1, revision=1))
