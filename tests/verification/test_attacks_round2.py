"""Second attack round on the merged main (issues 13 and 16): what the first two attackers did not try.

Each test is an attack: a forged or false input that must never verify VALID (docs/threat-model.md)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.digests import digest_bytes
from ledger_service.ids import header_of, instrument_key, schema_key
from ledger_service.index import crud
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.runtime import Runtime
from ledger_service.verification import Fragment, is_valid, read_bundle
from ledger_service.verification.bundle import FORMAT
from tests.utils.verifying import calibrated_consortium, failing_codes, record_id, verify_target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo]]:
    runtime, demo = calibrated_consortium(Settings(data_dir=tmp_path_factory.mktemp("round2")))
    yield runtime, demo
    runtime.engine.dispose()


_rid = record_id
_codes = failing_codes


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _bundle(runtime: Runtime, doc: dict[str, Any], tier: str, receipt: Any, ids: list[bytes], i: int = 0) -> Any:
    d = runtime.service.chain.deployment
    assert d is not None
    return {
        "format": FORMAT, "record_id": _rid(doc), "sha256": digest_bytes(canonical_json(doc)).sha256_hex,
        "record": doc,
        "chain": {"chain_id": d.chain_id, "registry": d.registry, "ledger": d.ledger, "recalls": d.recalls},
        "anchor": {"tier": tier, "tx_hash": "0x" + receipt.tx_hash.hex(), "block_number": receipt.block_number,
                   "block_hash": "0x" + ChainReader(runtime.service.chain).block_hash(receipt.block_number).hex(),
                   "root": merkle.root(ids).hex(), "leaf_index": i,
                   "proof": [p.hex() for p in merkle.proof(ids, i)], "hash": ""},
    }  # fmt: skip


def _xrf(runtime: Runtime, demo: Demo, i: int) -> dict[str, Any]:
    _, doc = runtime.service.record_document(demo.record("xrf_analysis", i)[0])
    return copy.deepcopy(doc)


def test_a_tier_c_record_measured_after_its_root_was_anchored_is_invalid(world: tuple[Runtime, Demo]) -> None:
    """Tiers A and B refuse a measured_at later than the block (QualityLedgerMeasuredInFuture); a tier C root
    carries no header, so the lab anchors today a root over an XRF analysis dated next week (inside its
    calibration's window): the anchor then proves the record existed before the measurement it reports."""
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    honest = _xrf(runtime, demo, 11)
    future = copy.deepcopy(honest)
    future["measured_at"] = _iso(now + 7 * 86400)
    ids = [bytes.fromhex(_rid(honest)), bytes.fromhex(_rid(future))]
    receipt = chain.anchor_root(service.accounts[LAB], ids, schema_key("xrf_analysis", "1"))
    ok = verify_target(read_bundle(_bundle(runtime, honest, "C", receipt, ids, 0)), chain)
    assert is_valid(ok), _codes(ok)  # the same root, the honest record: VALID
    fragments = verify_target(read_bundle(_bundle(runtime, future, "C", receipt, ids, 1)), chain)
    assert not is_valid(fragments), "a record measured after its anchor verified VALID"
    assert _codes(fragments).get("ChainAnchor") == "MEASURED_AFTER_ANCHOR", _codes(fragments)


def test_a_tier_c_record_whose_calibration_was_registered_after_its_root_is_invalid(
    world: tuple[Runtime, Demo],
) -> None:
    """Tiers A and B are refused unless the calibration is registered on the lab's instrument when they are
    anchored (QualityLedgerCalibrationNotRegistered); a tier C root is not. So a lab anchors an XRF analysis
    citing a certificate nobody has anchored, and later has a calibration lab anchor one whose window reaches
    back over it: the record, measured uncalibrated, turned VALID after the fact."""
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    lab, cal = service.accounts[LAB], service.accounts[CAL]
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=demo.certificates["XRF-01"])
        assert row is not None
        certificate = json.loads(row.canonical)
    certificate["report_id"] = "CAL-XRF-01-LATE"
    certificate["measured_at"] = _iso(now - 10 * 86400)
    certificate["results"]["valid_from"] = _iso(now - 10 * 86400)
    certificate["results"]["valid_until"] = _iso(now + 300 * 86400)
    cert_id = _rid(certificate)
    doc = _xrf(runtime, demo, 12)
    doc["measured_at"] = _iso(now - 86400)
    doc["instrument"]["calibration"] = {
        "certificate_record_id": cert_id,
        "valid_from": certificate["results"]["valid_from"],
        "valid_until": certificate["results"]["valid_until"],
    }
    ids = [bytes.fromhex(_rid(doc))]
    receipt = chain.anchor_root(lab, ids, schema_key("xrf_analysis", "1"))  # no such calibration yet
    before = verify_target(read_bundle(_bundle(runtime, doc, "C", receipt, ids)), chain)
    assert _codes(before).get("CalibrationValidity") == "CALIBRATION_NOT_ANCHORED", _codes(before)
    # The calibration lab anchors the certificate afterwards; the lab registers it on its instrument.
    h = header_of(certificate, bytes.fromhex(cert_id))
    terms = (instrument_key("XRF-01"), lab, now - 10 * 86400, now + 300 * 86400)
    header = (h.record_id, h.instrument_id, h.calibration_digest, h.operator_id, h.measured_at)
    chain._transact(cal, chain.ledger.functions.anchorCalibration(header, terms))
    chain._transact(
        lab, chain.ledger.functions.registerCalibration(instrument_key("XRF-01"), cal, bytes.fromhex(cert_id))
    )
    after = verify_target(read_bundle(_bundle(runtime, doc, "C", receipt, ids)), chain)
    assert not is_valid(after), "a calibration registered after the record's anchoring made it VALID"
    assert _codes(after).get("CalibrationValidity") == "CALIBRATION_NOT_ANCHORED", _codes(after)


