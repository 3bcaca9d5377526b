"""One negative test per reason code (docs/formats.md section 11): each scenario builds the evidence an
attacker or a fault would produce and asserts the check that must catch it gives that code with that status.
`test_every_reason_code_has_a_negative_test` fails when a code is added without one (here, or named in
ELSEWHERE and asserted in that file)."""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import AGENTS, CAL, LAB, MFR, REG, Demo
from ledger_service.ids import header_of
from ledger_service.records import RECORD_TYPE_CODES
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.store.ipfs_rpc import IpfsRpcStore
from ledger_service.verification import (
    CertificateTarget,
    Context,
    Evidence,
    Fragment,
    Reason,
    RecordTarget,
    Status,
    is_valid,
    record_context,
    verification_builder,
    verify,
)
from ledger_service.verification.checks import sm3_record_hash
from tests.utils.anvil import free_port

ROOT = Path(__file__).resolve().parents[2]
# Codes whose negative test lives in another file (which must assert the code).
ELSEWHERE = {
    "RECORD_TYPE_MISMATCH": "tests/verification/test_forgeries.py",
    "MEASURED_AFTER_ANCHOR": "tests/verification/test_attacks_round2.py",
    "TIER_MISMATCH": "tests/verification/test_forgeries.py",
    "UNTRUSTED_CONTRACTS": "tests/verification/test_trust_and_content.py",
    "UNTRUSTED_EMITTER": "tests/verification/test_trust_and_content.py",
    "ANCHOR_NOT_GIVEN": "tests/verification/test_trust_and_content.py",
    "NO_CREDENTIAL": "tests/esg/test_certificates.py",
    # Not reachable through the genuine contracts (a tier C root needs an active lab): a unit test.
    "ISSUER_SUSPENDED": "tests/verification/test_issuer_standing.py",
    **dict.fromkeys(
        (
            "SIGNATURE_MALFORMED",
            "SIGNATURE_INVALID",
            "SIGNER_NOT_ENROLLED",
            "SIGNER_MISMATCH",
            "SIGNED_AFTER_WITHDRAWAL",
            "SIGNER_WITHDRAWN",
        ),
        "tests/verification/test_operator_signatures.py",
    ),
    "CREDENTIAL_PROOF_INVALID": "tests/esg/test_vc_interop.py",
    "CREDENTIAL_KEY_UNBOUND": "tests/esg/test_vc_interop.py",
    "VISIBLE_TEXT_MISMATCH": "tests/esg/test_certificates.py",
    "SUSPENDED_BY_RECALL": "tests/verification/test_attacks_vc.py",
    **dict.fromkeys(
        (
            "TEMPLATE_NOT_ANCHORED",
            "NO_TEXT_EXTRACTOR",
            "PDF_INCREMENTAL_UPDATE",
            "PDF_ACTIVE_CONTENT",
            "PDF_DAMAGED",
            "PAGE_DIGEST_MISMATCH",
            "CERTIFICATE_SCHEMA_MISMATCH",
            "ISSUER_MISMATCH",
            "RECORD_DIGEST_MISMATCH",
            "CREDENTIAL_RECORD_MISMATCH",
            "CREDENTIAL_MALFORMED",
        ),
        "tests/esg/test_certificate_forgeries.py",
    ),
}


@dataclasses.dataclass
class World:
    runtime: Runtime
    demo: Demo
    ids: dict[str, str]  # kind -> an anchored record of that kind

    @property
    def service(self) -> Any:
        return self.runtime.service

    def evidence(self, kind: str) -> Evidence:
        return self.service.evidence(self.ids[kind])

    def check(self, evidence: Evidence, **context: Any) -> list[Fragment]:
        ctx = record_context(ChainReader(self.service.chain), self.service.store)
        return verify(RecordTarget(evidence), dataclasses.replace(ctx, **context))


