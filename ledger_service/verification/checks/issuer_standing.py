"""IssuerStanding: the record's own lab anchored it, and was an active member accredited for its record type
when it did (enforced by the contract for tiers A and B; for tier C roots the contract enforces standing and
this check reads the accreditation the registry's events gave the lab at the root's anchoring). What happens
to the lab later (a suspension, an accreditation gained or lost) does not change what held then: the
fragment reports the lab's status now (docs/architecture.md section 7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_anchored_record, lab_account, same_address
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "IssuerStanding"


@dataclass(frozen=True)
class Standing:
    """A member's standing and accreditation at one point of the chain's history."""

    active: bool
    record_type_scope: int
    accreditation_valid_until: int


def standing_at(history: Sequence[dict[str, Any]], position: tuple[int, int]) -> Standing:
    """The standing the registry's events `history` (oldest first, ChainReader.standing_history) gave a
    member just before `position` (block number, log index): what held when a log there was emitted."""
    active, scope, until = False, 0, 0
    for e in history:
        if (e["block_number"], e["log_index"]) >= position:
            break
        if e["event"] in ("MemberAdmitted", "MemberReinstated"):
            active = True
        elif e["event"] == "MemberSuspended":
            active = False
        elif e["event"] == "AccreditationUpdated":
            a = e["accreditation"]
            scope, until = (a["recordTypeScope"], a["validUntil"]) if isinstance(a, Mapping) else (a[3], a[4])
    return Standing(active, int(scope), int(until))


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
    # Tier C: the contract checked the lab was active; the record type is the schema's, so the registry's own
    # history says what the lab was accredited for when its root was anchored (not what it is now).
    root = bytes.fromhex(a.root or "")
    events = [
        e
        for e in chain.anchor_events(bytes.fromhex(a.tx_hash.removeprefix("0x")))
        if e["event"] == "RootAnchored" and e["root"] == root and same_address(e["submitter"], lab)
    ]
    # Without the event (ChainAnchor says why) the claimed block bounds it, every log of that block included.
    position = (events[0]["block_number"], events[0]["log_index"]) if events else (a.block_number + 1, 0)
    then = standing_at(chain.standing_history(submitter, position[0]), position)
    if not then.active:
        return not_valid(
            NAME,
            "issuer",
            Status.INVALID,
            Reason.ISSUER_SUSPENDED,
            "the issuer was not an active member at anchor time",
        )
    code = RECORD_TYPE_CODES.get(ev.record.get("record_type", ""), 0)
    if not ((then.record_type_scope >> code) & 1 and anchored_at <= then.accreditation_valid_until):
        return not_valid(
            NAME,
            "issuer",
            Status.INVALID,
            Reason.ISSUER_NOT_ACCREDITED,
            "not accredited for this record type at anchor time",
        )
    return valid(NAME, "issuer", submitter=submitter, enforced_on_chain=False, status_now=member["status"])


CHECK = Check(NAME, "issuer", is_anchored_record, verify, Reason.NOT_ANCHORED, "no anchor to attribute")
