"""Regenerates the fonts shipped with esg_reports from Debian's Noto fonts (fonts-noto-core and fonts-noto-mono
20201225-1, fonts-noto-cjk 1:20220127+repack1-1): subset with fontTools, hinting dropped (the fonts only go into PDFs),
renamed "QL Noto Sans ..." so that no installed font can stand in for them. The output is byte-for-byte the
same for the same sources and fontTools version (timestamps kept).

    apt-get install fonts-noto-core fonts-noto-mono fonts-noto-cjk
    .venv/bin/python esg_reports/fonts/build_fonts.py
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
NOTO = Path("/usr/share/fonts/truetype/noto")
CJK = Path("/usr/share/fonts/opentype/noto")
CJK_SC = 2  # the face index of Noto Sans CJK SC in Debian's NotoSansCJK-*.ttc
CATALOG = HERE.parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "certificate.po"
COPYRIGHT = Path("/usr/share/doc/fonts-noto-cjk/copyright")  # holds the OFL 1.1 text (Debian copyright format)

# Latin with Vietnamese (precomposed and combining), Greek (unit symbols), punctuation and common symbols.
LATIN = [(0x0000, 0x036F), (0x0370, 0x03FF), (0x1E00, 0x1EFF), (0x2000, 0x22FF), (0x25CC, 0x25CC),
         (0xFB00, 0xFB06), (0xFEFF, 0xFEFF), (0xFFFC, 0xFFFD)]  # fmt: skip
# CJK: besides GB 2312 (added below), ASCII, CJK punctuation, fullwidth and halfwidth forms.
CJK_EXTRA = [(0x0020, 0x007E), (0x00A0, 0x00FF), (0x2000, 0x206F), (0x3000, 0x303F), (0xFF00, 0xFFEF)]

# (output file, source file, face index or None, family, style, unicode ranges or None for the whole font).
# Regular and bold for every script (headings and bold data fields may be in any of them), italic for Latin only
# (the one italic text is an English sentence), the monospace face for identifiers and digests.
FONTS: list[tuple[str, Path, int | None, str, str, list[tuple[int, int]] | None]] = [
    ("QLNotoSans-Regular.ttf", NOTO / "NotoSans-Regular.ttf", None, "QL Noto Sans", "Regular", LATIN),
    ("QLNotoSans-Bold.ttf", NOTO / "NotoSans-Bold.ttf", None, "QL Noto Sans", "Bold", LATIN),
    ("QLNotoSans-Italic.ttf", NOTO / "NotoSans-Italic.ttf", None, "QL Noto Sans", "Italic", LATIN),
    ("QLNotoSansMono-Regular.ttf", NOTO / "NotoSansMono-Regular.ttf", None, "QL Noto Sans Mono", "Regular", LATIN),
] + [
    (f"QLNotoSansCJKSC-{style}.otf", CJK / f"NotoSansCJK-{style}.ttc", CJK_SC, "QL Noto Sans CJK SC", style, CJK_EXTRA)
    for style in ("Regular", "Bold")
] + [
    (f"QLNotoSans{script}-{style}.ttf", NOTO / f"NotoSans{script}-{style}.ttf", None, f"QL Noto Sans {script}", style,
     None)
    for script in ("Thai", "Khmer", "Lao", "Myanmar", "Tamil") for style in ("Regular", "Bold")
]  # fmt: skip


def gb2312() -> set[int]:
    """Every character of GB 2312 (rows 1-9 symbols, 16-55 level 1 and 56-87 level 2 hanzi): 7,445."""
    chars = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes([row, cell]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return chars


def catalog_characters(path: Path) -> set[int]:
    """The characters of a catalog's translations (msgstr lines; the PO escapes do not occur in them)."""
    text = "".join(re.findall(r'^msgstr "(.*)"$', path.read_text(encoding="utf-8"), flags=re.M))
    return {ord(c) for c in text}