def _world(data: Path) -> World:
    runtime = open_runtime(Settings(data_dir=data))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    ids = {}
    for i, kind in enumerate(("tensile_test", "el_image", "xrf_analysis")):
        ids[kind] = runtime.service.submit(*demo.record(kind, i), actor=LAB).record_id
    runtime.service.anchor_pending()
    return World(runtime, demo, ids)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = _world(tmp_path_factory.mktemp("reasons"))
    yield w
    w.runtime.engine.dispose()


def _edited(ev: Evidence, edit: Callable[[dict[str, Any]], None]) -> Evidence:
    record = copy.deepcopy(dict(ev.record))
    edit(record)
    return dataclasses.replace(ev, record=record)


def _anchor(ev: Evidence, **changes: Any) -> Evidence:
    assert ev.anchor is not None
    return dataclasses.replace(ev, anchor=dataclasses.replace(ev.anchor, **changes))


def _fresh(w: World, kind: str, i: int, **kw: Any) -> tuple[str, dict[str, Any]]:
    raw, _ = w.demo.record(kind, i, **kw)
    return w.service.record_document(raw)


def _dead_chain() -> ChainReader:
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    client._chain_id = 31337
    client.attach(Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 0))
    return ChainReader(client)


def _header_mismatch(w: World) -> list[Fragment]:
    record_id, doc = _fresh(w, "tensile_test", 40)
    chain = w.service.chain
    forged = dataclasses.replace(header_of(doc, bytes.fromhex(record_id)), operator_id=os.urandom(32))
    receipt = chain.anchor(w.service.accounts[LAB], RECORD_TYPE_CODES["tensile_test"], forged)
    ev = _anchor(w.evidence("tensile_test"), tx_hash="0x" + receipt.tx_hash.hex(), block_number=receipt.block_number)
    return w.check(dataclasses.replace(ev, record=doc, record_id=record_id))


_NOT_ACCREDITED: dict[int, tuple[str, dict[str, Any], Any]] = {}


def _issuer_not_accredited(w: World, i: int = 41, fresh: bool = True) -> list[Fragment]:
    """A record of a type LAB-SZ is not accredited for, anchored by LAB-SZ as a tier C root (the contract
    cannot tell a root's record type); `fresh=False` verifies the root anchored before for `i` again."""
    from ledger_service import merkle
    from ledger_service.ids import schema_key
    from tests.verification.test_forgeries import rid

    if fresh or i not in _NOT_ACCREDITED:
        record_id, doc = _fresh(w, "xrf_analysis", i)
        doc = copy.deepcopy(doc)
        doc["record_type"] = "calibration_certificate"  # LAB-SZ is accredited for everything else
        record_id = rid(doc)
        receipt = w.service.chain.anchor_root(
            w.service.accounts[LAB], [bytes.fromhex(record_id)], schema_key(doc["record_type"], "1")
        )
        _NOT_ACCREDITED[i] = (record_id, doc, receipt)
    record_id, doc, receipt = _NOT_ACCREDITED[i]
    ev = _anchor(
        w.evidence("xrf_analysis"),
        tx_hash="0x" + receipt.tx_hash.hex(),
        block_number=receipt.block_number,
        block_hash=None,
        root=merkle.root([bytes.fromhex(record_id)]).hex(),
        proof=[],
    )
    return w.check(dataclasses.replace(ev, record=doc, record_id=record_id))


def _revoked(w: World) -> list[Fragment]:
    record_id = w.service.submit(*w.demo.record("tensile_test", 42), actor=LAB).record_id
    w.service.anchor_pending()
    w.service.revoke(record_id, member=LAB, reason="specimen mix-up")
    return w.check(w.service.evidence(record_id))


def _superseded(w: World) -> list[Fragment]:
    old = w.service.submit(*w.demo.record("tensile_test", 43), actor=LAB).record_id
    new = w.service.submit(*w.demo.record("tensile_test", 44), actor=LAB).record_id
    w.service.anchor_pending()
    w.service.supersede(old, new, member=LAB, reason="re-tested")
    return w.check(w.service.evidence(old))


