"""Who may do what: roles, their permissions (a fixed table), and the authenticated caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    VIEWER = "viewer"


class Permission(StrEnum):
    STATIONS_READ = "stations:read"
    STATIONS_WRITE = "stations:write"
    CHARGES_READ = "charges:read"
    COMMANDS_READ = "commands:read"
    COMMANDS_MAINTENANCE = "commands:maintenance"
    COMMANDS_CHARGING = "commands:charging"
    REPORTS_READ = "reports:read"
    REPORTS_WRITE = "reports:write"
    ID_TAGS_READ = "id-tags:read"
    ID_TAGS_WRITE = "id-tags:write"
    EVENTS_READ = "events:read"
    EVENTS_REPLAY = "events:replay"
    ACCOUNTS_MANAGE = "accounts:manage"
    API_KEYS_OWN = "api-keys:own"
    SITE_MEASUREMENTS_WRITE = "sites:measurements"  # a building meter's API key (load management)


P = Permission
# id tags: a scoped account reads only its places' tags (domain/id_tags/visibility.py)
_READ_ONLY = frozenset({P.STATIONS_READ, P.CHARGES_READ, P.COMMANDS_READ, P.ID_TAGS_READ})
_TECHNICIAN = _READ_ONLY | {P.COMMANDS_MAINTENANCE, P.API_KEYS_OWN}
_OPERATOR = _TECHNICIAN | {P.STATIONS_WRITE, P.COMMANDS_CHARGING, P.REPORTS_READ,
                           P.REPORTS_WRITE, P.ID_TAGS_WRITE, P.EVENTS_READ}
_OPERATOR |= {P.SITE_MEASUREMENTS_WRITE}  # load management: building meters' keys

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.TECHNICIAN: frozenset(_TECHNICIAN),
    Role.VIEWER: _READ_ONLY | {P.API_KEYS_OWN},
}

# Remote commands a technician may send; every other command needs COMMANDS_CHARGING.
MAINTENANCE_COMMANDS = frozenset({
    "reset", "unlock-connector", "change-availability", "trigger-message",
    "get-configuration", "change-configuration", "get-variables", "set-variables",
    "update-firmware", "get-diagnostics", "get-log", "clear-cache",
    "get-local-list-version",
})


def command_permission(command: str) -> Permission:
    return P.COMMANDS_MAINTENANCE if command in MAINTENANCE_COMMANDS else P.COMMANDS_CHARGING


def role_within(role: Role, ceiling: Role) -> bool:
    """`role` grants nothing that `ceiling` does not (an API key's role against its owner's)."""
    return ROLE_PERMISSIONS[role] <= ROLE_PERMISSIONS[ceiling]


def effective_role(key_role: Role, owner_role: Role) -> Role:
    """A key keeps its role only while its owner still covers it; else it falls to the
    owner's role (an owner demoted from admin to viewer demotes their keys too)."""
    return key_role if role_within(key_role, owner_role) else owner_role


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as authenticated: an account, through a session or a key."""

    account_id: str
    email: str
    role: Role
    station_scope: frozenset[str] | None  # None: every station
    credential: str  # "session:<id>" or "api-key:<id>", for the audit trail
    site_scope: frozenset[str] | None = None  # the sites named in the account's scope

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def sees_station(self, station_id: str) -> bool:
        return self.station_scope is None or station_id in self.station_scope

    def visible(self, station_ids: Iterable[str]) -> list[str]:
        return [s for s in station_ids if self.sees_station(s)]

    @property
    def audit_name(self) -> str:
        """What history records as who did it (`requested_by`)."""
        return f"{self.email} ({self.credential})"
