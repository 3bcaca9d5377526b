"""The checks of a certificate PDF, one module each, registered as `Check`s (ledger_service/verification/
builder.py) over a `CertificateTarget` and composed by `verification_builder` (docs/architecture.md section 7).

Why here, in esg_reports, and not under ledger_service/verification/checks: what these checks read is the
certificate format this package defines and writes (the embedded credential and its strict parse, the PDF's
revisions, active content and page digest in `certificate_pdf`, the template digest, the credential's proofs
in `vc`). The dependency runs one way: esg_reports builds on ledger_service, and ledger_service imports no
esg_reports module at import time (the ledger runs without the report renderer). So the certificate checks live
beside the code they read, import the verification framework like any check, and ledger_service.verification
composes them into the certificate verifier through one lazy import, as checks/certificate_contracts.py reads
the credential.

`CERTIFICATE_CHECKS` are a certificate's own (what `certificates.verify_pdf` reports): CertificateCredential
first, a gate (a PDF with no credential to parse gets that one fragment); `CERTIFIED_RECORD_CHECKS` the record
checks over the record it certifies (certified_record.py). The PDF is parsed once per target (its memo)."""

from __future__ import annotations

from typing import Final

from esg_reports.certificate_checks import (
    certificate_anchor,
    certificate_record,
    certificate_template,
    certified_record,
    credential,
    credential_proof,
    page_content,
    pdf_active_content,
    pdf_revisions,
    record_status,
    visible_text,
)
from esg_reports.certificate_checks._support import prepare
from ledger_service.verification.builder import Check

CERTIFICATE_CHECKS: Final[tuple[Check, ...]] = (
    credential.CHECK,
    pdf_revisions.CHECK,
    pdf_active_content.CHECK,
    page_content.CHECK,
    certificate_anchor.CHECK,
    certificate_template.CHECK,
    certificate_record.CHECK,
    credential_proof.CHECK,
    record_status.CHECK,
    visible_text.CHECK,
)
CERTIFIED_RECORD_CHECKS: Final[tuple[Check, ...]] = certified_record.CHECKS

__all__ = ["CERTIFICATE_CHECKS", "CERTIFIED_RECORD_CHECKS", "prepare"]
