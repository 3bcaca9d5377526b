"""PageContent: the pages are those the lab anchored with the credential: their digest, recomputed from this
PDF, is the one bound into the anchored leaf (CertificateAnchor checks that binding)."""

from __future__ import annotations

from esg_reports import certificate_pdf
from esg_reports.certificate_checks._support import cert_of, has_credential
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "PageContent"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    cert = cert_of(target)
    try:
        with certificate_pdf.open_pdf(cert.pdf) as doc:
            digest = certificate_pdf.page_digest(doc)
    except certificate_pdf.PdfRefused as error:
        return not_valid(NAME, "certificate", Status.INVALID, Reason.PDF_DAMAGED, str(error))
    if digest != cert.embedded.page_sm3:
        return not_valid(
            NAME, "certificate", Status.INVALID, Reason.PAGE_DIGEST_MISMATCH, "the pages are not the ones anchored",
            page_sm3=digest.hex(),
        )  # fmt: skip
    return valid(NAME, "certificate", page_sm3=digest.hex())


CHECK = Check(NAME, "certificate", has_credential, verify)
