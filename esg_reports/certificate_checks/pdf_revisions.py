"""PdfRevisions: one revision, no incremental update appended (a second revision can change or add anything)."""

from __future__ import annotations

from esg_reports import certificate_pdf
from esg_reports.certificate_checks._support import cert_of, has_credential
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "PdfRevisions"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    pdf = cert_of(target).pdf
    try:
        with certificate_pdf.open_pdf(pdf) as doc:
            problem = certificate_pdf.revision_problem(pdf, doc)
    except certificate_pdf.PdfRefused as error:
        return not_valid(NAME, "certificate", Status.INVALID, Reason.PDF_DAMAGED, str(error))
    if problem is not None:
        return not_valid(NAME, "certificate", Status.INVALID, Reason.PDF_INCREMENTAL_UPDATE, problem)
    return valid(NAME, "certificate")


CHECK = Check(NAME, "certificate", has_credential, verify)
