"""Every chain read the record checks make for one record, in two JSON-RPC batches before they run (docs/
architecture.md section 7): first what needs only the record (its lab's account in the registry, the anchoring
transaction's receipt, the head for a tier C root), then what needs the lab's account (root or record state,
status, calibration, standing, the signers' enrolments and withdrawals, a calibration certificate's terms).
The checks then read from the chain reader's cache; a read that was not fetched, or that the node refused,
they make themselves, so a check says exactly what it says without this. Nothing here raises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger_service import signatures
from ledger_service.chain.types import ZERO32
from ledger_service.chain.web3_client import ChainReader, address_bytes
from ledger_service.ids import instrument_key
from ledger_service.verification.target import RecordTarget


def _hex32(text: Any) -> bytes | None:
    try:
        raw = bytes.fromhex(str(text).removeprefix("0x"))
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def _lab_member(record: Any) -> str | None:
    lab = record.get("lab")
    member_id = lab.get("member_id") if isinstance(lab, dict) else None  # as lab_account reads it
    return str(member_id) if member_id else None


def first_reads(target: RecordTarget) -> list[tuple[Any, ...]]:
    """The reads that need nothing from the chain: the lab's account, the anchor's receipt, the head."""
    ev, a = target.evidence, target.evidence.anchor
    member = _lab_member(ev.record)
    keys: list[tuple[Any, ...]] = [("account", member)] if member else []
    tx = _hex32(a.tx_hash) if a is not None else None
    if a is not None and tx is not None:
        keys.append(("events", tx))
        if a.tier == "C" and a.root:
            keys.append(("head",))
    return keys


def lab_reads(target: RecordTarget, lab: str, head: int | None) -> list[tuple[Any, ...]]:
    """The reads of the checks that need the lab's account `lab` (and, for a tier C root's standing, `head`)."""
    ev, a, record = target.evidence, target.evidence.anchor, target.evidence.record
    record_id = _hex32(ev.record_id)
    keys: list[tuple[Any, ...]] = [("member", lab)]  # IssuerStanding: the submitter of the lab's own anchor
    if a is not None and record_id is not None:
        root = _hex32(a.root) if a.root else None
        proof = [_hex32(p) for p in a.proof]
        if a.tier == "A":
            keys.append(("record", lab, record_id))
        elif root is not None:
            keys.append(("root", lab, root))
            if a.tier == "C" and head is not None:
                keys.append(("standing", lab, head))
        if all(p is not None for p in proof):
            keys.append(("status", address_bytes(lab), record_id, root or ZERO32, tuple(proof)))
    try:
        instrument = record["instrument"]
        cert = _hex32(instrument["calibration"]["certificate_record_id"])
        if cert is not None:
            keys.append(("calibration", lab, instrument_key(instrument["id"]), cert))
    except (KeyError, TypeError, AttributeError):
        pass
    if record.get("record_type") == "calibration_certificate" and record_id is not None:
        keys.append(("certificate", lab, record_id))
    entries = record.get("signatures")
    if isinstance(entries, list):
        lab_id = str(record.get("lab", {}).get("member_id", ""))
        for entry in entries:
            try:
                s = signatures.parse(entry)
            except ValueError:
                continue
            for root in signatures.standing_roots(lab_id, s.signer, s.public_key.to_bytes()):
                keys.append(("root", lab, root))
    return keys


def prefetch_record(target: RecordTarget, chain: ChainReader) -> None:
    """Fill `chain`'s cache with what the record checks will read for `target`, in two batches at most (none
    where the reader holds everything already, as in a sweep)."""
    prefetch_records([target], chain)


def prefetch_records(targets: Sequence[RecordTarget], chain: ChainReader) -> None:
    """`prefetch_record` for many records at once (a sweep, a batch of certificates): two rounds of batches for
    them all, whatever their number (ChainReader.prefetch cuts a round into batches a node takes)."""
    try:
        chain.prefetch([k for t in targets for k in first_reads(t)])
        has_head, head = chain.known(("head",))
        keys = []
        for target in targets:
            member = _lab_member(target.evidence.record)
            found, lab = chain.known(("account", member)) if member else (False, None)
            if found and lab is not None:  # else the lab is not known, or not a member: the checks say so
                keys += lab_reads(target, str(lab), int(head) if has_head else None)
        chain.prefetch(keys)
    except Exception:  # noqa: BLE001 - a record of an odd shape: the checks say what is wrong with it
        return
