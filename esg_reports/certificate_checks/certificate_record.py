"""CertificateRecord: the embedded record is the one the credential names (its SM3 is the record id), public,
and the credential says of it exactly what `certificates.record_claims` derives from it: issuer, subject,
evidence, and the status entries of every purpose."""

from __future__ import annotations

from typing import Any

from esg_reports import vc
from esg_reports.certificate_checks._support import cert_of, has_credential
from esg_reports.certificates import record_claims
from ledger_service.canonical import canonical_json
from ledger_service.verification.builder import Check
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import CertificateTarget

NAME = "CertificateRecord"


def _invalid(code: Reason, message: str, **data: Any) -> Fragment:
    return not_valid(NAME, "certificate", Status.INVALID, code, message, **data)


def verify(target: CertificateTarget, context: Context) -> Fragment:
    e = cert_of(target).embedded
    if e.record_sm3.hex() != e.record_id:
        return _invalid(
            Reason.RECORD_DIGEST_MISMATCH,
            f"the embedded record's SM3 is {e.record_sm3.hex()}, not the record id {e.record_id}",
        )
    lab = e.record.get("lab")
    if not isinstance(lab, dict) or vc.member_of_did(e.issuer_did) != lab.get("member_id"):
        return _invalid(Reason.ISSUER_MISMATCH, f"issued by {e.issuer_did}, not by the record's lab")
    try:
        claims = record_claims(e.record, e.issuer_did)
    except (KeyError, TypeError, AttributeError) as error:
        return _invalid(
            Reason.CREDENTIAL_RECORD_MISMATCH,
            f"the record lacks what a certificate shows ({type(error).__name__}: {error})",
        )
    if e.record.get("confidentiality") != "public":
        return _invalid(Reason.CREDENTIAL_RECORD_MISMATCH, "not a public record: no certificate")
    if e.issuer_did != claims["issuer"]["id"]:
        return _invalid(
            Reason.ISSUER_MISMATCH, f"issued by {e.issuer_did}, but the record is {claims['issuer']['id']}'s"
        )
    stated = {**e.credential, "issuer": {k: v for k, v in e.credential["issuer"].items() if k != "accreditation"}}
    wrong = [k for k, v in claims.items() if canonical_json(stated[k]) != canonical_json(v)]
    status = e.credential["credentialStatus"]
    purposes = (
        [s.get("statusPurpose") if isinstance(s, dict) else None for s in status] if isinstance(status, list) else None
    )
    if purposes != [*vc.PURPOSES]:
        wrong.append("credentialStatus")
    if wrong:
        return _invalid(
            Reason.CREDENTIAL_RECORD_MISMATCH,
            f"the credential's {', '.join(wrong)} differ from what the record says",
            members=wrong,
        )
    return valid(NAME, "certificate", record_id=e.record_id)


CHECK = Check(NAME, "certificate", has_credential, verify)
