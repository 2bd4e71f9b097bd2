"""Id tag groups (`/id-tag-groups`): an apartment's cards sharing one label and budget.
A scoped caller sees the groups of the tags it sees (api.py, "Scope")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from save_server.domain.access import Principal
from save_server.domain.id_tags import GroupInUse, IdTagGroup, InvalidIdTag
from save_server.infrastructure.id_tags.http import (
    NOT_FOUND,
    Reader,
    Writer,
    errors,
    service,
    tag_scope,
    unscoped,
)
from save_server.service.id_tags import AlreadyExists, GroupNotFound

router = APIRouter(tags=["id tags"])


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_id: str = Field(min_length=1, max_length=20)
    label: str = Field(min_length=1, max_length=200)
    monthly_budget_kwh: float | None = Field(default=None, gt=0, le=1_000_000)


class GroupPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(default=None, min_length=1, max_length=200)
    monthly_budget_kwh: float | None = Field(default=None, gt=0, le=1_000_000)

    @field_validator("label")
    @classmethod
    def _label_not_null(cls, label: str | None) -> str:
        if label is None:  # leave it out to keep it; a group always has a label
            raise ValueError("label cannot be null")
        return label


def _visible_groups(request: Request, caller: Principal) -> set[str] | None:
    """A scoped caller sees the groups of the tags it sees (None: every group)."""
    scope = tag_scope(request, caller)
    if scope is None:
        return None
    return {t.group_id for t in service(request).all_tags()
            if t.group_id is not None and scope.sees(t)}


@router.get("/id-tag-groups")
def list_groups(request: Request, caller: Reader) -> list[dict[str, Any]]:
    visible = _visible_groups(request, caller)
    return [g.document() for g in service(request).groups()
            if visible is None or g.group_id in visible]


@router.post("/id-tag-groups", status_code=201,
             responses={409: {"description": "The group exists"}})
def create_group(request: Request, caller: Writer, body: GroupIn) -> dict[str, Any]:
    unscoped(caller)
    try:
        return service(request).create_group(IdTagGroup(**body.model_dump()),
                                               caller.audit_name).document()
    except (InvalidIdTag, AlreadyExists) as error:
        raise errors(error) from error


@router.get("/id-tag-groups/{group_id:path}", responses=NOT_FOUND)
def get_group(request: Request, caller: Reader, group_id: str) -> dict[str, Any]:
    try:
        visible = _visible_groups(request, caller)
        if visible is not None and group_id not in visible:
            raise GroupNotFound(f"no id tag group {group_id}")  # exactly as an unknown group
        return service(request).group(group_id).document()
    except GroupNotFound as error:
        raise errors(error) from error


@router.patch("/id-tag-groups/{group_id:path}", responses=NOT_FOUND)
def update_group(request: Request, caller: Writer, group_id: str,
                 body: GroupPatch) -> dict[str, Any]:
    unscoped(caller)
    try:
        return service(request).update_group(
            group_id, body.model_dump(include=body.model_fields_set), caller.audit_name
        ).document()
    except (InvalidIdTag, GroupNotFound) as error:
        raise errors(error) from error


@router.delete("/id-tag-groups/{group_id:path}", status_code=204,
               responses={**NOT_FOUND, 409: {"description": "Tags belong to the group"}})
def delete_group(request: Request, caller: Writer, group_id: str) -> Response:
    unscoped(caller)
    try:
        service(request).delete_group(group_id, caller.audit_name)
    except (GroupNotFound, GroupInUse) as error:
        raise errors(error) from error
    return Response(status_code=204)


