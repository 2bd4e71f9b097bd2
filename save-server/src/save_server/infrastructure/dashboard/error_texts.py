"""The API's refusals in the reader's language.

The services and the API answer in English (their messages are part of the API and of the
logs). A page that shows such a message passes it through `translate`: each known message
shape is a pattern here with its msgid (the English wording, with `%(name)s` for the parts it
carries: ids, numbers, field names); the catalog translates the msgid. A message in no table
row shows as it came, so a new API message is never lost, only untranslated until its row is
added. A message of several parts (`a; b`) and a `field: message` prefix are translated part
by part, the field name left as is (it is the API's and the CSV's column name).
"""

from __future__ import annotations

import re
from collections.abc import Callable

Gettext = Callable[[str], str]
_FIELD = re.compile(r"^(?P<field>[a-z_][a-z0-9_.]*): (?P<rest>.+)$", re.DOTALL)


def _rows(*rows: tuple[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern, re.DOTALL), msgid) for pattern, msgid in rows)


# (the API's message as a pattern, its msgid). Order matters: the first full match wins.
KNOWN = _rows(
    # access and forms (every page)
    (r"your role \((?P<role>\w+)\) lacks (?P<what>.+)", "your role (%(role)s) lacks %(what)s"),
    (r"missing or wrong CSRF token: reload the page and try again",
     "missing or wrong CSRF token: reload the page and try again"),
    (r"cross-site request refused", "cross-site request refused"),
    (r"Field required", "a value is required"),
    (r"Input should be greater than or equal to (?P<n>[\d.]+)", "at least %(n)s"),
    (r"Input should be less than or equal to (?P<n>[\d.]+)", "at most %(n)s"),
    (r"Input should be greater than (?P<n>[\d.]+)", "more than %(n)s"),
    (r"String should have at most (?P<n>\d+) characters?", "at most %(n)s characters"),
    (r"String should have at least (?P<n>\d+) characters?", "at least %(n)s characters"),
    (r"Input should be a valid (number|integer).*", "not a number"),
    (r"Input should be a valid datetime.*", "not a date and time"),
    (r"Input should be (?P<choices>'.+)", "one of %(choices)s"),
    # id tags and groups
    (r"no id tag group (?P<id>.+)", "no id tag group %(id)s"),
    (r"no unknown id tag (?P<id>.+)", "%(id)s is not among the unknown cards"),
    (r"no id tag (?P<id>.+)", "no id tag %(id)s"),
    (r"id tag group (?P<id>.+) exists", "id tag group %(id)s exists"),
    (r"id tag (?P<id>.+) exists", "id tag %(id)s exists"),
    (r"id tags are changed by accounts without a site/station scope",
     "id tags are changed by accounts without a site/station scope"),
    (r"unknown site\(s\): (?P<ids>.+)", "unknown site(s): %(ids)s"),
    (r"unknown station\(s\): (?P<ids>.+)", "unknown station(s): %(ids)s"),
    (r"(?P<field>\w+) is empty", "%(field)s is empty"),
    (r"(?P<field>\w+) is (?P<n>\d+) characters; at most (?P<max>\d+) "
     r"\(without a token type a tag must fit OCPP 1.6\)",
     "%(field)s has %(n)s characters; at most %(max)s (without a token type a tag must fit "
     "OCPP 1.6)"),
    (r"(?P<field>\w+) is (?P<n>\d+) characters; at most (?P<max>\d+) \(OCPP 2.0.1 idToken\)",
     "%(field)s has %(n)s characters; at most %(max)s (OCPP 2.0.1 idToken)"),
    (r"(?P<field>\w+) may hold printable ASCII characters without spaces only",
     "%(field)s may hold printable ASCII characters without spaces only"),
    (r"token_type is one of (?P<types>.+)", "token_type is one of %(types)s"),
    (r"status is active or blocked, not (?P<value>.+)",
     "status is active or blocked, not %(value)s"),
    (r"expires_at needs a time zone offset \(RFC 3339\)",
     "expires_at needs a time zone offset (RFC 3339)"),
    (r"not an RFC 3339 date-time: (?P<value>.+)", "not an RFC 3339 date and time: %(value)s"),
    (r"needs a time zone offset: (?P<value>.+)", "needs a time zone offset: %(value)s"),
    (r"not a whole number: (?P<value>.+)", "not a whole number: %(value)s"),
    (r"not a number: (?P<value>.+)", "not a number: %(value)s"),
    (r"max_concurrent_charges is 1 to 100", "max_concurrent_charges is 1 to 100"),
    (r"a monthly budget is > 0 and ≤ 1000000 kWh", "a monthly budget is > 0 and ≤ 1000000 kWh"),
    (r"a group needs a label of 1-(?P<n>\d+) characters",
     "a group needs a label of 1-%(n)s characters"),
    (r"(?P<n>\d+) tag\(s\) belong to group (?P<id>.+)",
     "%(n)s tag(s) belong to group %(id)s"),
    (r"id tag group (?P<id>.+) is named in the load management of site\(s\) (?P<sites>.+): "
     r"take it out of their group_priorities first",
     "id tag group %(id)s is named in the load management of site(s) %(sites)s: take it out "
     "of their group_priorities first"),
    # CSV import
    (r"(?P<n>\d+) error\(s\); nothing was imported", "%(n)s error(s); nothing was imported"),
    (r"(?P<n>\d+) cells; the header has (?P<m>\d+)", "%(n)s cells; the header has %(m)s"),
    (r"duplicate token (?P<id>.+): already on line (?P<line>\d+)",
     "duplicate token %(id)s: already on line %(line)s"),
    (r"the header must name id_tag \(columns: (?P<columns>.+)\)",
     "the header must name id_tag (columns: %(columns)s)"),
    (r"unknown column\(s\): (?P<columns>.+)", "unknown column(s): %(columns)s"),
    (r"column\(s\) named twice: (?P<columns>.+)", "column(s) named twice: %(columns)s"),
    (r"not CSV: (?P<why>.+)", "not CSV: %(why)s"),
    (r"the CSV is not UTF-8", "the CSV is not UTF-8"),
    (r"a CSV import is at most 10 MiB", "a CSV import is at most 10 MiB"),
    (r"choose a CSV file", "choose a CSV file"),
    # accounts and API keys
    (r"an account with this e-mail exists", "an account with this e-mail exists"),
    (r"you cannot disable or demote your own account",
     "you cannot disable or demote your own account"),
    (r"not an e-mail address", "not an e-mail address"),
    (r"a password has (?P<min>\d+) to (?P<max>\d+) characters",
     "a password has %(min)s to %(max)s characters"),
    (r"a key's role cannot exceed its owner's \((?P<role>\w+)\)",
     "a key's role cannot exceed its owner's (%(role)s)"),
    (r"a key's role cannot exceed yours \((?P<role>\w+)\)",
     "a key's role cannot exceed yours (%(role)s)"),
    (r"must be in the future", "must be in the future"),
    (r"give at least one id, or null for no limit", "give at least one id, or none for no limit"),
    (r"no account (?P<id>.+)", "no account %(id)s"),
    (r"no API key (?P<id>.+)", "no API key %(id)s"),
    (r"only an admin manages another account's keys",
     "only an admin manages another account's keys"),
    # stations and commands
    (r"no charging station (?P<id>.+)", "no charging station %(id)s"),
    (r"your role \((?P<role>\w+)\) may not send (?P<command>.+)",
     "your role (%(role)s) may not send %(command)s"),
    (r"no charge (?P<charge>\d+) at charging station (?P<station>.+)",
     "no charge %(charge)s at charging station %(station)s"),
    (r"no broker configured \(AMQP_URL\): commands cannot be sent",
     "no broker configured (AMQP_URL): commands cannot be sent"),
    (r"broker unreachable: (?P<why>.+)", "the broker cannot be reached: %(why)s"),
    (r"command not published: (?P<why>.+)", "command not published: %(why)s"),
    (r"not a number", "not a number"),
)


def translate(message: str, gettext: Gettext) -> str:
    """`message` in the reader's language (`gettext` of the page's catalog)."""
    whole = _known(str(message), gettext)
    if whole is not None:
        return whole
    return "; ".join(_part(part, gettext) for part in str(message).split("; "))


def _part(part: str, gettext: Gettext) -> str:
    whole = _known(part, gettext)
    if whole is not None:
        return whole
    prefixed = _FIELD.match(part)
    if prefixed:
        rest = _known(prefixed["rest"], gettext)
        if rest is not None:
            return f"{prefixed['field']}: {rest}"
    return part


def _known(text: str, gettext: Gettext) -> str | None:
    for pattern, msgid in KNOWN:
        found = pattern.fullmatch(text)
        if found:
            return gettext(msgid) % {k: v or "" for k, v in found.groupdict().items()}
    return None
