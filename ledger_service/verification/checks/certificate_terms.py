"""CertificateTerms: for a calibration certificate, the terms the chain holds for it (instrument and window,
anchored with it by its issuer) are what its own text states."""

from __future__ import annotations

from ledger_service.ids import instrument_key
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record, lab_account, unix_of
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget, Target

NAME = "CertificateTerms"


def applies(target: Target) -> bool:
    return is_record(target) and target.evidence.record.get("record_type") == "calibration_certificate"  # type: ignore[union-attr]


def verify(target: RecordTarget, context: Context) -> Fragment:
    ev = target.evidence
    lab = lab_account(ev, context.chain)
    if lab is None:
        return not_valid(NAME, "calibration", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a member")
    terms = context.chain.certificate_of(lab, bytes.fromhex(ev.record_id))
    results = ev.record["results"]
    stated = (
        instrument_key(results["calibrated_instrument"]["id"]),
        unix_of(results["valid_from"]),
        unix_of(results["valid_until"]),
    )
    if (terms["instrument_id"], terms["valid_from"], terms["valid_until"]) != stated:
        return not_valid(
            NAME,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_MISMATCH,
            "the chain holds other terms than the certificate states",
            valid_from=terms["valid_from"],
            valid_until=terms["valid_until"],
        )
    return valid(NAME, "calibration", owner=terms["owner"], valid_until=terms["valid_until"])


CHECK = Check(NAME, "calibration", applies, verify, Reason.NOT_A_CERTIFICATE, "not a calibration certificate")
