"""IssuerStanding: the record's own lab anchored it, and was an active member accredited for its record type
when it did (enforced by the contract for tiers A and B; checked here for tier C roots)."""

from __future__ import annotations

from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_anchored_record, lab_account
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "IssuerStanding"


def verify(target: RecordTarget, context: Context) -> Fragment:
    ev, a, chain = target.evidence, target.evidence.anchor, context.chain
    assert a is not None
    lab = lab_account(ev, chain)
    if lab is None:
        return not_valid(NAME, "issuer", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a member")
    if a.tier == "A":
        state = chain.record_of(bytes.fromhex(ev.record_id), lab)
    else:
        state = chain.root_of(bytes.fromhex(a.root or ""), lab)
    submitter, anchored_at = state["submitter"], state["anchored_at"]
    if not anchored_at:
        return not_valid(NAME, "issuer", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab did not anchor it")
    member = chain.member_of(submitter)
    if a.tier in ("A", "B"):
        # The contract checked standing and accreditation when it accepted the anchor.
        return valid(NAME, "issuer", submitter=submitter, enforced_on_chain=True, status_now=member["status"])
    if member["status"] != 1:
        return not_valid(NAME, "issuer", Status.INVALID, Reason.ISSUER_SUSPENDED, "the issuer is not an active member")
    code = RECORD_TYPE_CODES.get(ev.record.get("record_type", ""), 0)
    accredited = (member["record_type_scope"] >> code) & 1 and anchored_at <= member["accreditation_valid_until"]
    if not accredited:
        return not_valid(
            NAME,
            "issuer",
            Status.INVALID,
            Reason.ISSUER_NOT_ACCREDITED,
            "not accredited for this record type at anchor time",
        )
    return valid(NAME, "issuer", submitter=submitter, enforced_on_chain=False)


CHECK = Check(NAME, "issuer", is_anchored_record, verify, Reason.NOT_ANCHORED, "no anchor to attribute")
