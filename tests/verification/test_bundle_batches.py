"""One proof bundle's chain reads come in two JSON-RPC batches (verification/prefetch.py, ChainReader.prefetch),
and every check says with them exactly what it says reading the chain one request at a time: valid bundles of
each tier and a calibration certificate's, a revoked record, altered and forged bundles, and a dead node
(docs/architecture.md section 7). On anvil: the in-process EVM takes no batch."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from esg_reports import certificates
from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.web3_client import REFUSED, ChainReader, _view
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import (
    CertificateTarget,
    Fragment,
    RecordTarget,
    is_valid,
    read_bundle,
    record_context,
    verify,
    verify_certificates,
    verify_record,
)
from ledger_service.verification.prefetch import first_reads, lab_reads
from tests.utils.anvil import anvil_node, free_port

World = tuple[Runtime, str, dict[str, dict[str, Any]]]
BASE = "https://verify.lab.test"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """An anvil consortium with signed records of tiers A, B and C anchored, one of them revoked, and the
    proof bundles of those and of a calibration certificate."""
    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("batches"), chain_url=url))
        try:
            demo = Demo(runtime.service, runtime.keys)
            demo.found_consortium()
            demo.calibrate_instruments()
            demo.enrol_signers()
            service = runtime.service
            kinds = {"A": "tensile_test", "B": "el_image", "C": "xrf_analysis", "revoked": "el_image"}
            ids = {
                name: service.submit(*_signed(demo, kind, i), actor=LAB).record_id
                for i, (name, kind) in enumerate(kinds.items())
            }
            service.pin_pending()
            service.anchor_pending()
            service.revoke(ids["revoked"], member=LAB, reason="wrong sample")
            bundles = {name: service.proof_bundle(record_id) for name, record_id in ids.items()}
            certificate = next(iter(demo.station.certificates.values()))
            bundles["calibration"] = service.proof_bundle(certificate)
            issued = certificates.issue(service, [ids[t] for t in "ABC"], ["en", "zh-Hans"], BASE, keys=runtime.keys)
            bundles["pdfs"] = {"pdfs": [c.pdf for c in issued]}
            yield runtime, url, bundles
        finally:
            runtime.engine.dispose()


def _signed(demo: Demo, kind: str, i: int) -> tuple[dict[str, Any], Any]:
    raw, files = demo.record(kind, 900 + i, signed=True)
    return raw, files


class Posts:
    """The HTTP requests a client sends: each a JSON-RPC batch (a list) or a single request."""

    def __init__(self, client: JsonRpcChainClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bodies: list[Any] = []
        manager: Any = client.w3.provider._request_session_manager  # type: ignore[attr-defined]
        send: Callable[..., Any] = manager.make_post_request

        def counted(uri: str, data: bytes, **kwargs: Any) -> Any:
            self.bodies.append(json.loads(data))
            return send(uri, data, **kwargs)

        monkeypatch.setattr(manager, "make_post_request", counted)

    @property
    def batches(self) -> list[list[str]]:
        return [[r["method"] for r in b] for b in self.bodies if isinstance(b, list)]

    @property
    def singles(self) -> list[str]:
        return [b["method"] for b in self.bodies if isinstance(b, dict)]


def _client(runtime: Runtime, url: str) -> JsonRpcChainClient:
    deployment = runtime.service.chain.deployment
    assert deployment is not None
    client = JsonRpcChainClient(url)
    client.attach(deployment)
    return client


def _both(target: RecordTarget, client: JsonRpcChainClient) -> tuple[list[Any], list[Any]]:
    """The fragments with the batches (verify) and reading one request at a time (the checks alone)."""
    batched = [f.to_json() for f in verify(target, record_context(ChainReader(client)))]
    alone = [f.to_json() for f in verify_record(target, record_context(ChainReader(client)))]
    return batched, alone


@pytest.mark.parametrize("name", ["A", "B", "C", "calibration"])
def test_a_valid_bundles_reads_come_in_two_batches_and_nothing_else(
    world: World, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, url, bundles = world
    client = _client(runtime, url)
    target = read_bundle(bundles[name])
    posts = Posts(client, monkeypatch)
    fragments = verify(target, record_context(ChainReader(client)))
    assert is_valid(fragments), [f.to_json() for f in fragments if f.status.value not in ("VALID", "SKIPPED")]
    assert len(posts.batches) == 2 and posts.singles == []
    first, second = posts.batches
    assert sorted(first) == sorted(
        ["eth_call", "eth_getTransactionReceipt"] + (["eth_blockNumber"] if name == "C" else [])
    )
    assert (
        set(second) <= {"eth_call", "eth_getLogs"} and len(second) >= 5
    )  # member, state, status, calibration, 2 per signature
    if name == "C":
        assert second.count("eth_getLogs") == 1  # the standing history: the registry's four events, one query
    if name == "calibration":
        checks = {f.name: f.status.value for f in fragments}
        assert checks["CertificateTerms"] == "VALID"
    monkeypatch.undo()
    batched, alone = _both(target, client)
    assert batched == alone


def _altered(bundle: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> RecordTarget:
    copied = copy.deepcopy(bundle)
    change(copied)
    return read_bundle(copied)


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        node = bundle
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def test_every_check_says_with_the_batches_what_it_says_alone(world: World) -> None:
    """Revoked, altered and forged bundles: the same fragments, reason codes and data, batched or not."""
    runtime, url, bundles = world
    client = _client(runtime, url)
    b, c = bundles["B"], bundles["C"]
    other_tx = bundles["A"]["anchor"]["tx_hash"]
    cases = {
        "revoked": read_bundle(bundles["revoked"]),
        "altered result": _altered(b, _set(("record", "results", "altered"), 1)),
        "another transaction": _altered(c, _set(("anchor", "tx_hash"), other_tx)),
        "another block": _altered(b, _set(("anchor", "block_number"), b["anchor"]["block_number"] + 1)),
        "a proof that reaches nothing": _altered(c, _set(("anchor", "proof"), ["ab" * 32])),
        "a lab that is not a member": _altered(b, _set(("record", "lab", "member_id"), "LAB-NOBODY")),
        "a lab id over 32 bytes": _altered(b, _set(("record", "lab", "member_id"), "L" * 40)),
        "another tier": _altered(b, _set(("anchor", "tier"), "C")),
        "a forged signature": _altered(b, lambda d: d["record"]["signatures"][1].update(
            value=c["record"]["signatures"][1]["value"])),
        "a malformed signature": _altered(c, lambda d: d["record"]["signatures"][0].update(public_key="04zz")),
        "a transaction not on chain": _altered(b, _set(("anchor", "tx_hash"), "0x" + "11" * 32)),
    }  # fmt: skip
    for name, target in cases.items():
        batched, alone = _both(target, client)
        assert batched == alone, name
        assert not is_valid(verify(target, record_context(ChainReader(client)))), name
    codes = {f["name"]: (f["reason"] or {}).get("code") for f in _both(cases["revoked"], client)[0]}
    assert codes["RecordStatus"] == "REVOKED"


def test_a_dead_node_gives_the_same_error_fragments_batched_or_not(world: World) -> None:
    runtime, _, bundles = world
    deployment = runtime.service.chain.deployment
    assert deployment is not None
    dead = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    dead._chain_id = deployment.chain_id  # known from the trust anchor: attached without asking the dead node
    dead.attach(deployment, check_chain=False)
    for name in ("A", "B", "C", "calibration"):
        target = read_bundle(bundles[name])
        batched, alone = _both(target, dead)
        assert batched == alone, name
        chain_checks = [f for f in batched if f["name"] in ("ChainAnchor", "RecordStatus", "IssuerStanding")]
        assert chain_checks and all(f["status"] == "ERROR" for f in chain_checks), name


def test_a_refused_read_in_a_batch_is_read_again_alone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request the node answers with an error is not kept: the check asks for it alone and meets the node's
    own answer (here the status read of the second batch, refused by a node of this test's making)."""
    runtime, url, bundles = world
    client = _client(runtime, url)
    target = read_bundle(bundles["B"])
    reader = ChainReader(client)
    send, status_call = client.batch_call, "0x" + _view("QualityLedger", "statusOf")[0].hex()

    def refusing(requests: Any) -> list[Any]:
        answers = send(requests)
        return [REFUSED if m == "eth_call" and p[0]["data"].startswith(status_call) else a
                for (m, p), a in zip(requests, answers, strict=True)]  # fmt: skip

    with monkeypatch.context() as patched:
        patched.setattr(client, "batch_call", refusing)
        reader.prefetch(first_reads(target))
        _, lab = reader.known(("account", LAB))
        assert isinstance(lab, str)
        keys = lab_reads(target, lab, None)
        assert reader.prefetch(keys) == len(keys) - 1
        assert [k[0] for k in keys if not reader.known(k)[0]] == ["status"]
    posts = Posts(client, monkeypatch)
    fragments = [f.to_json() for f in verify_record(target, record_context(reader))]
    assert posts.batches == [] and posts.singles == ["eth_call"]  # the status, alone
    monkeypatch.undo()
    assert fragments == _both(target, client)[1]


