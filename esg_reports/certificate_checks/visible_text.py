"""VisibleText: belt and braces beside PageContent: the page's text (PDFium's, else pdftotext's) shows the
identifiers and the authoritative title."""

from __future__ import annotations

from esg_reports import certificates
from esg_reports.certificate_checks._support import cert_of, has_credential
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "VisibleText"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    cert = cert_of(target)
    text = cert.text if cert.text is not None else certificates.visible_text(cert.pdf)
    if text is None:
        return not_valid(
            NAME,
            "certificate",
            Status.ERROR,
            Reason.NO_TEXT_EXTRACTOR,
            "no text extractor (pypdfium2 or poppler's pdftotext)",
        )
    # pdftotext joins a word broken after a hyphen at a line's end without its hyphen (a long lot id wrapped
    # there read "LOT-ATTACKproduct"), so hyphens count no more than white space on either side.
    text = text.replace("-", "")
    missing = [s for s in ("".join(str(x).split()) for x in cert.embedded.shown) if s.replace("-", "") not in text]
    if missing:
        return not_valid(
            NAME, "certificate", Status.INVALID, Reason.VISIBLE_TEXT_MISMATCH, f"the page lacks {missing[0]!r}"
        )
    return valid(NAME, "certificate")


CHECK = Check(NAME, "certificate", has_credential, verify)