def test_a_key_enrolled_after_the_record_was_anchored_does_not_sign_it(world: tuple[Runtime, Demo]) -> None:
    """A signature is a person's only if their lab had enrolled the key when the record was anchored: a record
    anchored with a key nobody enrolled (an impostor's, a leaked one) turned VALID once the lab enrolled that
    key later, as a withdrawal's mirror image (SIGNER_WITHDRAWN)."""
    from ledger_service import signatures

    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    raw, _ = demo.record("xrf_analysis", 13)
    operator = raw["operator"]["id"]
    runtime.keys.signer(LAB, operator)  # a key made, never enrolled
    _, doc = service.record_document(demo.sign(raw, ("performed",)))
    doc = copy.deepcopy(doc)
    ids = [bytes.fromhex(_rid(doc))]
    receipt = chain.anchor_root(service.accounts[LAB], ids, schema_key("xrf_analysis", "1"))
    before = verify_target(read_bundle(_bundle(runtime, doc, "C", receipt, ids)), chain)
    assert _codes(before).get("OperatorSignature") == "SIGNER_NOT_ENROLLED", _codes(before)
    signatures.enrol(service, runtime.keys, lab=LAB, signer=operator, actor=LAB)  # afterwards
    after = verify_target(read_bundle(_bundle(runtime, doc, "C", receipt, ids)), chain)
    assert not is_valid(after), "a key enrolled after the record's anchoring signed it"
    assert _codes(after).get("OperatorSignature") == "SIGNER_NOT_ENROLLED", _codes(after)
    # Signed by the key now enrolled, a fresh record verifies.
    again = next(
        r for r in (demo.record("xrf_analysis", 14 + i)[0] for i in range(200)) if r["operator"]["id"] == operator
    )
    _, fresh = service.record_document(demo.sign(again, ("performed",)))
    ids = [bytes.fromhex(_rid(fresh))]
    receipt = chain.anchor_root(service.accounts[LAB], ids, schema_key("xrf_analysis", "1"))
    ok = verify_target(read_bundle(_bundle(runtime, dict(fresh), "C", receipt, ids)), chain)
    assert is_valid(ok), _codes(ok)


