"""The SQL stores answer a database refusal with a domain error only for the constraint it
stands for (the e-mail's uniqueness, the tag group's foreign key); any other refusal is a
bug that surfaces as it is, never a wrong 409 or 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from save_server.bootstrap import Container
from save_server.domain.access import Role
from save_server.domain.accounts import Account, DuplicateEmail
from save_server.domain.business_events import BusinessEvent
from save_server.domain.id_tags.model import IdTag
from save_server.infrastructure.accounts.store import SqlAccountStore
from save_server.infrastructure.id_tags.store import SqlIdTagStore

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
