"""CertificateTemplate: the digest of the template that renders the visible text is under the same root,
anchored by the issuer."""

from __future__ import annotations

from esg_reports.certificate_checks._support import cert_of, has_credential
from esg_reports.certificates import issuer_account
from ledger_service import merkle
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "CertificateTemplate"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    e, chain = cert_of(target).embedded, context.chain
    issuer = issuer_account(chain, e.issuer_did)
    anchored = issuer is not None and int(chain.root_of(e.root, issuer)["anchored_at"]) > 0
    if anchored and merkle.verify(e.template_sm3, e.template_proof, e.root):
        return valid(NAME, "certificate", template_sm3=e.template_sm3.hex())
    return not_valid(NAME, "certificate", Status.INVALID, Reason.TEMPLATE_NOT_ANCHORED, "its template is not anchored")


CHECK = Check(NAME, "certificate", has_credential, verify)