def test_a_tier_b_batch_whose_headers_lie_about_the_record_is_invalid(world: tuple[Runtime, Demo]) -> None:
    """Tier B's contract checks the headers in the transaction's calldata, but the chain keeps only the root:
    nothing binds a header to the record its id is the SM3 of. A lab sends a header with a past measured_at and
    a registered calibration for records that say otherwise: one dated next week, one citing a calibration
    registered only later. Neither may verify VALID (the same rules as tier C)."""
    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    lab, cal = service.accounts[LAB], service.accounts[CAL]
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    honest = _xrf(runtime, demo, 31)
    future = copy.deepcopy(honest)
    future["measured_at"] = _iso(now + 7 * 86400)
    late = copy.deepcopy(honest)
    late["report_id"] = "XRF-LATE-CALIBRATION"
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=demo.certificates["XRF-01"])
        assert row is not None
        certificate = json.loads(row.canonical)
    certificate["report_id"] = "CAL-XRF-01-LATE-B"
    certificate["measured_at"] = _iso(now - 10 * 86400)
    certificate["results"]["valid_from"] = _iso(now - 10 * 86400)
    certificate["results"]["valid_until"] = _iso(now + 300 * 86400)
    cert_id = _rid(certificate)
    late["instrument"]["calibration"] = {
        "certificate_record_id": cert_id,
        "valid_from": certificate["results"]["valid_from"],
        "valid_until": certificate["results"]["valid_until"],
    }
    docs = [honest, future, late]
    truthful = header_of(honest, bytes.fromhex(_rid(honest)))  # what the contract is shown for each record
    headers = [dataclasses.replace(truthful, record_id=bytes.fromhex(_rid(d))) for d in docs]
    receipt = chain.anchor_batch(lab, RECORD_TYPE_CODES["xrf_analysis"], headers)
    h = header_of(certificate, bytes.fromhex(cert_id))
    terms = (instrument_key("XRF-01"), lab, now - 10 * 86400, now + 300 * 86400)
    header = (h.record_id, h.instrument_id, h.calibration_digest, h.operator_id, h.measured_at)
    chain._transact(cal, chain.ledger.functions.anchorCalibration(header, terms))
    chain._transact(
        lab, chain.ledger.functions.registerCalibration(instrument_key("XRF-01"), cal, bytes.fromhex(cert_id))
    )
    ids = sorted(bytes.fromhex(_rid(d)) for d in docs)

    def fragments(doc: dict[str, Any]) -> list[Fragment]:
        i = ids.index(bytes.fromhex(_rid(doc)))
        return verify_target(read_bundle(_bundle(runtime, doc, "B", receipt, ids, i)), chain)

    assert is_valid(fragments(honest)), _codes(fragments(honest))
    assert _codes(fragments(future)).get("ChainAnchor") == "MEASURED_AFTER_ANCHOR", _codes(fragments(future))
    assert _codes(fragments(late)).get("CalibrationValidity") == "CALIBRATION_NOT_ANCHORED", _codes(fragments(late))


