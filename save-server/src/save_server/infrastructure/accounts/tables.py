"""Accounts, API keys, sign-in sessions and the credential revision (migration 0006)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, String, Table

from save_server.infrastructure.db.tables import metadata, revision_table
from save_server.infrastructure.db.types import UTCDateTime

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(36), primary_key=True),
    Column("email", String(255), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("station_scope", JSON(), nullable=True),
    Column("site_scope", JSON(), nullable=True),
    Column("password_hash", String(255), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime(), nullable=True),
)

api_keys = Table(
    "api_keys", metadata,
    Column("key_id", String(12), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.account_id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Index(None, "account_id"),
)

sign_in_sessions = Table(
    "sign_in_sessions", metadata,
    Column("session_id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.account_id", ondelete="CASCADE"),
           nullable=False),
    Column("refresh_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Index(None, "account_id"),
)

# One row: grows with every change that matters to authentication, so API processes reload
# their copy of the credentials only when it moved.
credential_revision = revision_table("credential_revision")