def expand(ranges: list[tuple[int, int]]) -> set[int]:
    return {u for lo, hi in ranges for u in range(lo, hi + 1)}


def rename(font: TTFont, family: str, style: str) -> None:
    """Our own names in the name table (and the CFF table): the embedded font in a PDF names the shipped file."""
    ps = f"{family.replace(' ', '')}-{style}"
    names = {1: family, 2: style, 3: f"{font['head'].fontRevision:.3f};qledger;{ps}", 4: f"{family} {style}", 6: ps}
    table = font["name"]
    table.names = [n for n in table.names if n.nameID not in (1, 2, 3, 4, 6, 16, 17, 18, 21, 22, 25)]
    for name_id, value in names.items():
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [ps]
        top = cff.topDictIndex[0]
        top.FullName, top.FamilyName = f"{family} {style}", family


def simplified_chinese_only(font: TTFont) -> None:
    """Makes the Simplified Chinese (ZHS) language system every script's default and drops the others: the
    Japanese, Korean and Traditional Chinese `locl` forms would double the subset, and SC text then gets its own
    forms whatever its language tag."""
    for tag in ("GSUB", "GPOS"):
        for record in font[tag].table.ScriptList.ScriptRecord:
            zhs = [r.LangSys for r in record.Script.LangSysRecord if r.LangSysTag == "ZHS "]
            if zhs:
                record.Script.DefaultLangSys = zhs[0]
            record.Script.LangSysRecord = []
            record.Script.LangSysCount = 0


def build(out_dir: Path) -> list[Path]:
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.notdef_outline = True
    options.glyph_names = False
    options.recalc_timestamp = False
    written = []
    for out, src, index, family, style, ranges in FONTS:
        if index is None:
            font = TTFont(src, recalcTimestamp=False)
        else:
            font = TTCollection(src, recalcTimestamp=False).fonts[index]
            simplified_chinese_only(font)
        if ranges is None:
            unicodes = set(font.getBestCmap())
        else:
            unicodes = expand(ranges)
            if index is not None:
                unicodes |= gb2312() | catalog_characters(CATALOG)
        # Every shaping feature (Khmer, Myanmar and Tamil need theirs) but "access all alternates", which only a
        # glyph picker uses and which would pull in every variant glyph.
        tags = {r.FeatureTag for t in ("GSUB", "GPOS") if t in font for r in font[t].table.FeatureList.FeatureRecord}
        options.layout_features = sorted(tags - {"aalt"})
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(font)
        rename(font, family, style)
        path = out_dir / out
        font.save(path)
        written.append(path)
        print(f"{out}: {len(font.getBestCmap())} characters, {path.stat().st_size:,} bytes")
    return written


def write_licence(fonts: list[Path], out: Path) -> None:
    """OFL.txt: the fonts' copyright notices (their name ID 0) and the licence text, as OFL section 2 asks."""
    debian = COPYRIGHT.read_text(encoding="utf-8")
    body = debian.split("License: SIL-1.1\n", 2)[2].split("\nLicense: ", 1)[0]
    text = "\n".join("" if line == " ." else line[1:] for line in body.rstrip("\n").split("\n"))
    notices = sorted({TTFont(p)["name"].getDebugName(0) or "" for p in fonts})
    head = (
        "The fonts in this directory are subsets of the Noto fonts, licensed under the SIL Open Font License 1.1.\n\n"
    )
    out.write_text(head + "\n".join(notices) + "\n\n" + text + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: beside this script)")
    args = parser.parse_args()
    missing = [str(src) for _, src, *_ in FONTS if not src.exists()] + ([] if COPYRIGHT.exists() else [str(COPYRIGHT)])
    if missing:
        print(
            "missing (apt-get install fonts-noto-core fonts-noto-mono fonts-noto-cjk): " + ", ".join(missing),
            file=sys.stderr,
        )
        return 1
    write_licence(build(args.out), args.out / "OFL.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