def _signed(runtime: Runtime, demo: Demo, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    raw, files = demo.record("xrf_analysis", i)
    runtime.keys.signer(LAB, raw["operator"]["id"])
    return raw, demo.sign(runtime.service.with_attachments(raw, files), ("performed",))


def test_the_signature_rule_at_ingest_takes_no_made_up_signature_entry(world: tuple[Runtime, Demo]) -> None:
    """A lab whose profile requires its operators' signatures refused an unsigned record, but took any entry
    that said `performed` by the operator, `{"signer": ..., "meaning": "performed"}` and nothing else: the
    record was anchored carrying a signature that is none (21 CFR Part 11 11.70, gone at the ledger's door)."""
    from ledger_service import rules

    runtime, demo = world
    raw, signed = _signed(runtime, demo, 15)
    rules.check_signatures(signed, {"xrf_analysis"})  # a real signature: taken
    made_up = {**copy.deepcopy(raw), "signatures": [{"signer": raw["operator"]["id"], "meaning": "performed"}]}
    with pytest.raises(rules.Forbidden) as refused:
        rules.check_signatures(made_up, {"xrf_analysis"})
    assert refused.value.code == "SIGNATURE_REQUIRED" and refused.value.field == "signatures"


def test_the_signature_rule_at_ingest_takes_no_forged_signature(world: tuple[Runtime, Demo]) -> None:
    """A well-formed entry with a made-up SM2 value, another key put in a real entry, or the signature of a key
    the lab never enrolled, was taken at ingest and anchored under the lab's name; only a verifier said
    SIGNATURE_INVALID / SIGNER_NOT_ENROLLED afterwards. Ingest now checks every signature on the stored form,
    and a refused record leaves nothing in the index."""
    import base64

    from ledger_service import signatures
    from ledger_service.crypto import sm2
    from ledger_service.records import RecordInvalid

    runtime, demo = world
    service = runtime.service
    demo.enrol_signers()
    raw, files = demo.record("xrf_analysis", 16)
    signed = demo.sign(service.with_attachments(raw, files), ("performed",))
    made_up = copy.deepcopy(signed)
    made_up["signatures"][0]["value"] = base64.b64encode(b"\x30" + bytes(63)).decode()
    swapped_key = copy.deepcopy(signed)
    swapped_key["signatures"][0]["public_key"] = sm2.PrivateKey.generate().public_key.to_bytes().hex()
    unsigned = {k: v for k, v in signed.items() if k != "signatures"}
    stranger = signatures.sign(
        unsigned, signer=raw["operator"]["id"], meaning="performed", key=sm2.PrivateKey.generate()
    )
    impostor = signatures.sign(unsigned, signer="someone-else", meaning="performed", key=sm2.PrivateKey.generate())
    expected = {
        "made-up value": (made_up, "signatures[0].value", "SIGNATURE_INVALID"),
        "another key": (swapped_key, "signatures[0].value", "SIGNATURE_INVALID"),
        "a key never enrolled": (stranger, "signatures[0].public_key", "SIGNER_NOT_ENROLLED"),
        "not the operator": (impostor, "signatures[0].signer", "SIGNER_MISMATCH"),
    }
    for case, (fake, path, code) in expected.items():
        with pytest.raises(RecordInvalid) as refused:
            service.submit(fake, files)
        assert [(f.path, str(f.code)) for f in refused.value.faults] == [(path, code)], case
        with service.sessions() as session:
            assert crud.get_record(session=session, record_id=_rid(fake)) is None, case
    taken = service.submit(signed, files)  # the operator's own enrolled key: taken
    assert taken.created and taken.record_id == _rid(signed)


def test_a_withdrawn_signer_key_is_refused_at_ingest(world: tuple[Runtime, Demo]) -> None:
    """A record signed with a key its lab withdrew was taken and anchored (a verifier found SIGNER_WITHDRAWN
    later): the person left, the key stayed usable at the ledger's door."""
    from ledger_service import signatures
    from ledger_service.records import RecordInvalid

    runtime, demo = world
    service = runtime.service
    demo.enrol_signers()
    raw, files = demo.record("xrf_analysis", 18)
    person = raw["operator"]["id"]
    signed = demo.sign(service.with_attachments(raw, files), ("performed",))
    signatures.withdraw(service, runtime.keys, lab=LAB, signer=person, actor="test", reason="left the lab")
    try:
        with pytest.raises(RecordInvalid) as refused:
            service.submit(signed, files)
        assert [(f.path, str(f.code)) for f in refused.value.faults] == [
            ("signatures[0].public_key", "SIGNER_WITHDRAWN")
        ]
    finally:
        signatures.enrol(service, runtime.keys, lab=LAB, signer=person, actor="test")  # a new key, for the rest


def test_a_sweep_of_bundles_does_not_raise_on_a_record_whose_lab_is_not_an_object(
    world: tuple[Runtime, Demo],
) -> None:
    """verify_many (the sweep of bundles) looked the lab up before any check ran: a bundle whose record says
    `"lab": "LAB-SZ"` raised AttributeError out of verification instead of a verdict."""
    from ledger_service.verification import record_context, verify_many

    runtime, demo = world
    service, chain = runtime.service, runtime.service.chain
    doc = _xrf(runtime, demo, 17)
    ids = [bytes.fromhex(_rid(doc))]
    receipt = chain.anchor_root(service.accounts[LAB], ids, schema_key("xrf_analysis", "1"))
    doc["lab"] = "LAB-SZ"
    target = read_bundle(_bundle(runtime, doc, "C", receipt, [bytes.fromhex(_rid(doc))]))
    [fragments] = verify_many([target], record_context(ChainReader(chain)))
    assert not is_valid(fragments) and _codes(fragments).get("ChainAnchor") == "NOT_ANCHORED", _codes(fragments)


def test_a_signed_record_the_chain_cannot_vouch_for_now_waits_without_holding_its_batch(
    world: tuple[Runtime, Demo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signers' standing is read from the chain at ingest. With the node down, the signed record is answered
    ChainUnavailable (the API's 503: send it again) and stored nowhere, while the unsigned record written in the
    same group commit is accepted; the CLI's submit raises it. Once the chain answers, the same record is taken."""
    from ledger_service.errors import ChainUnavailable
    from ledger_service.service import Submitted

    runtime, demo = world
    service = runtime.service
    demo.enrol_signers()
    raw, files = demo.record("xrf_analysis", 19)
    signed = demo.sign(service.with_attachments(raw, files), ("performed",))
    unsigned, unsigned_files = demo.record("xrf_analysis", 20)

    def node_down(*_: object) -> None:
        raise ChainUnavailable("http://127.0.0.1:1 does not answer")

    with monkeypatch.context() as patch:
        patch.setattr(service, "_signer_standing", node_down)
        down, taken = service.submit_batch([(signed, files, LAB), (unsigned, unsigned_files, LAB)])
        assert isinstance(down, ChainUnavailable) and isinstance(taken, Submitted) and taken.created
        with pytest.raises(ChainUnavailable):
            service.submit(signed, files)
    with service.sessions() as session:
        assert crud.get_record(session=session, record_id=_rid(signed)) is None
        assert crud.get_record(session=session, record_id=taken.record_id) is not None
    assert service.submit(signed, files).created
