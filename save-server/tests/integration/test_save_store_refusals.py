"""The SQL stores answer a database refusal with a domain error only for the constraint it
stands for (the e-mail's uniqueness, the tag group's and the account's foreign keys); any
other refusal is a bug that surfaces as it is, never a wrong 409 or 404. SQLite enforces the
foreign keys as PostgreSQL does, their ON DELETE CASCADE included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select

from save_server.bootstrap import Container
from save_server.domain.access import Principal, Role
from save_server.domain.accounts import (
    Account,
    ApiKey,
    DuplicateEmail,
    SignInSession,
    UnknownAccount,
)
from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags.model import IdTag
from save_server.domain.reports import ReportWindow, RunTrigger
from save_server.infrastructure.accounts.passwords import Argon2PasswordHasher
from save_server.infrastructure.accounts.store import SqlAccountStore
from save_server.infrastructure.accounts.tables import accounts, api_keys, sign_in_sessions
from save_server.infrastructure.id_tags.store import SqlIdTagStore
from save_server.infrastructure.outbox.tables import outbox_events
from save_server.infrastructure.reports.repositories import SqlReportRunRepository
from save_server.infrastructure.reports.tables import report_runs, report_subscriptions
from save_server.service.accounts import AccountNotFound, AccountService
from save_server.service.authentication import Authenticator
from save_server.service.sign_in import SignIn, SignInFailed

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def account(email: str, **changes: object) -> Account:
    made = Account(str(uuid.uuid4()), email, "Ana", Role.VIEWER, True, None, None, T0)
    return made.changed(**changes)


def created() -> BusinessEvent:
    return BusinessEvent("accounts.account-created", {}, "tester",
                         event_id=str(uuid.uuid4()), occurred_at=T0)


def test_only_a_taken_email_is_a_duplicate_email(container: Container) -> None:
    store = SqlAccountStore(container.engine)
    email = f"ana-{uuid.uuid4().hex[:8]}@test.example"
    store.add_account(account(email), created())
    with pytest.raises(DuplicateEmail):
        store.add_account(account(email), created())
    with pytest.raises(Exception) as refused:
        store.add_account(account(f"x{email}", display_name=None), created())
    assert not isinstance(refused.value, DuplicateEmail)


def test_only_the_groups_foreign_key_is_a_missing_group(container: Container) -> None:
    store = SqlIdTagStore(container.engine)
    tag = IdTag(f"T{uuid.uuid4().hex[:7]}", max_concurrent_charges=None)  # type: ignore[arg-type]
    with pytest.raises(Exception) as refused:
        store.save_tags([tag], [], "tester")
    assert not isinstance(refused.value, LookupError)
    assert store.tag(tag.id_tag) is None


def key_of(account_id: str) -> ApiKey:
    return ApiKey(uuid.uuid4().hex[:12], account_id, "script", Role.VIEWER, "0" * 64, T0)


def session_of(account_id: str) -> SignInSession:
    return SignInSession(str(uuid.uuid4()), account_id, "0" * 64, T0, T0 + timedelta(hours=1))


def outbox_size(engine: Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(outbox_events)).scalar_one())


def test_a_key_or_a_session_of_a_missing_account_is_refused(container: Container) -> None:
    """The account deleted between the use case's read and the write: nothing is written,
    no event (SQLite used to keep the orphan row and publish its event)."""
    store, gone = SqlAccountStore(container.engine), str(uuid.uuid4())
    before = outbox_size(container.engine)
    with pytest.raises(UnknownAccount) as refused:
        store.add_api_key(key_of(gone), created())
    assert refused.value.__cause__ is not None
    with pytest.raises(UnknownAccount):
        store.add_session(session_of(gone), account(f"{gone}@test.example",
                                                    account_id=gone), created())
    assert [k for k in store.api_keys() if k.account_id == gone] == []
    assert store.open_sessions(gone, T0) == [] and outbox_size(container.engine) == before


class DeletedOnWrite(SqlAccountStore):
    """The account is deleted just before the key or the session is written."""

    def _gone(self, account_id: str) -> None:
        self.delete_account(account_id, BusinessEvent(
            "accounts.account-deleted", {}, "tester", event_id=str(uuid.uuid4()),
            occurred_at=T0))

    def add_api_key(self, key: ApiKey, event: BusinessEvent) -> None:
        self._gone(key.account_id)
        super().add_api_key(key, event)

    def add_session(self, session: SignInSession, account: Account,
                    event: BusinessEvent) -> None:
        self._gone(account.account_id)
        super().add_session(session, account, event)


def test_a_key_for_or_a_sign_in_to_an_account_deleted_meanwhile_fails_cleanly(
        container: Container) -> None:
    store, hasher = DeletedOnWrite(container.engine), Argon2PasswordHasher()
    service = AccountService(store, hasher)
    password = "correct horse battery staple"
    owner = service.create_account(f"k{uuid.uuid4().hex[:8]}@test.example", "K", Role.VIEWER,
                                   None)
    caller = Principal(owner.account_id, owner.email, Role.ADMIN, None, "test")
    with pytest.raises(AccountNotFound):  # the API's 404, as for an account missing before
        service.create_api_key(caller, owner.account_id, "script", Role.VIEWER, None)
    person = service.create_account(f"s{uuid.uuid4().hex[:8]}@test.example", "S", Role.VIEWER,
                                    password)
    sign_in = SignIn(store, hasher, container.token_issuer,
                     Authenticator(store, container.token_issuer))
    with pytest.raises(SignInFailed):
        sign_in.login(person.email, password, "192.0.2.1")
    assert store.api_keys(owner.account_id) == []
    assert store.open_sessions(person.account_id, T0) == []


def rows(engine: Engine, table: Any, **where: Any) -> int:
    with engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(table).filter_by(**where))
                   .scalar_one())


def test_deleting_an_account_row_deletes_its_keys_and_sessions(container: Container) -> None:
    """The schema's ON DELETE CASCADE, whatever deletes the row."""
    store = SqlAccountStore(container.engine)
    owner = account(f"c{uuid.uuid4().hex[:8]}@test.example")
    store.add_account(owner, created())
    store.add_api_key(key_of(owner.account_id), created())
    store.add_session(session_of(owner.account_id), owner, created())
    with container.engine.begin() as db:
        db.execute(delete(accounts).where(accounts.c.account_id == owner.account_id))
    assert rows(container.engine, api_keys, account_id=owner.account_id) == 0
    assert rows(container.engine, sign_in_sessions, account_id=owner.account_id) == 0


