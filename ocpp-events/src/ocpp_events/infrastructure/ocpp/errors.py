"""OCPP-J CallError codes, spelled as each protocol version spells them.

1.6 keeps the errata's "will not fix" typos `FormationViolation` and
`OccurenceConstraintViolation`; 2.0.1 renamed the first to `FormatViolation` but kept the
second's typo, fixed only in 2.1. 2.0.1 also adds `RpcFrameworkError` and
`MessageTypeNotSupported` for frames that are not valid RPC messages.
"""

from __future__ import annotations

from ocpp.exceptions import OCPPError

V16 = "1.6"
V201 = "2.0.1"
V21 = "2.1"

_SPELLING: dict[str, dict[str, str]] = {
    V16: {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        "RpcFrameworkError": "ProtocolError",
        "MessageTypeNotSupported": "ProtocolError",
    },
    V201: {
        "FormationViolation": "FormatViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    },
    V21: {
        "FormationViolation": "FormatViolation",
        "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
    },
}


class RpcFrameworkError(OCPPError):
    code = "RpcFrameworkError"
    default_description = "Content of the call is not a valid RPC request"


class MessageTypeNotSupportedError(OCPPError):
    code = "MessageTypeNotSupported"
    default_description = "A message with an unsupported MessageTypeId was received"


def error_code(ocpp_version: str, error: OCPPError) -> str:
    """The code to put on the wire for `error` on a connection speaking `ocpp_version`."""
    return _SPELLING.get(ocpp_version, {}).get(error.code, error.code)
