"""Certificate languages and their gettext catalogs (Babel): BCP 47 tags outside, catalogs in
locale/<babel id>/LC_MESSAGES/certificate.po, compiled in memory on first use. English is the source language
and is always present."""

from __future__ import annotations

import atexit
import gc
import io
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# ASEAN working and official languages, and Chinese for Chinese exporters (docs/domain.md section 6).
LANGUAGES = ("en", "zh-Hans", "vi", "th", "id", "ms", "km", "lo", "my", "fil", "ta")
AUTHORITATIVE = "en"
# Fonts by script, shipped in fonts/ (subsets of Debian's Noto fonts made by fonts/build_fonts.py) and loaded by
# the templates themselves through @font-face, never found through the machine's fontconfig: a certificate renders
# the same on any machine, fonts installed or not. The "QL" names cannot match an installed font.
FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "QL Noto Sans"  # Latin with Vietnamese: en, vi, id, ms, fil (and the reports)
MONO = "QL Noto Sans Mono"  # identifiers and digests (<code>)
FONTS = {"zh-Hans": "QL Noto Sans CJK SC", "th": "QL Noto Sans Thai", "km": "QL Noto Sans Khmer",
         "lo": "QL Noto Sans Lao", "my": "QL Noto Sans Myanmar", "ta": "QL Noto Sans Tamil"}  # fmt: skip
# (family, CSS font-weight, CSS font-style, file in FONT_DIR): regular and bold for every script, italic for
# Latin only (the one italic text is English), the monospace face regular only (identifiers, digests).
FONT_FILES = (
    (FONT, "normal", "normal", "QLNotoSans-Regular.ttf"),
    (FONT, "bold", "normal", "QLNotoSans-Bold.ttf"),
    (FONT, "normal", "italic", "QLNotoSans-Italic.ttf"),
    (MONO, "normal", "normal", "QLNotoSansMono-Regular.ttf"),
) + tuple(
    (family, weight, "normal", f"{family.replace(' ', '')}-{style}.{'otf' if 'CJK' in family else 'ttf'}")
    for family in FONTS.values()
    for weight, style in (("normal", "Regular"), ("bold", "Bold"))
)


class FontsMissing(FileNotFoundError):
    pass


def font_paths() -> list[Path]:
    """The shipped font files; refuses an installation without them (Pango would crash with no font at all)."""
    paths = [FONT_DIR / name for *_, name in FONT_FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FontsMissing(f"{FONT_DIR} lacks {', '.join(missing)}: reinstall qledger (the package ships them)")
    return paths


def font_faces() -> str:
    """The @font-face rules of every shipped font, with absolute file URLs (the HTML is rendered from a string,
    so there is no base URL to resolve a relative one against)."""
    return "\n".join(
        f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: {style}; '
        f'src: url("{path.as_uri()}"); }}'
        for (family, weight, style, _), path in zip(FONT_FILES, font_paths(), strict=True)
    )


_local = threading.local()


def rendering_cache() -> threading.local:
    """What this thread keeps for rendering (its font configuration, the style sheets parsed with it): native
    Pango, fontconfig and HarfBuzz objects, released at exit (`_release_rendering_cache`)."""
    return _local


@atexit.register
def _release_rendering_cache() -> None:
    """Free the main thread's rendering objects while the interpreter is whole. Left to its teardown they are
    freed in no set order, after modules their destructors call into are gone (WeasyPrint's FontConfiguration
    then fails in `__del__`); a worker thread's go when the thread ends."""
    _local.__dict__.clear()
    gc.collect()


def font_config() -> Any:
    """A WeasyPrint FontConfiguration for this thread, kept: a fresh one per document (its own Pango font map,
    the shipped fonts copied and scanned again) makes a certificate twice as slow to render."""
    config = getattr(_local, "font_config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration

        with warnings.catch_warnings():
            # On a machine with no fonts WeasyPrint warns of "ugly output": ours come from the package itself.
            warnings.filterwarnings("ignore", "No fonts configured in FontConfig", UserWarning)
            config = _local.font_config = FontConfiguration()
    return config


class UnknownLanguage(ValueError):
    pass


def check(languages: list[str]) -> list[str]:
    """The languages asked for, English added first if missing; refuses any without a catalog."""
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise UnknownLanguage(f"no catalog for {', '.join(unknown)}: choose from {', '.join(LANGUAGES)}")
    return [AUTHORITATIVE] + [lang for lang in dict.fromkeys(languages) if lang != AUTHORITATIVE]


@cache
def translations(language: str, domain: str = "certificate") -> Translations:
    """The catalog of `domain` (certificate: the PDF; verify: the page at the QR code) in `language`."""
    if language == AUTHORITATIVE:
        return Translations()  # the source texts
    path = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{domain}.po"
    with open(path, "rb") as f:
        catalog = read_po(f, locale=None)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(language: str, message: str, domain: str = "certificate") -> str:
    return str(translations(language, domain).gettext(message))


def negotiate(asked: str | None, accept_language: str | None) -> str:
    """The language to answer in: `asked` (?lang=) when it is one of ours, else the best of Accept-Language
    (RFC 9110 quality values; `zh`, `zh-CN` and `zh-Hans-*` mean zh-Hans, `tl` means fil), else English."""
    by_prefix = {lang.lower(): lang for lang in LANGUAGES} | {"zh": "zh-Hans", "tl": "fil", "in": "id"}
    if asked:
        exact = by_prefix.get(asked.strip().lower())
        if exact:
            return exact
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        tag = tag.strip().lower()
        lang = by_prefix.get(tag) or by_prefix.get(tag.split("-")[0])
        if tag.startswith("zh-hant") or tag in ("zh-tw", "zh-hk", "zh-mo"):
            lang = None  # no Traditional Chinese catalog: do not answer in Simplified for it
        if lang and q > 0:
            ranked.append((-q, i, lang))
    return sorted(ranked)[0][2] if ranked else AUTHORITATIVE
