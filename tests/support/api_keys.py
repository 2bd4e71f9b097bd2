"""API keys for tests that build save-server in-process (the APIs answer no one without one)."""

from __future__ import annotations

import uuid
from typing import Any


def grant(container: Any, role: str = "admin", scope: list[str] | None = None) -> dict[str, str]:
    """Headers with a new API key of a new account of `role` (optionally scoped to stations)."""
    from save_server.domain.access import Principal, Role

    service = container.access_control().accounts
    account = service.create_account(f"{role}-{uuid.uuid4().hex[:8]}@test.example", "Test",
                                     Role(role), None, scope, by="test")
    setup = Principal(account.account_id, account.email, Role.ADMIN, None, "test")
    key = service.create_api_key(setup, account.account_id, "test", Role(role), None).secret
    return {"Authorization": f"Bearer {key}"}
