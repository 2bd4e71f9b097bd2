"""Answering id tokens from the local copy of the id tag registry (no call to save-server)."""

from __future__ import annotations

from ocpp_events.domain.authorization import (
    AuthorizationPolicy,
    Decision,
    TokenRequest,
    UnknownIdTags,
    decide,
)
from ocpp_events.domain.id_tags import ChargeRef, tag_key
from ocpp_events.domain.local_charges import LocalCharges
from ocpp_events.domain.ports import Clock, IdTagDirectory


class RegistryAuthorization(AuthorizationPolicy):
    """`decide` on the copy's tag and on its running charges: save-server's view plus the
    starts accepted and stops seen here since (domain/local_charges.py)."""

    def __init__(self, directory: IdTagDirectory, unknown: UnknownIdTags,
                 clock: Clock | None = None) -> None:
        self.directory = directory
        self.unknown = unknown
        self.clock = clock or Clock()
        self.local = LocalCharges()
        directory.on_change(self._reconcile)

    def authorize(self, request: TokenRequest, charge: ChargeRef | None = None) -> Decision:
        tag, now = self.directory.get(request.id_tag), self.clock.now()
        running = 0
        if tag is not None:
            running = self.local.running(tag_key(request.id_tag),
                                         self.directory.active_charges(request.id_tag), now,
                                         charge)
        return decide(request, tag, running, now, self.unknown)

    def charge_started(self, request: TokenRequest, charge: ChargeRef) -> None:
        self.local.started(tag_key(request.id_tag), charge, self.clock.now())

    def start_not_confirmed(self, request: TokenRequest, charge: ChargeRef) -> None:
        self.local.cancel_start(tag_key(request.id_tag), charge)

    def charge_stopped(self, charge: ChargeRef, id_tag: str | None) -> None:
        key = self.local.owner(charge) or self.directory.owner(charge)
        if key is None and id_tag:
            key = tag_key(id_tag)
        if key is not None:
            self.local.stopped(key, charge, self.directory.active_charges(key))

    def _reconcile(self, keys: list[str]) -> None:
        now = self.clock.now()
        for key in keys:
            self.local.reconcile(key, self.directory.active_charges(key), now)
