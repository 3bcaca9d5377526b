"""RecordStatus (of a certificate): the certified record is anchored by the issuer, neither revoked nor
superseded, and no recall in force covers it (its lot, its product or the record itself: suspended, as its
status list says), now."""

from __future__ import annotations

from esg_reports.certificate_checks._support import cert_of, has_credential
from esg_reports.certificates import issuer_account, recalls_covering
from ledger_service.chain.types import OnChainStatus
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "RecordStatus"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    e, chain = cert_of(target).embedded, context.chain
    issuer = issuer_account(chain, e.issuer_did)
    status = chain.status(bytes.fromhex(e.record_id), e.record_root, e.record_proof, issuer)
    if status is OnChainStatus.ANCHORED:
        recalls = recalls_covering(chain, e.record, e.record_id)
        if recalls:
            return not_valid(
                NAME, "status", Status.INVALID, Reason.SUSPENDED_BY_RECALL,
                f"a recall in force covers the certified item (recall {recalls[0]})", recalls=recalls,
            )  # fmt: skip
        return valid(NAME, "status", record_id=e.record_id, recalls_checked=recalls is not None)
    code = {OnChainStatus.NONE: Reason.NOT_ANCHORED, OnChainStatus.REVOKED: Reason.REVOKED}.get(
        status, Reason.SUPERSEDED
    )
    return not_valid(NAME, "status", Status.INVALID, code, f"the record is {status.name.lower()}")


CHECK = Check(NAME, "status", has_credential, verify)
