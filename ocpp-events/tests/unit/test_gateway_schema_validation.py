"""Schema validation of frames: a compiled validator says "valid" fast; `jsonschema` still
judges and names every refusal (the OCPP error code a station gets back)."""

from __future__ import annotations

import copy

import pytest
from ocpp.exceptions import (
    FormatViolationError,
    OccurenceConstraintViolationError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.messages import Call

from ocpp_events.infrastructure.ocpp.framing import validate


def local_list(entries: int) -> dict:
    return {"listVersion": 7, "updateType": "Full", "localAuthorizationList": [
        {"idTag": f"TAG{i:08d}", "idTagInfo": {"status": "Accepted",
                                                "expiryDate": "2030-01-01T00:00:00Z"}}
        for i in range(entries)]}


def test_a_large_valid_send_local_list_passes_unchanged() -> None:
    payload = local_list(500)
    before = copy.deepcopy(payload)
    validate(Call("1", "SendLocalList", payload), "1.6")
    assert payload == before  # nothing (e.g. schema defaults) written into it


@pytest.mark.parametrize(("change", "error"), [
    (lambda p: p["localAuthorizationList"][499].update(idTag="X" * 21),
     TypeConstraintViolationError),
    (lambda p: p.pop("updateType"), OccurenceConstraintViolationError),
    (lambda p: p.update(updateType="Sometimes"), PropertyConstraintViolationError),
    (lambda p: p.update(listVersion="seven"), TypeConstraintViolationError),
    (lambda p: p["localAuthorizationList"][3]["idTagInfo"].update(colour="red"),
     FormatViolationError),
])
def test_every_refusal_is_still_named_by_jsonschema(change, error) -> None:
    payload = local_list(500)
    change(payload)
    with pytest.raises(error):
        validate(Call("1", "SendLocalList", payload), "1.6")


def test_a_2_0_1_payload_is_checked_against_its_own_schema() -> None:
    validate(Call("1", "GetLocalListVersion", {}), "2.0.1")
    with pytest.raises(FormatViolationError):
        validate(Call("1", "GetLocalListVersion", {"extra": 1}), "2.0.1")
