"""RecordStatus: the record's lab's record is in force on chain (not revoked, not superseded)."""

from __future__ import annotations

from ledger_service.chain.types import OnChainStatus
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record, lab_account
from ledger_service.verification.checks.chain_anchor import NO_ANCHOR_GIVEN
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "RecordStatus"


def verify(target: RecordTarget, context: Context) -> Fragment:
    ev, a, chain = target.evidence, target.evidence.anchor, context.chain
    if a is None:
        if target.source == "file":
            return not_valid(NAME, "status", Status.ERROR, Reason.ANCHOR_NOT_GIVEN, NO_ANCHOR_GIVEN)
        return not_valid(NAME, "status", Status.INVALID, Reason.NOT_ANCHORED, "no anchor is known for this record")
    root = bytes.fromhex(a.root) if a.root else None
    lab = lab_account(ev, chain)
    if lab is None:
        return not_valid(NAME, "status", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a member")
    status = chain.status(bytes.fromhex(ev.record_id), root, [bytes.fromhex(p) for p in a.proof], lab)
    if status is OnChainStatus.REVOKED:
        return not_valid(NAME, "status", Status.INVALID, Reason.REVOKED, "the record was revoked")
    if status is OnChainStatus.SUPERSEDED:
        replacement = chain.client.superseded_by(bytes.fromhex(ev.record_id), lab)
        return not_valid(
            NAME,
            "status",
            Status.INVALID,
            Reason.SUPERSEDED,
            "the record was superseded",
            superseded_by=replacement.hex(),
        )
    if status is OnChainStatus.NONE:
        return not_valid(NAME, "status", Status.INVALID, Reason.NOT_ANCHORED, "the chain does not know the record")
    return valid(NAME, "status", status="anchored")


CHECK = Check(NAME, "status", is_record, verify)
