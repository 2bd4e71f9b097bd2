"""`/replays`: re-send stored events as background jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from event_store.domain.events import as_utc
from event_store.domain.queries import EventQuery
from event_store.infrastructure.api.dependencies import ReplaysDep, StorageDep
from event_store.infrastructure.api.security import Replayer
from event_store.service import audit
from event_store.service.replay import TARGET_ALL, ReplayJob

router = APIRouter(tags=["replays"], responses={
    503: {"description": "Replay is not available: no broker configured (AMQP_URL)"}})


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Annotated[str, Field(min_length=1, max_length=255, description=(
        f"`{TARGET_ALL}`: republish to the events exchange with the original routing key; "
        "otherwise the name of one consumer queue (e.g. `save-server`)"))]
    start_date: datetime | None = None
    end_date: datetime | None = None
    type: list[str] = Field(default_factory=list, description="event types; empty = all")
    charging_station_id: str | None = None

    @field_validator("end_date")
    @classmethod
    def _not_before_start(cls, end_date: datetime | None, info: ValidationInfo) -> datetime | None:
        start_date = info.data.get("start_date")
        if start_date and end_date and as_utc(end_date) < as_utc(start_date):
            raise ValueError("end_date must not be before start_date")
        return end_date


def _job_or_404(job: ReplayJob | None, replay_id: str) -> dict[str, Any]:
    if job is None:
        raise HTTPException(404, f"no replay with id {replay_id!r}")
    return job.as_document()


@router.post("/replays", status_code=202)
def start_replay(caller: Replayer, replay: ReplayRequest, replays: ReplaysDep,
                 response: Response, storage: StorageDep) -> dict:
    """Start a replay job; returns at once with the job (202). Poll `GET /replays/{id}`.
    Who started it is kept as an `event-store.replay-started` event."""
    query = EventQuery(replay.start_date, replay.end_date, tuple(replay.type),
                       replay.charging_station_id)
    job = replays.start(query, replay.target)
    audit.record(storage, "event-store.replay-started", caller.audit_name,
                 {"replay_id": job.id, **replay.model_dump(mode="json")})
    response.headers["Location"] = f"/replays/{job.id}"
    return job.as_document()


@router.get("/replays")
def list_replays(_: Replayer, replays: ReplaysDep) -> list[dict]:
    return [job.as_document() for job in replays.jobs()]


@router.get("/replays/{replay_id}", responses={404: {"description": "unknown replay"}})
def get_replay(_: Replayer, replay_id: str, replays: ReplaysDep) -> dict:
    """State, events sent, rate (events/s), errors."""
    return _job_or_404(replays.get(replay_id), replay_id)


@router.delete("/replays/{replay_id}", status_code=202,
               responses={404: {"description": "unknown replay"}})
def delete_replay(caller: Replayer, replay_id: str, replays: ReplaysDep,
                  storage: StorageDep) -> dict:
    """Cancel a replay (it stops after the event being sent)."""
    return _cancel(replay_id, replays, caller, storage)


@router.post("/replays/{replay_id}/cancel", status_code=202,
             responses={404: {"description": "unknown replay"}})
def cancel_replay(caller: Replayer, replay_id: str, replays: ReplaysDep,
                  storage: StorageDep) -> dict:
    return _cancel(replay_id, replays, caller, storage)


def _cancel(replay_id: str, replays: ReplaysDep, caller: Replayer,
            storage: StorageDep) -> dict:
    document = _job_or_404(replays.cancel(replay_id), replay_id)
    audit.record(storage, "event-store.replay-cancelled", caller.audit_name,
                 {"replay_id": replay_id})
    return document