def _calibration_not_anchored(w: World) -> list[Fragment]:
    return w.check(
        _edited(
            w.evidence("tensile_test"),
            lambda r: r["instrument"]["calibration"].update(certificate_record_id=os.urandom(32).hex()),
        )
    )


def _calibration_expired(w: World) -> list[Fragment]:
    # Measured years before the calibration's window began.
    return w.check(_edited(w.evidence("tensile_test"), lambda r: r.update(measured_at="2001-01-01T00:00:00Z")))


def _calibration_mismatch(w: World) -> list[Fragment]:
    def edit(r: dict[str, Any]) -> None:
        r["instrument"]["calibration"].update(valid_from="2001-01-01T00:00:00Z", valid_until="2099-01-01T00:00:00Z")

    return w.check(_edited(w.evidence("tensile_test"), edit))


def _confidential(w: World) -> list[Fragment]:
    return w.check(_edited(w.evidence("el_image"), lambda r: r.update(confidentiality="confidential")), store=None)


def _store_unavailable(w: World) -> list[Fragment]:
    return w.check(w.evidence("el_image"), store=IpfsRpcStore(f"http://127.0.0.1:{free_port()}"))


def _unexpected_error(w: World) -> list[Fragment]:
    return w.check(_edited(w.evidence("tensile_test"), lambda r: r["instrument"].update(calibration=None)))


def _does_not_apply(w: World) -> list[Fragment]:
    only_records = verification_builder([sm3_record_hash.CHECK])
    return only_records(CertificateTarget(b"%PDF-1.7"), record_context(ChainReader(w.service.chain)))


