"""OperatorSignature: the operator's signature over the record (SM2), once operators sign; until then SKIPPED
with OPERATOR_NOT_SIGNED, never VALID."""

from __future__ import annotations

from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid
from ledger_service.verification.target import RecordTarget

NAME = "OperatorSignature"


def verify(target: RecordTarget, context: Context) -> Fragment:
    if not target.evidence.record.get("operator", {}).get("signature"):
        return not_valid(NAME, "operator", Status.SKIPPED, Reason.OPERATOR_NOT_SIGNED, "the operator did not sign")
    return not_valid(NAME, "operator", Status.SKIPPED, Reason.OPERATOR_NOT_SIGNED, "signature checking not available")


CHECK = Check(NAME, "operator", is_record, verify)
