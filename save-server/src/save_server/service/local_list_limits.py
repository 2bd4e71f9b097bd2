"""What a station says about its local list (enabled, maximum size, entries per message), and
a list message as the `send-local-list` command's parameters (docs/commands.md).

1.6: GetConfiguration `LocalAuthListEnabled`, `LocalAuthListMaxLength`,
`SendLocalListMaxLength`. 2.0.1: GetVariables on `LocalAuthListCtrlr`: `Enabled`,
`ItemsPerMessage`, and `Entries` with attribute `MaxSet` — the list's maximum is the
`maxLimit` characteristic of `Entries`, which only a full device model report carries; stations
that do not answer MaxSet are treated as having no size limit. `BytesPerMessage` is not read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from save_server.domain.local_lists import ListMessage, LocalListState
from save_server.domain.station_commands import CommandOutcome, CommandRecord

Call = Callable[[str, str, dict[str, Any]], Awaitable[CommandRecord]]

KEYS_16 = ("LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength")
CONTROLLER = "LocalAuthListCtrlr"


async def read_limits(state: LocalListState, call: Call) -> None:
    """Ask the station; what it does not answer stays as it was."""
    if state.ocpp_version == "1.6":
        record = await call(state.station_id, "get-configuration", {"keys": list(KEYS_16)})
        values = {item.get("key"): item.get("value") for item in _items(
            record, "configurationKey")}
        enabled, size, per_message = (values.get(k) for k in KEYS_16)
    else:
        record = await call(state.station_id, "get-variables", {"variables": [
            {"component": CONTROLLER, "variable": "Enabled"},
            {"component": CONTROLLER, "variable": "Entries", "attribute_type": "MaxSet"},
            {"component": CONTROLLER, "variable": "ItemsPerMessage"}]})
        values = {(item.get("variable") or {}).get("name"): item.get("attributeValue")
                  for item in _items(record, "getVariableResult")
                  if item.get("attributeStatus") == "Accepted"}
        enabled, size, per_message = (values.get(k) for k in (
            "Enabled", "Entries", "ItemsPerMessage"))
    if isinstance(enabled, str) and enabled.strip().lower() in ("true", "false"):
        state.enabled = enabled.strip().lower() == "true"
    state.max_list_size = _positive(size, state.max_list_size, allow_zero=True)
    state.max_per_message = _positive(per_message, state.max_per_message)


def _items(record: CommandRecord, name: str) -> list[dict[str, Any]]:
    if record.outcome is not CommandOutcome.ACCEPTED:
        return []
    items = (record.payload or {}).get(name)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _positive(text: Any, default: int | None, allow_zero: bool = False) -> int | None:
    try:
        value = int(str(text).strip())
    except ValueError:
        return default
    return value if value > 0 or (allow_zero and value == 0) else default


def send_parameters(message: ListMessage) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for change in message.changes:
        entry = change.entry
        if entry is None:
            entries.append({"id_tag": change.id_tag})
            continue
        item: dict[str, Any] = {"id_tag": entry.id_tag, "status": entry.status.value,
                                "token_type": entry.token_type}
        if entry.expires_at is not None:
            item["expires_at"] = entry.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if entry.parent_id_tag is not None:
            item["parent_id_tag"] = entry.parent_id_tag
        entries.append(item)
    return {"list_version": message.version, "update_type": message.update_type.value,
            "entries": entries}
