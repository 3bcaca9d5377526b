"""The page at a certificate's QR code (docs/formats.md section 9.2): what a foreign importer sees on a phone,
in their language: whether to trust the certificate now (valid, revoked, superseded, suspended by a recall with
its notice), what it certifies, who issued it and their accreditation, and its anchor; and a drop zone that
sends the certificate PDFs or proof bundles dropped or chosen to the anonymous verify endpoint, several as one
batch request, and shows one row per file with every check.

Everything ships in the package: the template, its script and style (esg_reports/page) and the fonts
(esg_reports/fonts, loaded per script through unicode-range, so a page downloads only the fonts its text uses)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, PackageLoader, select_autoescape

from esg_reports import i18n

HERE = Path(__file__).resolve().parent
PAGE_DIR = HERE / "page"
DOMAIN = "verify"
NATIVE_NAMES: Final = {
    "en": "English", "zh-Hans": "简体中文", "vi": "Tiếng Việt", "th": "ไทย", "id": "Bahasa Indonesia",
    "ms": "Bahasa Melayu", "km": "ខ្មែរ", "lo": "ລາວ", "my": "မြန်မာ", "fil": "Filipino", "ta": "தமிழ்",
}  # fmt: skip
# (file, CSS unicode-range) per script: the shipped subsets' coverage (esg_reports/fonts/README.md).
SCRIPTS: Final = (
    ("QLNotoSans", "U+0000-036F, U+0370-03FF, U+1E00-1EFF, U+2000-22FF, U+25CC, U+FB00-FB06, U+FEFF, U+FFFC-FFFD"),
    ("QLNotoSansCJKSC", "U+3000-303F, U+3400-9FFF, U+FF00-FFEF"),
    ("QLNotoSansThai", "U+0E00-0E7F"),
    ("QLNotoSansLao", "U+0E80-0EFF"),
    ("QLNotoSansKhmer", "U+1780-17FF, U+19E0-19FF"),
    ("QLNotoSansMyanmar", "U+1000-109F, U+A9E0-A9FF, U+AA60-AA7F"),
    ("QLNotoSansTamil", "U+0B80-0BFF, U+11FC0-11FFF"),
)
STATES: Final = ("valid", "revoked", "superseded", "suspended", "not_valid", "not_anchored", "not_found")
_env = Environment(loader=PackageLoader("esg_reports"), autoescape=select_autoescape(["html", "j2"]))


HEADLINES: Final = {
    "valid": (
        "Valid",
        "The laboratory's record behind this certificate is anchored on the consortium chain and in force.",
    ),
    "revoked": ("Revoked", "The record behind this certificate was revoked. Do not rely on this certificate."),
    "superseded": (
        "Superseded",
        "The record behind this certificate was replaced by a newer one. Ask the laboratory for the new certificate.",
    ),
    "suspended": (
        "Suspended by a recall",
        "A recall in force covers this item. Do not rely on this certificate until the recall ends.",
    ),
    "not_valid": (
        "Not valid",
        "A check of the record behind this certificate failed. Do not rely on this certificate.",
    ),
    "not_anchored": (
        "Not anchored",
        "The chain does not hold the record behind this certificate. Do not rely on this certificate.",
    ),
    "not_found": ("Not found", "No certified record with this number is known to this service."),
}


def _headline(state: str) -> tuple[str, str]:
    return HEADLINES[state]


CONFORMITY: Final = {"pass": "Pass", "fail": "Fail", "inconclusive": "Inconclusive", None: "Not stated"}


def render(state: dict[str, Any] | None, lang: str, root: str = "") -> str:
    """The page for a certified record's `state` (certificate_status.state), None for one not found."""
    kind = "not_found" if state is None else str(state["state"])
    kind = kind if kind in STATES else "not_anchored"

    def t(message: str) -> str:
        return i18n.gettext(lang, message, DOMAIN)

    headline, explanation = _headline(kind)
    texts = {
        "checking": t("Checking…"),
        "all_passed": t("Every check passed."),
        "a_check_failed": t("A check failed: do not rely on this file."),
        "all_files_passed": t("Every file passed every check."),
        "some_files_failed": t("Some files did not pass: do not rely on them."),
        "could_not_check": t("Could not check"),
        "status": {"VALID": t("passed"), "INVALID": t("failed"), "ERROR": t("could not tell"), "SKIPPED": t("skipped")},
    }
    conformity = t(CONFORMITY.get(state["certified"]["conformity"] if state else None, "Not stated"))
    return _env.get_template("verify.html.j2").render(
        lang=lang, t=t, root=root, state=kind, s=state, headline=t(headline), explanation=t(explanation),
        recalls=(state or {}).get("recalls", []), conformity=conformity, texts=texts,
        languages=list(NATIVE_NAMES.items()),
    )  # fmt: skip


@cache
def fonts_css(root: str = "") -> str:
    """@font-face rules: one family per weight, a face per script limited to its characters."""
    rules = []
    for stem, ranges in SCRIPTS:
        for weight, style in (("normal", "Regular"), ("bold", "Bold")):
            name = f"{stem}-{style}.{'otf' if 'CJK' in stem else 'ttf'}"
            rules.append(
                f'@font-face {{ font-family: "QL Page"; font-weight: {weight}; font-display: swap; '
                f'src: url("{root}/assets/fonts/{name}"); unicode-range: {ranges}; }}'
            )
    rules.append(
        f'@font-face {{ font-family: "QL Page Mono"; src: url("{root}/assets/fonts/QLNotoSansMono-Regular.ttf"); }}'
    )
    return "\n".join(rules) + "\n"


MEDIA: Final = {".css": "text/css", ".js": "text/javascript", ".ttf": "font/ttf", ".otf": "font/otf"}


def asset(name: str, root: str = "") -> tuple[bytes, str] | None:
    """A shipped asset of the page by name (verify.css, verify.js, fonts.css, fonts/<file>), None otherwise:
    only files the package lists are served."""
    if name == "fonts.css":
        return fonts_css(root).encode(), "text/css"
    if name in ("verify.css", "verify.js"):
        path = PAGE_DIR / name
    elif name.startswith("fonts/") and name[6:] in {f for *_, f in i18n.FONT_FILES}:
        path = i18n.FONT_DIR / name[6:]
    else:
        return None
    return path.read_bytes(), MEDIA[path.suffix]


def strings() -> list[str]:
    """Every text of the page, for the catalogs (tests check that each language translates each)."""
    source = (HERE / "templates" / "verify.html.j2").read_text()
    import re

    found = re.findall(r't\("([^"]+)"\)|t\(\'([^\']+)\'\)', source)
    out = [a or b for a, b in found]
    for state in STATES:
        out += list(_headline(state))
    out += list(CONFORMITY.values())
    out += ["Checking…", "Every check passed.", "A check failed: do not rely on this file.", "Could not check",
            "Every file passed every check.", "Some files did not pass: do not rely on them.",
            "passed", "failed", "could not tell", "skipped"]  # fmt: skip
    return list(dict.fromkeys(out))
