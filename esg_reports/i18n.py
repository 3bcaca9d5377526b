"""Certificate languages and their gettext catalogs (Babel): BCP 47 tags outside, catalogs in
locale/<babel id>/LC_MESSAGES/certificate.po, compiled in memory on first use. English is the source language
and is always present."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# ASEAN working and official languages, and Chinese for Chinese exporters (docs/domain.md section 6).
LANGUAGES = ("en", "zh-Hans", "vi", "th", "id", "ms", "km", "lo", "my", "fil", "ta")
AUTHORITATIVE = "en"
# Fonts by script (Debian fonts-noto-core / fonts-noto-cjk), so every language renders without missing glyphs.
FONTS = {"zh-Hans": "Noto Sans CJK SC", "th": "Noto Sans Thai", "km": "Noto Sans Khmer", "lo": "Noto Sans Lao",
         "my": "Noto Sans Myanmar", "ta": "Noto Sans Tamil"}  # fmt: skip


class UnknownLanguage(ValueError):
    pass


def check(languages: list[str]) -> list[str]:
    """The languages asked for, English added first if missing; refuses any without a catalog."""
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise UnknownLanguage(f"no catalog for {', '.join(unknown)}: choose from {', '.join(LANGUAGES)}")
    return [AUTHORITATIVE] + [lang for lang in dict.fromkeys(languages) if lang != AUTHORITATIVE]


@cache
def translations(language: str) -> Translations:
    if language == AUTHORITATIVE:
        return Translations()  # the source texts
    path = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / "certificate.po"
    with open(path, "rb") as f:
        catalog = read_po(f, locale=None)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(language: str, message: str) -> str:
    return str(translations(language).gettext(message))
