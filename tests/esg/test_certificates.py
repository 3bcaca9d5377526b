"""Conformity certificates: a VC 2.0 credential per anchored record, anchored with the template's digest,
rendered as PDF/A-3b in eleven languages with the credential embedded and a QR code. Checked as a person would
see them (pages rendered with pdftoppm, every language's text present with its script's font, the QR code
decoding to the verification URL) and against tampering with the visible text or the embedded JSON."""

from __future__ import annotations

import copy
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
import zxingcpp
from PIL import Image

from esg_reports import certificates, i18n
from ledger_service.config import Settings
from ledger_service.demo import LAB, REG, Demo
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import Fragment

VERIFY = "https://verify.lab.test"


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, list[certificates.Issued]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("certs")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    ids = [
        runtime.service.submit(*demo.record(kind, 300 + i), actor=LAB).record_id
        for i, kind in enumerate(["xrf_analysis", "el_image", "tensile_test"])
    ]
    runtime.service.anchor_pending()
    yield runtime, certificates.issue(runtime.service, ids, list(i18n.LANGUAGES), VERIFY, keys=runtime.keys)


def code(fragment: Fragment) -> str | None:
    return fragment.reason["code"] if fragment.reason else None


def replace_attachment(pdf: bytes, embedded: dict[str, object]) -> bytes:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        doc.attachments[certificates.ATTACHMENT] = pikepdf.AttachedFileSpec(
            doc, json.dumps(embedded).encode(), mime_type="application/json"
        )
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()


def test_certificates_verify_and_are_pdf_a3_with_the_credential_embedded(
    issued: tuple[Runtime, list[certificates.Issued]],
) -> None:
    runtime, certs = issued
    for cert in certs:
        checks = certificates.verify_pdf(runtime.service.chain, cert.pdf)
        assert certificates.is_valid(checks), [c.to_json() for c in checks]
        assert [c.name for c in checks] == [
            "CertificateCredential",
            "PdfRevisions",
            "PdfActiveContent",
            "PageContent",
            "CertificateAnchor",
            "CertificateTemplate",
            "CertificateRecord",
            "CredentialProof",
            "RecordStatus",
            "VisibleText",
        ]
        assert certificates.embedded_credential(cert.pdf) == json.loads(json.dumps(cert.embedded))
        with pikepdf.open(io.BytesIO(cert.pdf)) as doc:
            meta = doc.open_metadata()
            assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
    cred = certs[0].embedded["credential"]
    assert cred["@context"][0] == "https://www.w3.org/ns/credentials/v2" and "VerifiableCredential" in cred["type"]
    assert [n["@language"] for n in cred["name"]] == list(i18n.LANGUAGES) and cred["authoritativeLanguage"] == "en"
    assert cred["issuer"]["accreditation"]["body"] == "CNAS" and cred["evidence"][0]["calibration"]["valid_until"]
    assert cred["relatedResource"][0]["digestSRI"].startswith("sha256-")


