"""The checks. Each takes the evidence and returns one fragment; none raises (see `coded_errors`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.chain.types import OnChainStatus
from ledger_service.chain.web3_client import ChainReader
from ledger_service.digests import digest_bytes
from ledger_service.ids import header_of, instrument_key, measured_at, schema_key
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.store import ContentStore
from ledger_service.verification.fragment import Fragment, Reason, Status, coded_errors, not_valid, valid


@dataclass(frozen=True)
class Anchor:
    """Where a record is claimed to be anchored (from the index or a proof bundle)."""

    tier: str
    chain_id: int
    ledger: str
    tx_hash: str
    block_number: int
    block_hash: str | None
    root: str | None
    proof: list[str]


@dataclass(frozen=True)
class Evidence:
    """Everything a verification looks at."""

    record: Mapping[str, Any]  # the record document (its canonical JSON is what was anchored)
    record_id: str  # the claimed record id (SM3 hex)
    anchor: Anchor | None
    attachment_content: Mapping[str, bytes] = field(default_factory=dict)  # name -> content, where supplied


@coded_errors("Sm3RecordHash", "integrity")
def sm3_record_hash(ev: Evidence) -> Fragment:
    d = digest_bytes(canonical_json(ev.record))
    if d.sm3_hex != ev.record_id:
        return not_valid(
            "Sm3RecordHash",
            "integrity",
            Status.INVALID,
            Reason.DIGEST_MISMATCH,
            "the record's SM3 differs from its record id",
            computed=d.sm3_hex,
            claimed=ev.record_id,
        )
    return valid("Sm3RecordHash", "integrity", sm3=d.sm3_hex, sha256=d.sha256_hex)


@coded_errors("Sm3AttachmentHash", "integrity")
def attachment_hashes(ev: Evidence, store: ContentStore | None) -> Fragment:
    name = "Sm3AttachmentHash"
    declared = list(ev.record.get("attachments", []))
    if not declared:
        return not_valid(name, "integrity", Status.SKIPPED, Reason.NO_ATTACHMENTS, "the record has no attachments")
    checked = []
    for a in declared:
        content = ev.attachment_content.get(a["name"])
        if content is None and ev.record.get("confidentiality") == "confidential":
            return not_valid(
                name,
                "integrity",
                Status.SKIPPED,
                Reason.CONFIDENTIAL,
                f"{a['name']}: stored encrypted; give the decrypted content to check it",
            )
        if content is None and store is not None and a.get("cid"):
            content = store.get(a["cid"]) if store.has(a["cid"]) else None
        if content is None:
            return not_valid(
                name,
                "integrity",
                Status.SKIPPED,
                Reason.ATTACHMENT_NOT_PROVIDED,
                f"{a['name']}: content not available",
            )
        d = digest_bytes(content)
        if d.sm3_hex != a["sm3"] or d.sha256_hex != a["sha256"]:
            return not_valid(
                name,
                "integrity",
                Status.INVALID,
                Reason.ATTACHMENT_DIGEST_MISMATCH,
                f"{a['name']}: content does not match its declared SM3",
                attachment=a["name"],
                computed=d.sm3_hex,
            )
        checked.append(a["name"])
    return valid(name, "integrity", attachments=checked)


def lab_account(ev: Evidence, chain: ChainReader) -> str | None:
    """The account of the member the record names as its lab, from the consortium registry: the only
    submitter whose anchor and status count for this record (another member's anchor of the same digest is
    that member's record; docs/threat-model.md)."""
    member_id = ev.record.get("lab", {}).get("member_id")
    return chain.member_account(str(member_id)) if member_id else None


def _same(a: Any, b: str) -> bool:
    return str(a).lower() == b.lower()


@coded_errors("ChainAnchor", "anchored")
def chain_anchor(ev: Evidence, chain: ChainReader) -> Fragment:
    name = "ChainAnchor"
    a = ev.anchor
    if a is None:
        return not_valid(name, "anchored", Status.INVALID, Reason.NOT_ANCHORED, "no anchor is known for this record")
    if chain.client.chain_id() != a.chain_id:
        return not_valid(
            name,
            "anchored",
            Status.INVALID,
            Reason.WRONG_CHAIN,
            f"anchored on chain {a.chain_id}, node is another",
        )
    record_id = bytes.fromhex(ev.record_id)
    lab = lab_account(ev, chain)
    if lab is None:
        return not_valid(
            name, "anchored", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a consortium member"
        )
    events = [e for e in chain.anchor_events(bytes.fromhex(a.tx_hash.removeprefix("0x"))) if _same(e["submitter"], lab)]
    if a.tier == "A":
        match = [e for e in events if e["event"] == "RecordAnchored" and e["recordId"] == record_id]
        if not match:
            return not_valid(
                name,
                "anchored",
                Status.INVALID,
                Reason.ANCHOR_TX_MISMATCH,
                "the transaction anchors another record",
            )
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
            return not_valid(
                name,
                "anchored",
                Status.INVALID,
                Reason.HEADER_MISMATCH,
                f"anchored header differs in {', '.join(wrong)}",
            )
    else:
        root = bytes.fromhex(a.root or "")
        if not merkle.verify(record_id, [bytes.fromhex(p) for p in a.proof], root):
            return not_valid(
                name,
                "anchored",
                Status.INVALID,
                Reason.MERKLE_PROOF_INVALID,
                "the proof does not reach the root",
            )
        same_root = [e for e in events if e["event"] in ("BatchAnchored", "RootAnchored") and e["root"] == root]
        if not same_root:
            return not_valid(
                name,
                "anchored",
                Status.INVALID,
                Reason.ANCHOR_TX_MISMATCH,
                "the transaction anchors another root",
            )
        e = same_root[0]
        # The tier is what the chain's event says, never what a bundle claims: tier B is an enforced batch.
        if e["event"] != {"B": "BatchAnchored", "C": "RootAnchored"}.get(a.tier):
            return not_valid(
                name, "anchored", Status.INVALID, Reason.TIER_MISMATCH, f"the chain anchored it by {e['event']}"
            )
        record_type = ev.record.get("record_type", "")
        anchored_as_type = (
            e["recordType"] == RECORD_TYPE_CODES.get(record_type)
            if e["event"] == "BatchAnchored"
            else e["schema"] == schema_key(record_type, "1")
        )
        if not anchored_as_type:
            return not_valid(
                name,
                "anchored",
                Status.INVALID,
                Reason.RECORD_TYPE_MISMATCH,
                f"anchored as another record type than {record_type}",
            )
    if a.block_hash and e["block_hash"].hex() != a.block_hash.removeprefix("0x"):
        return not_valid(name, "anchored", Status.INVALID, Reason.BLOCK_MISMATCH, "the anchor is in another block now")
    return valid(name, "anchored", tier=a.tier, tx_hash=a.tx_hash, block_number=a.block_number)


@coded_errors("RecordStatus", "status")
def record_status(ev: Evidence, chain: ChainReader) -> Fragment:
    name = "RecordStatus"
    a = ev.anchor
    if a is None:
        return not_valid(name, "status", Status.INVALID, Reason.NOT_ANCHORED, "no anchor is known for this record")
    root = bytes.fromhex(a.root) if a.root else None
    lab = lab_account(ev, chain)
    if lab is None:
        return not_valid(name, "status", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a member")
    status = chain.status(bytes.fromhex(ev.record_id), root, [bytes.fromhex(p) for p in a.proof], lab)
    if status is OnChainStatus.REVOKED:
        return not_valid(name, "status", Status.INVALID, Reason.REVOKED, "the record was revoked")
    if status is OnChainStatus.SUPERSEDED:
        replacement = chain.client.superseded_by(bytes.fromhex(ev.record_id), lab)
        return not_valid(
            name,
            "status",
            Status.INVALID,
            Reason.SUPERSEDED,
            "the record was superseded",
            superseded_by=replacement.hex(),
        )
    if status is OnChainStatus.NONE:
        return not_valid(name, "status", Status.INVALID, Reason.NOT_ANCHORED, "the chain does not know the record")
    return valid(name, "status", status="anchored")


@coded_errors("CalibrationValidity", "calibration")
def calibration(ev: Evidence, chain: ChainReader) -> Fragment:
    name = "CalibrationValidity"
    rec = ev.record
    cert = bytes.fromhex(rec["instrument"]["calibration"]["certificate_record_id"])
    # Instruments are keyed by owner: the calibration counts only on the lab's own instrument.
    window = chain.calibration_of(instrument_key(rec["instrument"]["id"]), cert, lab_account(ev, chain))
    if window["valid_from"] == 0:
        return not_valid(
            name,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_NOT_ANCHORED,
            "no such calibration is registered",
        )
    if window["withdrawn"]:
        # Set by the contract when the certificate's own issuer (or a regulator) revoked or superseded it.
        return not_valid(
            name, "calibration", Status.INVALID, Reason.CALIBRATION_REVOKED, "the certificate was withdrawn"
        )
    stated = rec["instrument"]["calibration"]
    if "valid_from" in stated and (unix_of(stated["valid_from"]), unix_of(stated["valid_until"])) != (
        window["valid_from"],
        window["valid_until"],
    ):
        return not_valid(
            name,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_MISMATCH,
            "the record states another calibration window than the chain holds",
            valid_from=window["valid_from"],
            valid_until=window["valid_until"],
        )
    t = measured_at(rec)
    if not window["valid_from"] <= t <= window["valid_until"]:
        return not_valid(
            name,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_EXPIRED,
            "the calibration did not cover measured_at",
            valid_from=window["valid_from"],
            valid_until=window["valid_until"],
        )
    return valid(name, "calibration", certificate=cert.hex(), valid_until=window["valid_until"])


@coded_errors("IssuerStanding", "issuer")
def issuer(ev: Evidence, chain: ChainReader) -> Fragment:
    name = "IssuerStanding"
    a = ev.anchor
    if a is None:
        return not_valid(name, "issuer", Status.SKIPPED, Reason.NOT_ANCHORED, "no anchor to attribute")
    lab = lab_account(ev, chain)
    if lab is None:
        return not_valid(name, "issuer", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a member")
    if a.tier == "A":
        state = chain.record_of(bytes.fromhex(ev.record_id), lab)
    else:
        state = chain.root_of(bytes.fromhex(a.root or ""), lab)
    submitter, anchored_at = state["submitter"], state["anchored_at"]
    if not anchored_at:
        return not_valid(name, "issuer", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab did not anchor it")
    member = chain.member_of(submitter)
    if a.tier in ("A", "B"):
        # The contract checked standing and accreditation when it accepted the anchor.
        return valid(name, "issuer", submitter=submitter, enforced_on_chain=True, status_now=member["status"])
    if member["status"] != 1:
        return not_valid(name, "issuer", Status.INVALID, Reason.ISSUER_SUSPENDED, "the issuer is not an active member")
    code = RECORD_TYPE_CODES.get(ev.record.get("record_type", ""), 0)
    accredited = (member["record_type_scope"] >> code) & 1 and anchored_at <= member["accreditation_valid_until"]
    if not accredited:
        return not_valid(
            name,
            "issuer",
            Status.INVALID,
            Reason.ISSUER_NOT_ACCREDITED,
            "not accredited for this record type at anchor time",
        )
    return valid(name, "issuer", submitter=submitter, enforced_on_chain=False)


@coded_errors("OperatorSignature", "operator")
def operator(ev: Evidence) -> Fragment:
    name = "OperatorSignature"
    if not ev.record.get("operator", {}).get("signature"):
        return not_valid(name, "operator", Status.SKIPPED, Reason.OPERATOR_NOT_SIGNED, "the operator did not sign")
    # Operator signatures (SM2) arrive with member keys; until then a present signature is not checked.
    return not_valid(name, "operator", Status.SKIPPED, Reason.OPERATOR_NOT_SIGNED, "signature checking not available")


@coded_errors("CertificateTerms", "calibration")
def certificate_terms(ev: Evidence, chain: ChainReader) -> Fragment:
    """A calibration certificate: what the chain holds it certifies (instrument and window, anchored with it)
    must be what its own text says."""
    name = "CertificateTerms"
    if ev.record.get("record_type") != "calibration_certificate":
        return not_valid(name, "calibration", Status.SKIPPED, Reason.NOT_A_CERTIFICATE, "not a calibration certificate")
    lab = lab_account(ev, chain)
    if lab is None:
        return not_valid(name, "calibration", Status.INVALID, Reason.NOT_ANCHORED, "the record's lab is not a member")
    terms = chain.client.certificate_of(lab, bytes.fromhex(ev.record_id))
    results = ev.record["results"]
    stated = (
        instrument_key(results["calibrated_instrument"]["id"]),
        unix_of(results["valid_from"]),
        unix_of(results["valid_until"]),
    )
    if (terms["instrument_id"], terms["valid_from"], terms["valid_until"]) != stated:
        return not_valid(
            name,
            "calibration",
            Status.INVALID,
            Reason.CALIBRATION_MISMATCH,
            "the chain holds other terms than the certificate states",
            valid_from=terms["valid_from"],
            valid_until=terms["valid_until"],
        )
    return valid(name, "calibration", owner=terms["owner"], valid_until=terms["valid_until"])


def unix_of(text: str) -> int:
    return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp())
