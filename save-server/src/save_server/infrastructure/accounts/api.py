"""Sign-in (`/auth/*`), accounts (admin) and API keys (your own; an admin's for anyone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from save_server.domain.access import Permission, Principal, Role
from save_server.domain.accounts import Account, ApiKey, DuplicateEmail, InvalidAccountData
from save_server.infrastructure.api.errors import invalid
from save_server.infrastructure.api.security import allow
from save_server.service.accounts import (
    AccountNotFound,
    AccountService,
    ApiKeyNotFound,
    NotAllowed,
    account_document,
    key_document,
)
from save_server.service.sign_in import SignIn, SignInFailed, Throttled

router = APIRouter(tags=["accounts"])

P = Permission
Admin = Annotated[Principal, allow(P.ACCOUNTS_MANAGE)]
KeyOwner = Annotated[Principal, allow(P.API_KEYS_OWN)]
Anyone = Annotated[Principal, allow()]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown account or key"}}


def _accounts(request: Request) -> AccountService:
    return request.app.state.accounts  # type: ignore[no-any-return]


def _sign_in(request: Request) -> SignIn:
    return request.app.state.sign_in  # type: ignore[no-any-return]


class LoginIn(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class RefreshIn(BaseModel):
    refresh_token: str = Field(max_length=200)


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class AccountOut(BaseModel):
    account_id: str
    email: str
    display_name: str
    role: Role
    enabled: bool
    station_scope: list[str] | None
    site_scope: list[str] | None
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(**account_document(account))


class AccountIn(BaseModel):
    email: str = Field(max_length=255)
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(default=None, max_length=256,
                                 description="12 to 256 characters; null: API keys only")
    station_scope: list[str] | None = Field(
        default=None, description="Only these stations (null: all)")
    site_scope: list[str] | None = Field(
        default=None, description="Only the stations of these sites (null: all)")


class AccountPatch(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    enabled: bool | None = None
    password: str | None = Field(default=None, max_length=256)
    station_scope: list[str] | None = None
    site_scope: list[str] | None = None


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role | None = Field(default=None, description="At most the owner's (default)")
    expires_at: datetime | None = None
    account_id: str | None = Field(default=None, description="Owner (admins only; default you)")


class ApiKeyOut(BaseModel):
    key_id: str
    account_id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(**key_document(key))


class CreatedApiKeyOut(ApiKeyOut):
    api_key: str = Field(description="Shown this once; only its hash is kept")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", response_model=TokensOut,
             responses={401: {"description": "Wrong e-mail or password"},
                        429: {"description": "Too many failed attempts (Retry-After)"}})
def login(request: Request, body: LoginIn) -> TokensOut:
    """A 15-minute access token and a refresh token (rotated on each use)."""
    try:
        tokens = _sign_in(request).login(body.email, body.password, _client(request))
    except Throttled as error:
        raise HTTPException(429, str(error), headers={
            "Retry-After": str(max(1, round(error.retry_after)))}) from error
    except SignInFailed as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
    return TokensOut(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                     expires_in=tokens.expires_in)


@router.post("/auth/refresh", response_model=TokensOut,
             responses={401: {"description": "Unknown, used, expired or signed-out token"}})
def refresh(request: Request, body: RefreshIn) -> TokensOut:
    try:
        tokens = _sign_in(request).refresh(body.refresh_token)
    except SignInFailed as error:
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from error
    return TokensOut(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                     expires_in=tokens.expires_in)


@router.post("/auth/logout", status_code=204)
def logout(request: Request, caller: Anyone) -> Response:
    """Ends the sign-in session of this access token (its refresh token stops working and the
    access token is refused everywhere within seconds). With an API key: nothing to end."""
    kind, _, session_id = caller.credential.partition(":")
    if kind == "session":
        _sign_in(request).logout(session_id, caller.audit_name)
    return Response(status_code=204)


@router.get("/auth/me", response_model=AccountOut)
def me(request: Request, caller: Anyone) -> AccountOut:
    """The caller's own account."""
    return AccountOut.of(_accounts(request).get_account(caller.account_id))


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(request: Request, _: Admin) -> list[AccountOut]:
    return [AccountOut.of(a) for a in _accounts(request).list_accounts()]


@router.post("/accounts", status_code=201, response_model=AccountOut,
             responses={409: {"description": "E-mail taken"}})
