"""The package carries the fonts it renders with: certificates in all eleven languages and reports render on a
machine with no font installed (an empty fontconfig configuration, in a child process since fontconfig is read
at start), the PDFs embed only the shipped "QL" families, the subsets cover every catalog, and a changed font
file is a changed certificate template digest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from esg_reports import certificates, i18n

QLEDGER = str(Path(sys.executable).parent / "qledger")
SCRIPTS = ("QL-Noto-Sans-CJK-SC", "QL-Noto-Sans-Thai", "QL-Noto-Sans-Khmer", "QL-Noto-Sans-Lao",
           "QL-Noto-Sans-Myanmar", "QL-Noto-Sans-Tamil")  # fmt: skip

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from esg_reports import certificates, i18n, render
    from esg_reports.metrics import Period
    from esg_reports.report import Entity, build
    from ledger_service.config import Settings
    from ledger_service.demo import LAB, Demo
    from ledger_service.runtime import open_runtime

    out = Path(sys.argv[1])
    runtime = open_runtime(Settings(data_dir=out / "data"))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    kinds = ["xrf_analysis", "el_image", "tensile_test"]
    ids = [runtime.service.submit(*demo.record(k, 700 + i), actor=LAB).record_id for i, k in enumerate(kinds)]
    runtime.service.anchor_pending()
    # render_pdf refuses a page with any .notdef glyph (MissingGlyphs): rendering is the check.
    for cert in certificates.issue(
        runtime.service, ids, list(i18n.LANGUAGES), "https://verify.lab.test", keys=runtime.keys
    ):
        (out / f"certificate-{cert.record_id}.pdf").write_bytes(cert.pdf)
    with runtime.service.sessions.begin() as session:
        report = build(session, entity=Entity("Demo Modules Co.", "529900QLEDGERDEMO042"),
                       period=Period.year(demo.now.year))
    (out / "report.pdf").write_bytes(render.to_pdf(report))
    """
)


def fontless_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine without fonts: a fontconfig configuration with no font directory."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n"
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf), "FONTCONFIG_PATH": str(tmp_path)}


def embedded_fonts(pdf: Path) -> list[str]:
    """The embedded fonts' names without their subset prefix (pdffonts, poppler-utils)."""
    listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [line.split()[0].split("+", 1)[-1] for line in listing.splitlines()[2:] if line.strip()]


@pytest.fixture
def fontless(tmp_path: Path) -> dict[str, str]:
    env = fontless_env(tmp_path)
    if shutil.which("fc-list"):  # proves that the child really finds no font
        listed = subprocess.run(["fc-list"], env=env, capture_output=True, text=True, check=True).stdout
        assert listed.strip() == "", listed[:500]
    return env


def test_certificates_and_reports_render_with_no_font_installed(tmp_path: Path, fontless: dict[str, str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([sys.executable, "-c", CHILD, str(out)], env=fontless, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "cannot be loaded" not in run.stderr, run.stderr[-4000:]  # WeasyPrint's word for a failed @font-face
    certs = sorted(out.glob("certificate-*.pdf"))
    assert len(certs) == 3
    for pdf in certs:
        names = embedded_fonts(pdf)
        assert all(n.startswith("QL-Noto-Sans") for n in names), names
        assert set(SCRIPTS) <= set(names) and "QL-Noto-Sans-Mono" in names, names
    names = embedded_fonts(out / "report.pdf")
    assert names and all(n.startswith("QL-Noto-Sans") for n in names), names


def test_the_shipped_fonts_are_used_whatever_the_machine_has_installed(tmp_path: Path) -> None:
    """With the machine's own fonts visible (if any), the page still embeds the shipped files only."""
    embedded = {"format": certificates.FORMAT, "credential": _credential()}
    pdf = tmp_path / "c.pdf"
    pdf.write_bytes(certificates.render_pdf(embedded, list(i18n.LANGUAGES)))
    names = embedded_fonts(pdf)
    assert all(n.startswith("QL-Noto-Sans") for n in names) and set(SCRIPTS) <= set(names), names
    assert "file:///" in i18n.font_faces() and all(p.is_file() for p in i18n.font_paths())


def test_qledger_demo_runs_with_no_font_installed(tmp_path: Path, fontless: dict[str, str]) -> None:
    env = {**fontless, "QLEDGER_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(
        [QLEDGER, "demo", "--records", "50"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-4000:])
    assert "no font draws" not in run.stdout + run.stderr


def test_the_subsets_cover_every_catalog_and_gb2312() -> None:
    cmaps = {family: set() for family, *_ in i18n.FONT_FILES}
    for family, _, _, name in i18n.FONT_FILES:
        cmaps[family] |= set(TTFont(i18n.FONT_DIR / name).getBestCmap())
    for lang in i18n.LANGUAGES[1:]:
        po = (i18n.LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / "certificate.po").read_text("utf-8")
        text = "".join(re.findall(r'^msgstr "(.*)"$', po, flags=re.M))
        covered = cmaps[i18n.FONTS.get(lang, i18n.FONT)] | cmaps[i18n.FONT]
        missing = sorted({c for c in text if ord(c) not in covered})
        assert not missing, (lang, missing)
    hanzi = set()
    for row in range(0xB0, 0xF8):  # GB 2312 levels 1 and 2
        for cell in range(0xA1, 0xFF):
            try:
                hanzi.add(ord(bytes([row, cell]).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    assert len(hanzi) == 6763 and hanzi <= cmaps[i18n.FONTS["zh-Hans"]]
    vietnamese = (
        "ĂăÂâĐđÊêÔôƠơƯưẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệ" + "ỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ"
    )
    assert {ord(c) for c in vietnamese} <= cmaps[i18n.FONT] & cmaps[i18n.MONO]
    total = sum(p.stat().st_size for p in i18n.font_paths())
    assert total < 8_000_000, total


def test_a_changed_font_file_changes_the_template_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    genuine = certificates.template_digest()
    copy = tmp_path / "fonts"
    shutil.copytree(i18n.FONT_DIR, copy)
    monkeypatch.setattr(i18n, "FONT_DIR", copy)
    certificates.template_digest.cache_clear()
    try:
        assert certificates.template_digest() == genuine  # the same bytes elsewhere: the same digest
        font = copy / i18n.FONT_FILES[-1][3]
        data = bytearray(font.read_bytes())
        data[len(data) // 2] ^= 0x01
        font.write_bytes(bytes(data))
        certificates.template_digest.cache_clear()
        assert certificates.template_digest() != genuine
    finally:
        monkeypatch.undo()
        certificates.template_digest.cache_clear()
    assert certificates.template_digest() == genuine


def _credential() -> dict[str, object]:
    """The fields the certificate template reads, enough to lay out a page without a ledger."""
    return {
        "verification": "https://verify.lab.test/v1/certificates/00",
        "templateSm3": "00" * 32,
        "issuer": {"id": "did:web:lab.example", "name": "Lab", "address": "Street 1", "accreditation": None},
        "credentialSubject": {
            "id": "urn:qledger:record:00",
            "item": {"description": "module", "unambiguous_id": "M-1"},
            "assessment": {
                "title": "EL image",
                "report_id": "R-1",
                "date_issued": "2026-01-01",
                "method": {"standard": "IEC 60904-13"},
                "results": {"cells": 60},
            },
        },
        "evidence": [{"instrument": {"id": "I-1"}, "calibration": {"certificate_record_id": "00"}, "operator": "op"}],
        "chainAnchor": {"chainId": 1, "tier": "C", "blockNumber": 1, "txHash": "0x00"},
    }
