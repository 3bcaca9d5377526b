"""What several checks share: who the record's lab is on chain, and ISO times as the chain counts them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger_service.chain.web3_client import ChainReader
from ledger_service.verification.fragment import Fragment, FragmentType, Reason, Status, not_valid
from ledger_service.verification.target import Evidence, RecordTarget, Target


def is_record(target: Target) -> bool:
    return isinstance(target, RecordTarget)


def is_anchored_record(target: Target) -> bool:
    return isinstance(target, RecordTarget) and target.evidence.anchor is not None


def lab_account(ev: Evidence, chain: ChainReader) -> str | None:
    """The account of the member the record names as its lab, from the consortium registry: the only
    submitter whose anchor and status count for this record (another member's anchor of the same digest is
    that member's record; docs/threat-model.md)."""
    lab = ev.record.get("lab")
    member_id = lab.get("member_id") if isinstance(lab, dict) else None  # a bundle's record is not validated
    return chain.member_account(str(member_id)) if member_id else None


def same_address(a: Any, b: str) -> bool:
    return str(a).lower() == b.lower()


def no_trust_anchor(name: str, type_: FragmentType) -> Fragment:
    """What a check of the contracts says when the verifier holds no trust anchor: it cannot tell."""
    message = "no trust anchor: give the consortium's trust file (--consortium FILE)"
    return not_valid(name, type_, Status.ERROR, Reason.NO_TRUST_ANCHOR, message)


def unix_of(text: str) -> int:
    return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp())