def test_pages_as_seen_every_language_and_the_qr_code(
    issued: tuple[Runtime, list[certificates.Issued]], tmp_path: Path
) -> None:
    _, certs = issued
    cert = certs[1]
    (tmp_path / "c.pdf").write_bytes(cert.pdf)
    subprocess.run(["pdftoppm", "-r", "110", "-png", str(tmp_path / "c.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    image = Image.open(pages[0]).convert("L")
    assert min(image.get_flattened_data()) < 64  # ink on the page
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == [f"{VERIFY}/v1/certificates/{cert.record_id}"]

    # Every language drawn with its script's font (issuing refuses a page with any .notdef glyph: see below).
    fonts = subprocess.run(["pdffonts", str(tmp_path / "c.pdf")], capture_output=True, text=True, check=True).stdout
    for family in (
        "Noto-Sans-CJK-SC",
        "Noto-Sans-Thai",
        "Noto-Sans-Khmer",
        "Noto-Sans-Myanmar",
        "Noto-Sans-Tamil",
        "Noto-Sans-Lao",
    ):
        assert family in fonts, fonts


def test_tampering_with_the_page_or_the_embedded_json_fails(issued: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = issued
    cert = certs[0]
    # A forger re-renders the page with another serial and embeds the genuine credential.
    shown = copy.deepcopy(cert.embedded)
    shown["credential"]["credentialSubject"]["item"]["unambiguous_id"] = "MOD-FORGED-0001"
    forged_page = replace_attachment(certificates.render_pdf(shown, ["en", "vi"]), cert.embedded)
    checks = {c.name: c for c in certificates.verify_pdf(runtime.service.chain, forged_page)}
    assert code(checks["VisibleText"]) == "VISIBLE_TEXT_MISMATCH"
    assert checks["CertificateAnchor"].status == "VALID"
    # Or edits the embedded credential under the genuine page.
    edited = copy.deepcopy(cert.embedded)
    edited["credential"]["credentialSubject"]["assessment"]["results"]["replicates"] = 99
    checks = {c.name: c for c in certificates.verify_pdf(runtime.service.chain, replace_attachment(cert.pdf, edited))}
    assert code(checks["CertificateAnchor"]) == "DIGEST_MISMATCH"
    stripped = replace_attachment(cert.pdf, {"format": "something else"})
    assert [code(c) for c in certificates.verify_pdf(runtime.service.chain, stripped)] == ["NO_CREDENTIAL"]
    # A record revoked after certification: the certificate says so.
    runtime.service.revoke(certs[2].record_id, member=REG, reason="specimen mix-up")
    checks = {c.name: c for c in certificates.verify_pdf(runtime.service.chain, certs[2].pdf)}
    assert code(checks["RecordStatus"]) == "REVOKED"


def test_refusals(issued: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = issued
    with pytest.raises(i18n.UnknownLanguage):
        certificates.issue(runtime.service, [certs[0].record_id], ["xx"], VERIFY, keys=runtime.keys)
    assert i18n.check(["vi", "th"]) == ["en", "vi", "th"]  # English always present, first


def test_a_character_no_font_draws_refuses_the_certificate(issued: tuple[Runtime, list[certificates.Issued]]) -> None:
    _, certs = issued
    odd = copy.deepcopy(certs[0].embedded)
    odd["credential"]["issuer"]["name"] = "Lab \u0378\U000f0000 Ltd"  # unassigned and private-use code points
    with pytest.raises(certificates.MissingGlyphs, match="U\\+0378"):
        certificates.render_pdf(odd, ["en"])


def test_a_batch_of_pdfs_verifies_as_each_alone_and_reads_the_chain_once_for_what_they_share(
    issued: tuple[Runtime, list[certificates.Issued]],
) -> None:
    runtime, certs = issued
    pdfs = [c.pdf for c in certs] + [certs[0].pdf[:-200]]  # and a damaged one among them
    reads: list[str] = []
    client = runtime.service.chain
    original = client.member_account

    def counted(member_id: str) -> str | None:
        reads.append(member_id)
        return original(member_id)

    client.member_account = counted  # type: ignore[method-assign]
    try:
        runtime.service.verify_certificates(pdfs[:1])
        one = len(reads)
        reads.clear()
        batch = runtime.service.verify_certificates(pdfs)
    finally:
        del client.member_account
    alone = [runtime.service.verify_certificate(p) for p in pdfs]

    def seen(results: list[list[Fragment]]) -> list[list[tuple[str, str, str | None]]]:
        return [[(f.name, str(f.status), code(f)) for f in r] for r in results]

    assert seen(batch) == seen(alone) and len(batch[0]) > 11  # the certificate and its record checks
    assert [certificates.is_valid(r) for r in batch[:3]] == [certificates.is_valid(r) for r in alone[:3]]
    assert not certificates.is_valid(batch[3])
    assert len(reads) == one  # the issuer's account read once for the batch (three certificates of one lab)
