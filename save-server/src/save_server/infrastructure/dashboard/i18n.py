"""Languages of the dashboard: English (the source strings) and Brazilian Portuguese.

The catalogs are gettext `.po` files in the package, compiled in memory when the app starts
(no `.mo` file is built or committed). Numbers and dates are formatted by Babel in the chosen
locale and in the time zone of the station's site (`America/Sao_Paulo` when none is known).
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("pt_BR", "en")
DEFAULT_LANGUAGE = "pt_BR"  # SAVE's staff; a browser asking for English gets English
DEFAULT_TIMEZONE = "America/Sao_Paulo"
LANGUAGE_COOKIE = "csms_lang"
NOTHING = "\u2013"  # an en dash: no value


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    source = resources.files(__package__).joinpath(f"locale/{language}/LC_MESSAGES/messages.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie (the user's switch) wins; else the first supported `Accept-Language`."""
    if cookie in LANGUAGES:
        return cookie
    for part in _by_quality(accept_language or ""):
        tag = part.replace("-", "_").lower()
        if tag.startswith("pt"):
            return "pt_BR"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def _by_quality(header: str) -> list[str]:
    ranked = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


@dataclass(frozen=True)
class Formatter:
    """What the templates call to show a number, an energy or a time."""

    language: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    def gettext(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def number(self, value: float | int | None, digits: int = 1) -> str:
        if value is None:
            return NOTHING
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def energy_kwh(self, wh: float | None) -> str:
        return NOTHING if wh is None else f"{self.number(wh / 1000, 1)} kWh"

    def when(self, at: datetime | None, timezone: str | None = None) -> str:
        """`dd/mm/aaaa HH:mm` in pt-BR (`MM/dd/yyyy HH:mm` in English), in the zone given."""
        if at is None:
            return NOTHING
        zone = ZoneInfo(timezone or DEFAULT_TIMEZONE)
        pattern = "dd/MM/yyyy HH:mm" if self.language == "pt_BR" else "MM/dd/yyyy HH:mm"
        return format_datetime(at, pattern, tzinfo=zone, locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return NOTHING
        minutes = int(seconds // 60)
        return f"{minutes // 60}h{minutes % 60:02d}"
