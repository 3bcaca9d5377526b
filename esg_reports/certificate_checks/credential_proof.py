"""CredentialProof: the credential's Data Integrity proof (eddsa-jcs-2022) and its SM2 proof hold, with keys the
issuer's DID names and the issuer's chain account bound to it: the binding, signed by the account the registry
holds for the member, names this DID, this consortium and these keys (docs/formats.md section 9.1)."""

from __future__ import annotations

from esg_reports import vc
from esg_reports.certificate_checks._support import cert_of, has_credential
from esg_reports.certificates import issuer_account, same_account
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "CredentialProof"


def verify(target: CertificateTarget, context: Context) -> Fragment:
    e, chain = cert_of(target).embedded, context.chain
    b = e.binding
    deployment = chain.client.deployment
    member = vc.member_of_did(e.issuer_did)
    account = issuer_account(chain, e.issuer_did)
    try:
        signer = vc.binding_signer(b)
    except ValueError as error:
        return not_valid(NAME, "certificate", Status.INVALID, Reason.CREDENTIAL_KEY_UNBOUND, str(error))
    if (
        account is None or deployment is None or not same_account(signer, account)
        or b.get("did") != e.issuer_did or b.get("member") != member
        or b.get("chainId") != deployment.chain_id or str(b.get("registry")).lower() != deployment.registry.lower()
    ):  # fmt: skip
        return not_valid(
            NAME, "certificate", Status.INVALID, Reason.CREDENTIAL_KEY_UNBOUND,
            f"the keys of {e.issuer_did} are not bound to {member}'s registry account on this consortium",
        )  # fmt: skip
    problems = vc.proof_problems(e.credential, b["verificationMethods"])
    if problems:
        return not_valid(
            NAME, "certificate", Status.INVALID, Reason.CREDENTIAL_PROOF_INVALID, problems[0], found=problems
        )
    return valid(NAME, "certificate", did=e.issuer_did)


CHECK = Check(NAME, "certificate", has_credential, verify)
