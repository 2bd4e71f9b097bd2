"""The accounts page (admins: list, create, change role and scope, disable) and the API keys
page (anyone holding `api-keys:own`: their own keys; admins: everyone's). Each calls the
`/accounts` and `/api-keys` route functions, so the rules are the API's (no demoting or
disabling yourself, a key's role within its owner's and yours, someone else's key unseen)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from save_server.domain.access import Permission, Principal, Role, role_within
from save_server.infrastructure.accounts import api
from save_server.infrastructure.dashboard.api_calls import Refused, call, sites
from save_server.infrastructure.dashboard.forms import expiry, ids, text, validated
from save_server.infrastructure.dashboard.rendering import render
from save_server.infrastructure.dashboard.session import PageError, page

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(page(Permission.ACCOUNTS_MANAGE))]
KeyOwner = Annotated[Principal, Depends(page(Permission.API_KEYS_OWN))]


# accounts ----------------------------------------------------------------------------------
async def _accounts_page(request: Request, caller: Principal, status_code: int = 200,
                         **extra: Any) -> Response:
    accounts = await call(api.list_accounts, request, caller)
    return render(request, "accounts.html", status_code=status_code, accounts=accounts,
                  roles=list(Role), sites=await sites(request), **extra)


@router.get("/ui/accounts")
async def accounts(request: Request, caller: Admin) -> Response:
    return await _accounts_page(request, caller)


@router.post("/ui/accounts")
async def create_account(request: Request, caller: Admin) -> Response:
    form = await request.form()
    try:
        body = validated(api.AccountIn, {
            "email": text(form, "email") or "", "display_name": text(form, "display_name"),
            "role": text(form, "role"), "password": text(form, "password"),
            "site_scope": ids(form.getlist("site_scope")),
            "station_scope": ids(form.getlist("station_scope"))})
        created = await call(api.create_account, request, caller, body)
    except Refused as refused:
        entered = {k: str(v) for k, v in form.items() if k != "password"}
        return await _accounts_page(request, caller, refused.status,
                                    create_error=str(refused), entered=entered)
    return RedirectResponse(f"/ui/accounts/{created.account_id}?saved=1", 303)


async def _account_page(request: Request, caller: Principal, account_id: str,
                        status_code: int = 200, **extra: Any) -> Response:
    try:
        account = await call(api.get_account, request, caller, account_id)
    except Refused as refused:
        raise PageError(refused.status, str(refused)) from refused
    keys = await call(api.list_api_keys, request, caller, account_id)
    return render(request, "account.html", status_code=status_code, account=account,
                  keys=keys, roles=list(Role), sites=await sites(request),
                  yourself=account.account_id == caller.account_id, **extra)


@router.get("/ui/accounts/{account_id}")
async def account(request: Request, caller: Admin, account_id: str) -> Response:
    return await _account_page(request, caller, account_id)


@router.post("/ui/accounts/{account_id}/edit")
async def edit_account(request: Request, caller: Admin, account_id: str) -> Response:
    form = await request.form()
    if form.get("only") == "enabled":
        changes: dict[str, Any] = {"enabled": form.get("enabled") == "true"}
    else:
        changes = {"display_name": text(form, "display_name"), "role": text(form, "role"),
                   "site_scope": ids(form.getlist("site_scope")),
                   "station_scope": ids(form.getlist("station_scope"))}
        if text(form, "password"):
            changes["password"] = text(form, "password")
    try:
        await call(api.update_account, request, caller, account_id,
                   validated(api.AccountPatch, changes))
    except Refused as refused:
        if refused.status == 404:
            raise PageError(404, str(refused)) from refused
        return await _account_page(request, caller, account_id, refused.status,
                                   edit_error=str(refused))
    return RedirectResponse(f"/ui/accounts/{account_id}?saved=1", 303)


# API keys ----------------------------------------------------------------------------------
async def _keys_page(request: Request, caller: Principal, status_code: int = 200,
                     **extra: Any) -> Response:
    admin = caller.can(Permission.ACCOUNTS_MANAGE)
    keys = await call(api.list_api_keys, request, caller, "*" if admin else None)
    owners = ({a.account_id: a for a in await call(api.list_accounts, request, caller)}
              if admin else {})
    return render(request, "api_keys.html", status_code=status_code, keys=keys,
                  owners=owners, now=datetime.now().astimezone(),
                  roles=[r for r in Role if role_within(r, caller.role)], **extra)


@router.get("/ui/api-keys")
async def api_keys(request: Request, caller: KeyOwner) -> Response:
    return await _keys_page(request, caller)


@router.post("/ui/api-keys")
async def create_api_key(request: Request, caller: KeyOwner) -> Response:
    form = await request.form()
    try:
        body = validated(api.ApiKeyIn, {
            "name": text(form, "name") or "", "role": text(form, "role"),
            "expires_at": expiry(text(form, "expires_at")),
            "account_id": text(form, "account_id")})
        created = await call(api.create_api_key, request, caller, body)
    except Refused as refused:
        return await _keys_page(request, caller, refused.status, create_error=str(refused),
                                entered={k: str(v) for k, v in form.items()})
    return await _keys_page(request, caller, 201, created=created)


@router.post("/ui/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, caller: KeyOwner, key_id: str) -> Response:
    try:
        await call(api.revoke_api_key, request, caller, key_id)
    except Refused as refused:
        raise PageError(refused.status, str(refused)) from refused
    return RedirectResponse("/ui/api-keys?revoked=1", 303)
