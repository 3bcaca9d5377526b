"""CertificateCredential: the PDF carries `credential.json` in the certificate format (docs/formats.md section
9), and it parses strictly. The gate of a certificate's checks: a PDF with no credential to parse gets this one
fragment (NO_CREDENTIAL, CREDENTIAL_MALFORMED), nothing else to check."""

from __future__ import annotations

from esg_reports.certificate_checks._support import is_certificate, presented
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, valid
from ledger_service.verification.target import CertificateTarget

NAME = "CertificateCredential"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    found = presented(target)
    return found if isinstance(found, Fragment) else valid(NAME, "certificate")


CHECK = Check(NAME, "certificate", is_certificate, verify, gate=True)
