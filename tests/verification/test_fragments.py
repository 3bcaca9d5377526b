"""Fragments: a check never raises; a dead node is ERROR (never INVALID); the pass/fail policy."""

from __future__ import annotations

from ledger_service.canonical import canonical_json
from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader
from ledger_service.digests import sm3
from ledger_service.verification import Anchor, Evidence, RecordTarget, Status, is_valid, record_context, verify
from ledger_service.verification.fragment import Reason, coded_errors, not_valid, valid
from tests.utils.anvil import free_port
from tests.utils.records import valid_raw


def _dead_reader() -> ChainReader:
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    client._chain_id = 31337  # known from the bundle: attach without asking the (dead) node
    client.attach(Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 0))
    return ChainReader(client)


def test_a_dead_node_gives_error_fragments_not_invalid_ones() -> None:
    record = valid_raw("tensile_test")
    evidence = Evidence(
        record=record,
        record_id=sm3(canonical_json(record)).hex(),
        anchor=Anchor("A", 31337, "0x" + "22" * 20, "0x" + "ab" * 32, 5, None, None, []),
    )
    fragments = {f.name: f for f in verify(RecordTarget(evidence), record_context(_dead_reader()))}
    assert fragments["Sm3RecordHash"].status is Status.VALID
    for name in ("ChainAnchor", "RecordStatus", "CalibrationValidity", "IssuerStanding"):
        assert fragments[name].status is Status.ERROR, name
        assert fragments[name].reason == {"code": "CHAIN_UNAVAILABLE", "message": fragments[name].reason["message"]}
    assert not is_valid(list(fragments.values()))


CHAIN_FREE = {"Sm3RecordHash", "Sm3AttachmentHash", "ConsortiumContracts"}  # what needs no node


def test_a_dead_node_gives_error_in_every_check_that_reads_the_chain_for_every_target() -> None:
    """Issue 13, property 8: through the one entry point, for a record of each tier and a calibration
    certificate, from the index, a bundle or a record file: each check that reads the chain is ERROR
    CHAIN_UNAVAILABLE, nothing is INVALID, and the verdict is not VALID."""
    cases = [("tensile_test", "A", None), ("el_image", "B", "cd" * 32), ("xrf_analysis", "C", "cd" * 32)]
    cases.append(("calibration_certificate", "A", None))
    for kind, tier, root in cases:
        record = valid_raw(kind)
        anchor = Anchor(tier, 31337, "0x" + "22" * 20, "0x" + "ab" * 32, 5, None, root, [])
        evidence = Evidence(record=record, record_id=sm3(canonical_json(record)).hex(), anchor=anchor)
        for source in ("index", "bundle", "file"):
            fragments = verify(RecordTarget(evidence, source), record_context(_dead_reader()))
            assert not is_valid(fragments)
            for f in fragments:
                assert f.status is not Status.INVALID, (kind, source, f.to_json())
                if f.name not in CHAIN_FREE and f.status is not Status.SKIPPED:
                    assert (f.status, (f.reason or {}).get("code")) == (Status.ERROR, "CHAIN_UNAVAILABLE"), f
            reads = {f.name for f in fragments if f.status is Status.ERROR and f.name not in CHAIN_FREE}
            expected = {"ChainAnchor", "RecordStatus", "CalibrationValidity", "IssuerStanding"}
            assert reads == expected | ({"CertificateTerms"} if kind == "calibration_certificate" else set())


def test_an_unexpected_exception_becomes_one_error_fragment() -> None:
    @coded_errors("Boom", "integrity")
    def boom() -> None:  # type: ignore[return]
        raise ZeroDivisionError("division by zero")

    f = boom()  # type: ignore[func-returns-value]
    assert (f.status, f.reason["code"]) == (Status.ERROR, "UNEXPECTED_ERROR")
    assert f.to_json()["status"] == "ERROR"


def test_is_valid_needs_each_required_type_valid_and_nothing_invalid() -> None:
    base = [valid("A", "integrity"), valid("B", "anchored"), valid("C", "status"), valid("D", "calibration")]
    assert is_valid(base)
    skipped = not_valid("E", "operator", Status.SKIPPED, Reason.OPERATOR_NOT_SIGNED, "unsigned")
    assert is_valid([*base, skipped])
    assert not is_valid(base[:3])  # no calibration fragment
    revoked = not_valid("C", "status", Status.INVALID, Reason.REVOKED, "revoked")
    assert not is_valid([*base[:2], revoked, base[3]])
