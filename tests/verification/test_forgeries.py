"""Forgeries an independent attacker made verify VALID, each now INVALID with its own reason code: a record
anchored by a raw tier B batch of another record type, a calibration whose on-chain window is not the one its
certificate states, and a tier C bundle relabelled tier B."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.digests import digest_bytes
from ledger_service.ids import header_of, instrument_key
from ledger_service.index import crud
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.runtime import Runtime
from ledger_service.verification import Anchor, Evidence, is_valid, read_bundle
from ledger_service.verification.bundle import FORMAT
from tests.utils import verifying
from tests.utils.verifying import calibrated_consortium, failing_codes, verify_evidence, verify_target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo]]:
    runtime, demo = calibrated_consortium(Settings(data_dir=tmp_path_factory.mktemp("forgeries")))
    yield runtime, demo
    runtime.engine.dispose()


rid = verifying.record_id
codes = failing_codes


def bundle_of(runtime: Runtime, doc: dict[str, Any], tier: str, receipt: Any, root: bytes) -> dict[str, Any]:
    d = runtime.service.chain.deployment
    assert d is not None
    return {
        "format": FORMAT, "record_id": rid(doc), "sha256": digest_bytes(canonical_json(doc)).sha256_hex, "record": doc,
        "chain": {"chain_id": d.chain_id, "registry": d.registry, "ledger": d.ledger, "recalls": d.recalls},
        "anchor": {"tier": tier, "tx_hash": "0x" + receipt.tx_hash.hex(), "block_number": receipt.block_number,
                   "block_hash": "0x" + ChainReader(runtime.service.chain).block_hash(receipt.block_number).hex(),
                   "root": root.hex(), "leaf_index": 0, "proof": [], "hash": ""},
    }  # fmt: skip


def test_a_record_anchored_in_a_batch_of_another_type_is_invalid(world: tuple[Runtime, Demo]) -> None:
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    _, doc = service.record_document(demo.record("xrf_analysis", 1)[0])
    doc = copy.deepcopy(doc)
    doc["record_type"] = "calibration_certificate"  # LAB-SZ is not accredited for these
    doc["results"]["calibrated_instrument"] = {"id": "SOMEONE-ELSES-INSTRUMENT"}
    assert not service.is_accredited(LAB, RECORD_TYPE_CODES["calibration_certificate"])
    record_id = bytes.fromhex(rid(doc))
    receipt = chain.anchor_batch(service.accounts[LAB], RECORD_TYPE_CODES["el_image"], [header_of(doc, record_id)])
    target = read_bundle(json.loads(json.dumps(bundle_of(runtime, doc, "B", receipt, merkle.root([record_id])))))
    fragments = verify_target(target, chain)
    assert not is_valid(fragments) and codes(fragments)["ChainAnchor"] == "RECORD_TYPE_MISMATCH"


def test_a_tier_c_root_relabelled_tier_b_is_invalid(world: tuple[Runtime, Demo]) -> None:
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    _, doc = service.record_document(demo.record("xrf_analysis", 2)[0])
    record_id = bytes.fromhex(rid(doc))
    receipt = chain.anchor_root(service.accounts[LAB], [record_id], service_schema("xrf_analysis"))
    for tier, expected in (("C", None), ("B", "TIER_MISMATCH")):
        target = read_bundle(bundle_of(runtime, doc, tier, receipt, merkle.root([record_id])))
        fragments = verify_target(target, chain)
        assert codes(fragments).get("ChainAnchor") == expected, (tier, codes(fragments))
    # The case of issue 13: a root of a record type its lab is not accredited for, relabelled tier B so that
    # the issuer check (enforced on chain for tier B) would be skipped. As tier C: ISSUER_NOT_ACCREDITED;
    # relabelled: TIER_MISMATCH. Never VALID.
    unaccredited = copy.deepcopy(doc)
    unaccredited["record_type"] = "calibration_certificate"
    assert not service.is_accredited(LAB, RECORD_TYPE_CODES["calibration_certificate"])
    record_id = bytes.fromhex(rid(unaccredited))
    receipt = chain.anchor_root(service.accounts[LAB], [record_id], service_schema("calibration_certificate"))
    for tier, check, expected in (
        ("C", "IssuerStanding", "ISSUER_NOT_ACCREDITED"),
        ("B", "ChainAnchor", "TIER_MISMATCH"),
    ):
        target = read_bundle(bundle_of(runtime, unaccredited, tier, receipt, merkle.root([record_id])))
        fragments = verify_target(target, chain)
        assert not is_valid(fragments) and codes(fragments).get(check) == expected, (tier, codes(fragments))


def service_schema(record_type: str) -> bytes:
    from ledger_service.ids import schema_key

    return schema_key(record_type, "1")


def test_a_calibration_window_that_is_not_the_certificates_is_invalid(world: tuple[Runtime, Demo]) -> None:
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    lab, cal = service.accounts[LAB], service.accounts[CAL]
    now = int(chain.w3.eth.get_block("latest")["timestamp"])

    def iso(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=demo.certificates["XRF-01"])
        assert row is not None
        certificate = json.loads(row.canonical)
    certificate["report_id"] = "CAL-XRF-01-SECOND"
    certificate["measured_at"] = iso(now - 2 * 86400)
    certificate["results"]["valid_from"] = iso(now - 86400)  # what the certificate says
    certificate["results"]["valid_until"] = iso(now + 300 * 86400)
    cert_id = rid(certificate)
    h = header_of(certificate, bytes.fromhex(cert_id))
    terms = (instrument_key("XRF-01"), lab, now - 1000 * 86400, now + 300 * 86400)  # not what it says
    header = (h.record_id, h.instrument_id, h.calibration_digest, h.operator_id, h.measured_at)
    anchored = chain._transact(cal, chain.ledger.functions.anchorCalibration(header, terms))
    chain._transact(
        lab, chain.ledger.functions.registerCalibration(instrument_key("XRF-01"), cal, bytes.fromhex(cert_id))
    )
    d = chain.deployment
    assert d is not None

    def tier_a(doc: dict[str, Any], receipt: Any) -> Evidence:
        tx = "0x" + receipt.tx_hash.hex()
        return Evidence(doc, rid(doc), Anchor("A", d.chain_id, d.ledger, tx, receipt.block_number, None, None, []))

    fragments = verify_evidence(tier_a(certificate, anchored), chain)
    assert codes(fragments)["CertificateTerms"] == "CALIBRATION_MISMATCH"

    _, doc = service.record_document(demo.record("xrf_analysis", 7)[0])
    doc = copy.deepcopy(doc)
    doc["measured_at"] = iso(now - 500 * 86400)  # long before the certificate's own valid_from
    doc["instrument"]["calibration"] = {
        "certificate_record_id": cert_id,
        "valid_from": certificate["results"]["valid_from"],
        "valid_until": certificate["results"]["valid_until"],
    }
    receipt = chain.anchor(lab, RECORD_TYPE_CODES["xrf_analysis"], header_of(doc, bytes.fromhex(rid(doc))))
    fragments = verify_evidence(tier_a(doc, receipt), chain)
    assert not is_valid(fragments) and codes(fragments)["CalibrationValidity"] == "CALIBRATION_MISMATCH"


def test_honest_records_of_every_tier_still_verify(world: tuple[Runtime, Demo], tmp_path: Path) -> None:
    runtime, demo = world
    service = runtime.service
    ids = [service.submit(*demo.record(kind, 50 + i), actor=LAB).record_id
           for i, kind in enumerate(["el_image", "xrf_analysis", "tensile_test"])]  # fmt: skip
    service.anchor_pending()
    for record_id in [*ids, demo.certificates["XRF-01"]]:
        fragments = service.verify(record_id)
        assert is_valid(fragments), codes(fragments)
