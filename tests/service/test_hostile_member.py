"""Issue 13 through the service: another consortium member signs raw transactions from the committed ABI
(not through qledger) against a lab's records; the lab's records still anchor and verify VALID."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from ledger_service import merkle
from ledger_service.chain.types import Header, OnChainStatus
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.errors import TransactionReverted
from ledger_service.ids import instrument_key, operator_key
from ledger_service.local_consortium import REFERENCES
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.runtime import open_runtime
from ledger_service.verification import Anchor, Evidence, is_valid
from tests.utils.verifying import verify_evidence


def test_a_member_cannot_revoke_or_claim_another_labs_records(tmp_path: Path) -> None:
    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    service, chain = runtime.service, runtime.service.chain
    hostile, lab = service.accounts[CAL], service.accounts[LAB]

    # A tier C record of the lab's, anchored and VALID.
    victim = service.submit(*demo.record("xrf_analysis", 1), actor=LAB).record_id
    # A second record the hostile member sees before the lab anchors it: it anchors the digest first, in
    # tier C and (as the calibration lab it is) in tier A with its own reference standard.
    pending = service.submit(*demo.record("xrf_analysis", 2), actor=LAB).record_id
    chain.anchor_root(hostile, [bytes.fromhex(pending)], b"\x01" * 32)
    reference = REFERENCES["XRF-01"]
    now = chain.w3.eth.get_block("latest")["timestamp"]
    chain.anchor(
        hostile,
        RECORD_TYPE_CODES["calibration_certificate"],
        Header(
            bytes.fromhex(pending),
            instrument_key(reference),
            bytes.fromhex(demo.calibration_lab.certificates[reference]),
            operator_key(CAL, "op"),
            now - 60,
        ),
    )
    assert service.anchor_pending() == 2  # nothing of the hostile member's blocks the lab's own anchors
    assert is_valid(service.verify(victim)) and is_valid(service.verify(pending))

    # The hostile member anchors a root of its own holding the lab's record id and revokes it there.
    ids = [bytes.fromhex(victim), os.urandom(32)]
    own = chain.anchor_root(hostile, ids, b"\x02" * 32)
    chain.revoke(hostile, ids[0], b"hostile".ljust(32, b"\x00"), own.root, merkle.proof(ids, 0))
    assert chain.status(ids[0], own.root, merkle.proof(ids, 0), hostile) is OnChainStatus.REVOKED
    # Under the lab's own root, or naming the lab as submitter, it has no power at all.
    evidence = service.evidence(victim)
    assert evidence.anchor is not None and evidence.anchor.root is not None
    lab_root, lab_proof = bytes.fromhex(evidence.anchor.root), [bytes.fromhex(p) for p in evidence.anchor.proof]
    with pytest.raises(TransactionReverted) as refused:
        chain.revoke(hostile, ids[0], b"\x00" * 32, lab_root, lab_proof, submitter=lab)
    assert (refused.value.name, refused.value.code) == ("QualityLedgerNotSubmitter", "FORBIDDEN")
    with pytest.raises(TransactionReverted) as refused:
        chain.revoke(hostile, ids[0], b"\x00" * 32, own.root, merkle.proof(ids, 0), submitter=lab)
    assert refused.value.code == "NOT_ANCHORED"

    # The lab's record still verifies VALID, and the lab can still revoke it itself.
    assert chain.status(ids[0], lab_root, lab_proof, lab) is OnChainStatus.ANCHORED
    assert is_valid(service.verify(victim))
    service.revoke(victim, member=LAB, reason="own withdrawal")
    assert not is_valid(service.verify(victim))

    # An impostor's anchor of a record that names the lab never verifies: status, events and root are read
    # under the lab's account (the registry's accountOf of lab.member_id), not the bundle's word.
    stolen = service.submit(*demo.record("xrf_analysis", 3), actor=LAB).record_id
    leaves = [bytes.fromhex(stolen), os.urandom(32)]
    forged = chain.anchor_root(hostile, leaves, b"\x03" * 32)
    assert chain.deployment is not None
    anchor = Anchor(
        tier="C",
        chain_id=chain.deployment.chain_id,
        ledger=chain.deployment.ledger,
        tx_hash="0x" + forged.tx_hash.hex(),
        block_number=forged.block_number,
        block_hash=None,
        root=forged.root.hex(),
        proof=[p.hex() for p in merkle.proof(leaves, 0)],
    )
    evidence = Evidence(service.evidence(stolen).record, stolen, anchor)
    fragments = {f.name: f for f in verify_evidence(evidence, chain, service.store)}
    assert fragments["ChainAnchor"].reason is not None
    assert fragments["ChainAnchor"].reason["code"] == "ANCHOR_TX_MISMATCH"
    assert fragments["RecordStatus"].reason is not None
    assert fragments["RecordStatus"].reason["code"] == "NOT_ANCHORED"

    # Nor can it make its own word a traceability root: only NIM-CN, a reference body by the consortium's
    # decision, declares one; CAL-NIM's reference standards are calibrated by NIM-CN's anchored certificates.
    with pytest.raises(TransactionReverted) as refused:
        service.register_reference_calibration(
            member=CAL,
            instrument_id=reference,
            certificate_sm3="ab" * 32,
            valid_from=demo.now - timedelta(days=1),
            valid_until=demo.now + timedelta(days=3650),
        )
    assert (refused.value.name, refused.value.code) == ("InstrumentNotReferenceBody", "FORBIDDEN")
    calibration = ChainReader(chain).calibration_of(
        instrument_key(reference), bytes.fromhex(demo.calibration_lab.certificates[reference]), hostile
    )
    assert calibration["valid_from"] > 0 and calibration["external"] is False
    assert service.record_state(demo.calibration_lab.certificates[reference]).status == "anchored"
    runtime.engine.dispose()