# code -> (build the fragments, the check that must say it, its status)
SCENARIOS: dict[str, tuple[Callable[[World], list[Fragment]], str, Status]] = {
    "DIGEST_MISMATCH": (
        lambda w: w.check(_edited(w.evidence("tensile_test"), lambda r: r.update(report_id="FORGED"))),
        "Sm3RecordHash",
        Status.INVALID,
    ),
    "ATTACHMENT_DIGEST_MISMATCH": (
        lambda w: w.check(
            dataclasses.replace(
                w.evidence("el_image"),
                attachment_content={w.evidence("el_image").record["attachments"][0]["name"]: b"not the image"},
            )
        ),
        "Sm3AttachmentHash",
        Status.INVALID,
    ),
    "ATTACHMENT_NOT_PROVIDED": (
        lambda w: w.check(w.evidence("el_image"), store=None),
        "Sm3AttachmentHash",
        Status.ERROR,
    ),
    "NO_ATTACHMENTS": (
        lambda w: w.check(_edited(w.evidence("tensile_test"), lambda r: r.pop("attachments", None))),
        "Sm3AttachmentHash",
        Status.SKIPPED,
    ),
    "CONTENT_SKIPPED": (
        lambda w: w.check(w.evidence("el_image"), skip_content=True),
        "Sm3AttachmentHash",
        Status.SKIPPED,
    ),
    "CONFIDENTIAL": (_confidential, "Sm3AttachmentHash", Status.SKIPPED),
    "STORE_UNAVAILABLE": (_store_unavailable, "Sm3AttachmentHash", Status.ERROR),
    "NOT_ANCHORED": (
        lambda w: w.check(dataclasses.replace(w.evidence("tensile_test"), anchor=None)),
        "ChainAnchor",
        Status.INVALID,
    ),
    "NO_TRUST_ANCHOR": (
        lambda w: w.check(w.evidence("tensile_test"), trusted=None),
        "ConsortiumContracts",
        Status.ERROR,
    ),
    "WRONG_CHAIN": (lambda w: w.check(_anchor(w.evidence("tensile_test"), chain_id=1)), "ChainAnchor", Status.INVALID),
    "MERKLE_PROOF_INVALID": (
        lambda w: w.check(_anchor(w.evidence("el_image"), proof=[os.urandom(32).hex()])),
        "ChainAnchor",
        Status.INVALID,
    ),
    "ANCHOR_TX_MISMATCH": (
        lambda w: w.check(_anchor(w.evidence("tensile_test"), tx_hash=w.evidence("el_image").anchor.tx_hash)),  # type: ignore[union-attr]
        "ChainAnchor",
        Status.INVALID,
    ),
    "HEADER_MISMATCH": (_header_mismatch, "ChainAnchor", Status.INVALID),
    "BLOCK_MISMATCH": (
        lambda w: w.check(_anchor(w.evidence("el_image"), block_hash="0x" + "ab" * 32)),
        "ChainAnchor",
        Status.INVALID,
    ),
    "REVOKED": (_revoked, "RecordStatus", Status.INVALID),
    "SUPERSEDED": (_superseded, "RecordStatus", Status.INVALID),
    "CALIBRATION_NOT_ANCHORED": (_calibration_not_anchored, "CalibrationValidity", Status.INVALID),
    "CALIBRATION_EXPIRED": (_calibration_expired, "CalibrationValidity", Status.INVALID),
    "CALIBRATION_MISMATCH": (_calibration_mismatch, "CalibrationValidity", Status.INVALID),
    "NOT_A_CERTIFICATE": (lambda w: w.check(w.evidence("tensile_test")), "CertificateTerms", Status.SKIPPED),
    "ISSUER_NOT_ACCREDITED": (_issuer_not_accredited, "IssuerStanding", Status.INVALID),
    "OPERATOR_NOT_SIGNED": (lambda w: w.check(w.evidence("tensile_test")), "OperatorSignature", Status.SKIPPED),
    "CHAIN_UNAVAILABLE": (
        lambda w: verify(RecordTarget(w.evidence("tensile_test")), record_context(_dead_chain())),
        "RecordStatus",
        Status.ERROR,
    ),
    "UNEXPECTED_ERROR": (_unexpected_error, "CalibrationValidity", Status.ERROR),
    "DOES_NOT_APPLY": (_does_not_apply, "Sm3RecordHash", Status.SKIPPED),
}
DESTRUCTIVE = ("CALIBRATION_REVOKED",)  # changes the consortium: its own world below


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_each_reason_code_is_given_by_the_check_that_must_catch_it(world: World, code: str) -> None:
    build, check, status = SCENARIOS[code]
    fragments = {f.name: f for f in build(world)}
    fragment = fragments[check]
    assert (fragment.status, (fragment.reason or {}).get("code")) == (status, code), fragment.to_json()


def _code(fragments: list[Fragment], name: str) -> tuple[Status, str | None]:
    fragment = {f.name: f for f in fragments}[name]
    return fragment.status, (fragment.reason or {}).get("code")


def _pass_vote(w: World, fn: Any, done: Callable[[], bool]) -> None:
    """A proposal of the regulator's, voted by the other members until `done`."""
    service, chain = w.service, w.service.chain
    proposal = fn.call({"from": service.accounts[REG]})
    chain._transact(service.accounts[REG], fn)
    for voter in (MFR, CAL, *AGENTS):
        if done():
            break
        chain._transact(service.accounts[voter], chain.registry.functions.vote(proposal))
    assert done()


def test_a_calibration_withdrawn_in_any_way_fails_calibration_validity(tmp_path: Path) -> None:
    """Issue 13, property 3: a certificate superseded by its issuer, revoked by its issuer, or revoked by a
    regulator for cause withdraws the calibration it granted: CalibrationValidity is INVALID for each."""
    w = _world(tmp_path)
    service = w.service
    cert = {k: w.evidence(k).record["instrument"]["calibration"]["certificate_record_id"] for k in w.ids}
    assert len(set(cert.values())) == 3, cert  # three certificates, one per case
    for kind in w.ids:
        assert _code(w.check(w.evidence(kind)), "CalibrationValidity") == (Status.VALID, None)
    service.supersede(cert["tensile_test"], cert["xrf_analysis"], member=CAL, reason="certificate reissued")
    service.revoke(cert["el_image"], member=REG, reason="reference standard found out of tolerance")
    service.revoke(cert["xrf_analysis"], member=CAL, reason="certificate withdrawn")
    for kind in w.ids:
        assert _code(w.check(w.evidence(kind)), "CalibrationValidity") == (Status.INVALID, "CALIBRATION_REVOKED")
    w.runtime.engine.dispose()