def create_account(request: Request, caller: Admin, body: AccountIn) -> AccountOut:
    try:
        return AccountOut.of(_accounts(request).create_account(
            body.email, body.display_name, body.role, body.password, body.station_scope,
            by=caller.audit_name, site_scope=body.site_scope))
    except InvalidAccountData as error:
        raise invalid("body", error.field_name, str(error)) from error
    except DuplicateEmail as error:
        raise HTTPException(409, "an account with this e-mail exists") from error


@router.get("/accounts/{account_id}", response_model=AccountOut, responses=NOT_FOUND)
def get_account(request: Request, _: Admin, account_id: str) -> AccountOut:
    try:
        return AccountOut.of(_accounts(request).get_account(account_id))
    except AccountNotFound as error:
        raise HTTPException(404, str(error)) from error


@router.patch("/accounts/{account_id}", response_model=AccountOut, responses=NOT_FOUND)
def update_account(request: Request, caller: Admin, account_id: str,
                   body: AccountPatch) -> AccountOut:
    changes = body.model_dump(include=body.model_fields_set)
    if not changes:
        raise invalid("body", "role", "give at least one field to change")
    if account_id == caller.account_id and (changes.get("enabled") is False or (
            "role" in changes and changes["role"] != Role.ADMIN)):
        raise HTTPException(409, "you cannot disable or demote your own account")
    try:
        return AccountOut.of(_accounts(request).update_account(account_id, changes,
                                                               by=caller.audit_name))
    except AccountNotFound as error:
        raise HTTPException(404, str(error)) from error
    except InvalidAccountData as error:
        raise invalid("body", error.field_name, str(error)) from error


@router.delete("/accounts/{account_id}", status_code=204, responses=NOT_FOUND)
def delete_account(request: Request, caller: Admin, account_id: str) -> Response:
    if account_id == caller.account_id:
        raise HTTPException(409, "you cannot delete your own account")
    try:
        _accounts(request).delete_account(account_id, by=caller.audit_name)
    except AccountNotFound as error:
        raise HTTPException(404, str(error)) from error
    return Response(status_code=204)


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(request: Request, caller: KeyOwner,
                  account_id: str | None = None) -> list[ApiKeyOut]:
    """Your keys; an admin may name another account, or see every key with `account_id=*`."""
    owner = _owner(caller, account_id)
    return [ApiKeyOut.of(k) for k in _accounts(request).list_api_keys(
        None if owner == "*" else owner)]


@router.post("/api-keys", status_code=201, response_model=CreatedApiKeyOut,
             responses={**NOT_FOUND, 403: {"description": "Role above the owner's or yours"}})
def create_api_key(request: Request, caller: KeyOwner, body: ApiKeyIn) -> CreatedApiKeyOut:
    owner = _owner(caller, body.account_id)
    if owner == "*":
        raise invalid("body", "account_id", "name one account")
    service = _accounts(request)
    try:
        role = body.role or service.get_account(owner).role
        expires = body.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        created = service.create_api_key(caller, owner, body.name, role, expires)
    except AccountNotFound as error:
        raise HTTPException(404, str(error)) from error
    except NotAllowed as error:
        raise HTTPException(403, str(error)) from error
    except InvalidAccountData as error:
        raise invalid("body", error.field_name, str(error)) from error
    return CreatedApiKeyOut(**ApiKeyOut.of(created.key).model_dump(), api_key=created.secret)


@router.delete("/api-keys/{key_id}", status_code=204, responses=NOT_FOUND)
def revoke_api_key(request: Request, caller: KeyOwner, key_id: str) -> Response:
    """Revoked at once here, and everywhere else within 5 s."""
    service = _accounts(request)
    try:
        key = service.get_api_key(key_id)
        if key.account_id != caller.account_id and not caller.can(P.ACCOUNTS_MANAGE):
            raise ApiKeyNotFound(f"no API key {key_id}")  # someone else's: not even its id
        service.revoke_api_key(key_id, by=caller.audit_name)
    except ApiKeyNotFound as error:
        raise HTTPException(404, str(error)) from error
    return Response(status_code=204)


def _owner(caller: Principal, account_id: str | None) -> str:
    if account_id is None or account_id == caller.account_id:
        return caller.account_id
    if not caller.can(P.ACCOUNTS_MANAGE):
        raise HTTPException(403, "only an admin manages another account's keys")
    return account_id
