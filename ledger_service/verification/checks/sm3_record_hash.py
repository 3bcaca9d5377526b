"""Sm3RecordHash: the record's SM3 over its canonical JSON is the record id it claims (and its SHA-256 the one
its source states, where it states one)."""

from __future__ import annotations

from ledger_service.canonical import canonical_json
from ledger_service.digests import digest_bytes
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "Sm3RecordHash"


def verify(target: RecordTarget, context: Context) -> Fragment:
    ev = target.evidence
    d = digest_bytes(canonical_json(ev.record))
    if d.sm3_hex != ev.record_id:
        return not_valid(
            NAME,
            "integrity",
            Status.INVALID,
            Reason.DIGEST_MISMATCH,
            "the record's SM3 differs from its record id",
            computed=d.sm3_hex,
            claimed=ev.record_id,
        )
    if ev.sha256 is not None and ev.sha256.lower() != d.sha256_hex:
        return not_valid(
            NAME,
            "integrity",
            Status.INVALID,
            Reason.DIGEST_MISMATCH,
            "the SHA-256 stated beside the record is not the record's",
            computed=d.sha256_hex,
            claimed=ev.sha256,
        )
    return valid(NAME, "integrity", sm3=d.sm3_hex, sha256=d.sha256_hex)


CHECK = Check(NAME, "integrity", is_record, verify)
