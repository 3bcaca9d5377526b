"""PdfActiveContent: nothing at document level that can change what is shown or show something else (scripts,
open actions, forms, optional content, annotations other than links, other embedded files)."""

from __future__ import annotations

from esg_reports import certificate_pdf
from esg_reports.certificate_checks._support import cert_of, has_credential
from esg_reports.certificates import ATTACHMENT
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "PdfActiveContent"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    try:
        with certificate_pdf.open_pdf(cert_of(target).pdf) as doc:
            problems = certificate_pdf.active_content_problems(doc, ATTACHMENT)
    except certificate_pdf.PdfRefused as error:
        return not_valid(NAME, "certificate", Status.INVALID, Reason.PDF_DAMAGED, str(error))
    if problems:
        return not_valid(NAME, "certificate", Status.INVALID, Reason.PDF_ACTIVE_CONTENT, problems[0], found=problems)
    return valid(NAME, "certificate")


CHECK = Check(NAME, "certificate", has_credential, verify)
