"""ChainAnchor: the transaction the anchor names holds, emitted by the genuine ledger for the record's own lab,
the record (tier A, with the header the contract enforced) or a root its proof reaches (tiers B and C), by the
tier and in the block the chain says, as the record type it is."""

from __future__ import annotations

from typing import Any

from ledger_service import merkle
from ledger_service.ids import header_of, measured_at, schema_key
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record, lab_account, same_address
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import Anchor, Evidence, RecordTarget

NAME = "ChainAnchor"
NO_ANCHOR_GIVEN = "no tier A anchor of it by its lab: if it was batched, verify its proof bundle"
_EVENT_OF_TIER = {"A": "RecordAnchored", "B": "BatchAnchored", "C": "RootAnchored"}


def _invalid(code: Reason, message: str, **data: Any) -> Fragment:
    return not_valid(NAME, "anchored", Status.INVALID, code, message, **data)


def _tier_a(ev: Evidence, events: list[dict[str, Any]]) -> dict[str, Any] | Fragment:
    record_id = bytes.fromhex(ev.record_id)
    match = [e for e in events if e["event"] == "RecordAnchored" and e["recordId"] == record_id]
    if not match:
        return _invalid(Reason.ANCHOR_TX_MISMATCH, "the transaction anchors no such record of the record's lab")
    e = match[0]
    h = header_of(ev.record, record_id)
    expected = {
        "instrumentId": h.instrument_id,
        "calibrationDigest": h.calibration_digest,
        "operatorId": h.operator_id,
        "measuredAt": h.measured_at,
        "recordType": RECORD_TYPE_CODES[ev.record["record_type"]],
    }
    wrong = [k for k, v in expected.items() if e[k] != v]
    if wrong:
        return _invalid(Reason.HEADER_MISMATCH, f"anchored header differs in {', '.join(wrong)}")
    return e


def _batched(ev: Evidence, a: Anchor, events: list[dict[str, Any]]) -> dict[str, Any] | Fragment:
    root = bytes.fromhex(a.root or "")
    if not merkle.verify(bytes.fromhex(ev.record_id), [bytes.fromhex(p) for p in a.proof], root):
        return _invalid(Reason.MERKLE_PROOF_INVALID, "the proof does not reach the root")
    same_root = [e for e in events if e["event"] in ("BatchAnchored", "RootAnchored") and e["root"] == root]
    if not same_root:
        return _invalid(Reason.ANCHOR_TX_MISMATCH, "the transaction anchors no such root of the record's lab")
    e = same_root[0]
    record_type = ev.record.get("record_type", "")
    anchored_as_type = (
        e["recordType"] == RECORD_TYPE_CODES.get(record_type)
        if e["event"] == "BatchAnchored"
        else e["schema"] == schema_key(record_type, "1")
    )
    if not anchored_as_type:
        return _invalid(Reason.RECORD_TYPE_MISMATCH, f"anchored as another record type than {record_type}")
    return e


def _code(fragment: Fragment) -> Reason | None:
    return Reason((fragment.reason or {}).get("code", "")) if fragment.reason else None


def _foreign(ev: Evidence, a: Anchor, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events of another contract that would have anchored this record (its id, or the root its anchor names)."""
    if a.tier == "A":
        record_id = bytes.fromhex(ev.record_id)
        return [e for e in events if e["event"] == "RecordAnchored" and e["recordId"] == record_id]
    root = bytes.fromhex(a.root or "")
    return [e for e in events if e["event"] in ("BatchAnchored", "RootAnchored") and e["root"] == root]


def verify(target: RecordTarget, context: Context) -> Fragment:
    ev, a, chain = target.evidence, target.evidence.anchor, context.chain
    if a is None:
        if target.source == "file":  # a record file: the chain holds no tier A anchor of it by its lab
            return not_valid(NAME, "anchored", Status.ERROR, Reason.ANCHOR_NOT_GIVEN, NO_ANCHOR_GIVEN)
        return _invalid(Reason.NOT_ANCHORED, "no anchor is known for this record")
    if chain.client.chain_id() != a.chain_id:
        return _invalid(Reason.WRONG_CHAIN, f"anchored on chain {a.chain_id}, node is another")
    lab = lab_account(ev, chain)
    if lab is None:
        return _invalid(Reason.NOT_ANCHORED, "the record's lab is not a consortium member")
    tx = bytes.fromhex(a.tx_hash.removeprefix("0x"))
    events = [e for e in chain.anchor_events(tx) if same_address(e["submitter"], lab)]
    if a.tier not in _EVENT_OF_TIER:
        return _invalid(Reason.TIER_MISMATCH, f"no tier {a.tier!r}")
    found = _tier_a(ev, events) if a.tier == "A" else _batched(ev, a, events)
    if isinstance(found, Fragment):
        foreign = _foreign(ev, a, chain.foreign_anchor_events(tx)) if _code(found) is Reason.ANCHOR_TX_MISMATCH else []
        if foreign:
            return _invalid(
                Reason.UNTRUSTED_EMITTER,
                "the transaction's anchoring event was emitted by another contract than the consortium's ledger",
                emitter=foreign[0]["emitter"],
            )
        return found
    # The tier is what the chain's event says, never what a bundle claims: tier B is an enforced batch.
    if found["event"] != _EVENT_OF_TIER[a.tier]:
        return _invalid(Reason.TIER_MISMATCH, f"the chain anchored it by {found['event']}")
    if found["block_number"] != a.block_number or (
        a.block_hash and found["block_hash"].hex() != a.block_hash.removeprefix("0x")
    ):
        return _invalid(
            Reason.BLOCK_MISMATCH,
            "the anchor is in another block than claimed",
            block_number=found["block_number"],
            block_hash="0x" + found["block_hash"].hex(),
        )
    if a.tier in ("B", "C") and "measured_at" in ev.record:
        # Tier A's event carries the header the contract checked (MEASURED_IN_FUTURE), compared above. A tier C
        # root carries none, and tier B's headers are only the calldata's, bound to no record (a lab can show
        # the contract a past date for a record that says next week): so the record's own date is compared with
        # its root's anchoring here. An anchor cannot prove a measurement made after it (docs/threat-model.md).
        anchored_at = chain.root_of(bytes.fromhex(a.root or ""), lab)["anchored_at"]
        if measured_at(ev.record) > anchored_at:
            return _invalid(
                Reason.MEASURED_AFTER_ANCHOR,
                "the record is dated later than the block that anchored its batch or root",
                anchored_at=anchored_at,
            )
    return valid(NAME, "anchored", tier=a.tier, tx_hash=a.tx_hash, block_number=a.block_number)


CHECK = Check(NAME, "anchored", is_record, verify)
