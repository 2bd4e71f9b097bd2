"""Id tags (RFID cards, tokens): who may charge, where, how often and how much.

A bounded context of its own: `model` (tags, groups, their checks), `rules` (budget months,
concurrency), `ports` (the store). save-server owns the tags; the gateways keep a copy fed by
`id-tag-registry.*` events (docs/events.md, "Id tag registry events").
"""

from save_server.domain.id_tags.model import (
    GROUP_ID_MAX,
    TOKEN_MAX_16,
    TOKEN_MAX_201,
    TOKEN_TYPES,
    IdTag,
    IdTagGroup,
    InvalidIdTag,
    TagStatus,
    check_group,
    check_tag,
    check_token,
    token_key,
)
from save_server.domain.id_tags.ports import (
    GroupInUse,
    IdTagStore,
    TagPage,
    UnknownTag,
    UsageRow,
)
from save_server.domain.id_tags.rules import (
    RunningCharge,
    budget_exhausted,
    charges_over_limit,
    month_of,
    month_window,
    over_concurrent_limit,
)
from save_server.domain.id_tags.visibility import TagScope

__all__ = [
    "GROUP_ID_MAX",
    "TOKEN_MAX_16",
    "TOKEN_MAX_201",
    "TOKEN_TYPES",
    "GroupInUse",
    "IdTag",
    "IdTagGroup",
    "IdTagStore",
    "InvalidIdTag",
    "RunningCharge",
    "TagPage",
    "TagScope",
    "TagStatus",
    "UnknownTag",
    "UsageRow",
    "budget_exhausted",
    "charges_over_limit",
    "check_group",
    "check_tag",
    "check_token",
    "month_of",
    "month_window",
    "over_concurrent_limit",
    "token_key",
]
