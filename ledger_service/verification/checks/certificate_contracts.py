"""CertificateContracts: the certificate's credential names the consortium's genuine ledger and chain, those
the verifier's trust anchor leads to; with no trust anchor the verifier cannot tell (docs/threat-model.md)."""

from __future__ import annotations

from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import no_trust_anchor
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget, Target

NAME = "CertificateContracts"


def applies(target: Target) -> bool:
    return isinstance(target, CertificateTarget)


def verify(target: CertificateTarget, context: Context) -> Fragment:
    from esg_reports.certificate_checks._support import presented
    from esg_reports.certificates import Presented, embedded_credential

    trusted = context.trusted
    if trusted is None:
        return no_trust_anchor(NAME, "certificate")
    found = presented(target)  # the target's one parse; a credential that does not parse is read as any JSON
    if isinstance(found, Presented):
        anchor = found.embedded.credential.get("chainAnchor")
    else:
        anchor = ((embedded_credential(target.pdf) or {}).get("credential") or {}).get("chainAnchor")
    if not isinstance(anchor, dict):
        return not_valid(NAME, "certificate", Status.INVALID, Reason.NO_CREDENTIAL, "no credential names a chain")
    if anchor.get("chainId") != trusted.chain_id:
        return not_valid(
            NAME, "certificate", Status.INVALID, Reason.WRONG_CHAIN, f"the consortium is chain {trusted.chain_id}"
        )
    if str(anchor.get("contract", "")).lower() != trusted.ledger.lower():
        return not_valid(
            NAME,
            "certificate",
            Status.INVALID,
            Reason.UNTRUSTED_CONTRACTS,
            "the credential names another ledger than the consortium's",
            contract=str(anchor.get("contract")),
        )
    return valid(NAME, "certificate", chain_id=trusted.chain_id, ledger=trusted.ledger)


CHECK = Check(NAME, "certificate", applies, verify)