def test_deleting_a_report_subscription_row_deletes_its_runs(container: Container) -> None:
    subscription = {"recipients": [], "schedule": "weekly", "timezone": "UTC",
                    "station_ids": [], "id_tags": [], "enabled": True, "origin": "api",
                    "groups": [], "group_usage": False, "created_at": T0, "updated_at": T0}
    run = {"window_start": T0, "window_end": T0, "trigger": "schedule", "state": "sent",
           "attempts": 1, "created_at": T0, "updated_at": T0}
    with container.engine.begin() as db:
        subscription_id = db.execute(insert(report_subscriptions).values(subscription)
                                     .returning(report_subscriptions.c.id)).scalar_one()
        db.execute(insert(report_runs).values(subscription_id=subscription_id, **run))
    with container.engine.begin() as db:
        db.execute(delete(report_subscriptions).where(
            report_subscriptions.c.id == subscription_id))
    assert rows(container.engine, report_runs, subscription_id=subscription_id) == 0


def test_a_run_of_a_subscription_deleted_meanwhile_is_not_claimed(container: Container) -> None:
    """The scheduler listed the subscription, then an operator deleted it: nothing to claim
    (SQLite used to create the run and send its report; PostgreSQL failed the tick)."""
    runs = SqlReportRunRepository(container.engine, container.statements)
    window = ReportWindow(T0, T0 + timedelta(days=7))
    gone = 987_654
    assert runs.claim(gone, window, RunTrigger.SCHEDULE, T0, "test", timedelta(minutes=5)) is None
    assert rows(container.engine, report_runs, subscription_id=gone) == 0