def test_a_batch_of_certificates_reads_its_records_in_two_rounds_and_says_what_it_says_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify_certificates: the certified records' reads of the whole batch in two rounds of batches
    (esg_reports/certificate_checks prepare), the same fragments as reading one request at a time."""
    runtime, url, bundles = world
    client = _client(runtime, url)
    pdfs = bundles["pdfs"]["pdfs"]
    posts = Posts(client, monkeypatch)
    verdicts = _certificates(pdfs, client)
    assert all(certificates.is_valid(fs) for fs in verdicts)
    batched = [[f.to_json() for f in fs] for fs in verdicts]
    record_batches = [b for b in posts.batches if "eth_getTransactionReceipt" in b or len(b) >= 5]
    assert len(record_batches) == 2 and sum(len(b) for b in record_batches) >= 3 * 6
    monkeypatch.undo()
    with monkeypatch.context() as alone:
        alone.setattr(ChainReader, "prefetch", lambda self, keys: 0)
        single = [[f.to_json() for f in fs] for fs in _certificates(pdfs, client)]
    assert batched == single


def _certificates(pdfs: list[bytes], client: JsonRpcChainClient) -> list[list[Fragment]]:
    return verify_certificates([CertificateTarget(p) for p in pdfs], record_context(ChainReader(client)))


def test_the_in_process_evm_takes_no_batch_and_verifies_as_before(tmp_path: Path) -> None:
    """The embedded chain's provider is not HTTP: prefetch keeps nothing, the checks read alone."""
    runtime = open_runtime(Settings(data_dir=tmp_path))
    try:
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        demo.enrol_signers()
        record_id = runtime.service.submit(*demo.record("el_image", 1, signed=True), actor=LAB).record_id
        runtime.service.anchor_pending()
        target = read_bundle(runtime.service.proof_bundle(record_id))
        reader = ChainReader(runtime.service.chain)
        assert reader.prefetch(first_reads(target)) == 0
        assert is_valid(verify(target, record_context(reader)))
    finally:
        runtime.engine.dispose()