def test_standing_is_what_held_at_anchor_time(tmp_path: Path) -> None:
    """Issue 13, property 4: the lab must be active and accredited for the record type when it anchored. An
    accreditation granted after a tier C root was anchored does not make that root's record valid (it does
    for a root anchored after it); a suspension after anchoring leaves every tier's records VALID, with the
    lab's status now reported, and the suspended lab anchors nothing more."""
    from ledger_service.errors import TransactionReverted

    w = _world(tmp_path)
    service, chain = w.service, w.service.chain
    registry, lab = chain.registry.functions, service.accounts[LAB]
    early = _issuer_not_accredited(w)  # a calibration_certificate root LAB-SZ is not accredited for
    assert _code(early, "IssuerStanding") == (Status.INVALID, "ISSUER_NOT_ACCREDITED")
    assert _code(early, "ChainAnchor") == (Status.VALID, None)

    body, number, scope_digest, scope, until = chain._call(registry.accreditationOf(lab))
    widened = scope | 1 << RECORD_TYPE_CODES["calibration_certificate"]
    _pass_vote(
        w,
        registry.proposeAccreditation(lab, (body, number, scope_digest, widened, until)),
        lambda: chain._call(registry.accreditationOf(lab))[3] == widened,
    )
    assert widened != scope
    # The root anchored before the accreditation: still not accredited then. One anchored after it: VALID.
    assert _code(_issuer_not_accredited(w, fresh=False), "IssuerStanding") == (Status.INVALID, "ISSUER_NOT_ACCREDITED")
    assert _code(_issuer_not_accredited(w, i=45), "IssuerStanding") == (Status.VALID, None)

    before = {kind: w.check(w.evidence(kind)) for kind in w.ids}  # tier A, B and C, all VALID
    assert all(is_valid(fragments) for fragments in before.values()), before
    _pass_vote(w, registry.proposeSuspension(lab, bytes(32)), lambda: chain._call(registry.memberOf(lab))[1] == 2)
    for kind in w.ids:
        fragments = w.check(w.evidence(kind))
        issuer = {f.name: f for f in fragments}["IssuerStanding"]
        assert issuer.status is Status.VALID and issuer.data["status_now"] == 2, (kind, issuer.to_json())
        assert is_valid(fragments), (kind, [f.to_json() for f in fragments])
    with pytest.raises(TransactionReverted) as refused:
        chain.anchor_root(lab, [os.urandom(32)], b"\x01" * 32)
    assert refused.value.name == "QualityLedgerSubmitterNotActive"
    w.runtime.engine.dispose()


def test_every_reason_code_has_a_negative_test() -> None:
    missing = []
    for code in Reason:
        if code.value in SCENARIOS or code.value in DESTRUCTIVE:
            continue
        where = ELSEWHERE.get(code.value)
        if where is None or code.value not in (ROOT / where).read_text():
            missing.append(code.value)
    assert missing == [], "reason codes with no negative test"
    assert all(Reason(code) for code in (*SCENARIOS, *DESTRUCTIVE, *ELSEWHERE))  # no stale names either


def test_the_builder_refuses_two_checks_of_one_name() -> None:
    with pytest.raises(ValueError, match="unique"):
        verification_builder([sm3_record_hash.CHECK, sm3_record_hash.CHECK])
    assert Context  # the context type is public API
