"""The Jinja2 environment: autoescaping, strict, translated, with Babel dates.

Wording comes from gettext catalogs (digest/locale/<lang>/LC_MESSAGES/digest.po),
compiled in memory at first use, so there is no build step and the .po file is
the one source of truth. English is the identity.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digest.collect.clean import excerpt
from digest.config import Settings

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


@cache
def translations(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "digest.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def make_environment(settings: Settings, locale: str = "en", timezone: str = "UTC") -> Environment:
    """The Jinja2 environment of a locale and time zone, made once per process: Jinja keeps
    its compiled templates in it (a new one compiled every template again, ~80 ms an issue)."""
    return _environment(str(settings.templates_dir), locale, timezone)


@cache
def _environment(templates_dir: str, locale: str, timezone: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]

    def short_date(value: datetime, fmt: str = "medium") -> str:
        return format_date(value.astimezone(_zone(timezone)), format=fmt, locale=locale)

    env.filters["short_date"] = short_date
    env.globals["direction"] = text_direction(locale)
    env.filters["excerpt"] = excerpt  # a summary cut at a sentence end
    return env


def text_direction(locale: str) -> str:
    """"ltr" or "rtl", for the dir attribute of emails and their wrappers."""
    try:
        return str(Locale.parse(locale).text_direction)
    except (UnknownLocaleError, ValueError):
        return "ltr"


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
