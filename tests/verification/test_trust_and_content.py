"""A verifier trusts the consortium, never the bundle (docs/threat-model.md, "a forger with no membership"), and
checks the content a record declares (docs/formats.md, proof bundles).

A forger with no membership deploys its own copy of the consortium's contracts on the same chain, founds it
with a lab of the same member id, calibrates, anchors and exports a bundle: internally consistent, so a
verifier that believes the bundle's contracts says VALID. Held against the consortium's trust anchor it is
INVALID (UNTRUSTED_CONTRACTS)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.web3_client import ChainReader
from ledger_service.cli import app
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.runtime import Runtime, save_deployment, trust_document
from ledger_service.verification import Context, Fragment, is_valid, read_bundle, verify
from tests.utils.anvil import anvil_node, free_port
from tests.utils.ipfs import ipfs_node
from tests.utils.verifying import calibrated_consortium


@dataclass
class Member:
    runtime: Runtime
    demo: Demo
    trust: Path


def _consortium(url: str, data: Path) -> Member:
    runtime, demo = calibrated_consortium(Settings(data_dir=data, chain_url=url))
    deployment = runtime.service.chain.deployment
    assert deployment is not None
    trust = data / "consortium.json"
    trust.write_text(json.dumps(trust_document(deployment)))
    return Member(runtime, demo, trust)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Member, Member]]:
    with anvil_node() as url:
        genuine = _consortium(url, tmp_path_factory.mktemp("genuine"))
        forger = _consortium(url, tmp_path_factory.mktemp("forger"))  # its own copy, on the same chain
        yield url, genuine, forger
        for m in (genuine, forger):
            m.runtime.engine.dispose()


def _bundle(member: Member, kind: str, i: int, with_content: bool = True) -> tuple[str, dict[str, Any], bytes]:
    raw, files = member.demo.record(kind, i)
    service = member.runtime.service
    record_id = service.submit(raw, files, actor=LAB).record_id
    service.anchor_pending()
    content = files[0].data if files and files[0].data is not None else (files[0].path.read_bytes() if files else b"")  # type: ignore[union-attr]
    return record_id, service.proof_bundle(record_id, with_content=with_content), content


def _codes(fragments: list[Fragment]) -> dict[str, str]:
    return {f.name: f.reason["code"] for f in fragments if f.reason is not None}


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, code: int) -> dict[str, Any]:
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(tmp_path / "no-data-dir"))
    result = CliRunner().invoke(app, ["verify", *args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if result.stdout.startswith("{") else {"output": result.output}


def test_a_forgers_copy_of_the_contracts_verifies_only_for_whoever_believes_the_bundle(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, genuine, forger = chain
    _, forged, _ = _bundle(forger, "xrf_analysis", 1)
    assert forged["record"]["lab"]["member_id"] == LAB  # it names the genuine lab's member id
    target = read_bundle(forged)
    assert target.claimed is not None and genuine.runtime.service.chain.deployment is not None

    believed = JsonRpcChainClient(url)
    believed.attach(target.claimed)
    assert is_valid(verify(target, Context(ChainReader(believed), target.claimed)))  # the bundle's own word

    trusted = genuine.runtime.service.chain.deployment
    client = JsonRpcChainClient(url)
    client.attach(trusted)
    fragments = verify(target, Context(ChainReader(client), trusted))
    assert not is_valid(fragments)
    codes = _codes(fragments)
    assert codes["ConsortiumContracts"] == "UNTRUSTED_CONTRACTS"
    assert codes["ChainAnchor"] == "UNTRUSTED_EMITTER"  # the forger's ledger emitted the event, not the genuine

    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    verdict = _cli(tmp_path, monkeypatch, str(path), "--rpc", url, "--consortium", str(genuine.trust), code=3)
    assert {f["name"]: (f["reason"] or {}).get("code") for f in verdict["fragments"]}["ConsortiumContracts"] == (
        "UNTRUSTED_CONTRACTS"
    )
    # With no trust anchor the verifier cannot tell: never VALID.
    undetermined = _cli(tmp_path, monkeypatch, str(path), "--rpc", url, code=4)
    assert undetermined["valid"] is False


def test_a_certificate_the_forgers_ledger_anchored_is_untrusted_emitter(chain: tuple[str, Member, Member]) -> None:
    """The forger's copy of the contracts issues a certificate in the genuine lab's name (its member id) and
    anchors its root: the RootAnchored event is the forger's ledger's, and CertificateAnchor says so
    (UNTRUSTED_EMITTER, as ChainAnchor does of a record) rather than only NOT_ANCHORED."""
    from esg_reports import certificates
    from ledger_service.verification import CertificateTarget, passes

    url, genuine, forger = chain
    record_id, _, _ = _bundle(forger, "tensile_test", 41)
    [cert] = certificates.issue(forger.runtime.service, [record_id], ["en"], "https://verify.lab.test",
                                keys=forger.runtime.keys)  # fmt: skip
    assert cert.embedded["record"]["lab"]["member_id"] == LAB
    trusted, forged = genuine.runtime.service.chain.deployment, forger.runtime.service.chain.deployment
    assert trusted is not None and forged is not None
    client = JsonRpcChainClient(url)
    client.attach(trusted)
    target = CertificateTarget(cert.pdf)
    fragments = verify(target, Context(ChainReader(client), trusted))
    codes = _codes(fragments)
    assert codes["CertificateAnchor"] == "UNTRUSTED_EMITTER", [f.to_json() for f in fragments]
    anchor = next(f for f in fragments if f.name == "CertificateAnchor")
    assert str(anchor.data["emitter"]).lower() == forged.ledger.lower()
    assert codes["CertificateContracts"] == "UNTRUSTED_CONTRACTS" and not passes(target, fragments)
    # Believing the forger's contracts, the same certificate verifies: the emitter is all that tells them apart.
    believed = JsonRpcChainClient(url)
    believed.attach(forged)
    own = {f.name: f.status for f in verify(CertificateTarget(cert.pdf), Context(ChainReader(believed), None))}
    assert own["CertificateAnchor"] == "VALID"


def test_a_trust_file_that_does_not_lead_to_a_consortium_is_refused_naming_it(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, genuine, forger = chain
    _, bundle, _ = _bundle(genuine, "xrf_analysis", 2)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    doc = json.loads(genuine.trust.read_text())
    forged_ledger = json.loads(forger.trust.read_text())["ledger"]
    cases = {
        "mixed.json": {**doc, "ledger": forged_ledger},  # the registry is genuine, the ledger the forger's
        "eoa.json": {**doc, "registry": genuine.runtime.service.accounts[LAB], "ledger": None},
        "chain.json": {**doc, "chain_id": doc["chain_id"] + 1},
        "garbled.json": {**doc, "registry": "not an address"},
    }
    for name, content in cases.items():
        trust = tmp_path / name
        trust.write_text(json.dumps({k: v for k, v in content.items() if v is not None}))
        out = _cli(tmp_path, monkeypatch, str(path), "--rpc", url, "--consortium", str(trust), code=1)["output"]
        assert name in out and len(out.strip().splitlines()) == 1, out
    # The trust anchor alone (chain id and registry) is enough: the ledger is read from the registry.
    minimal = tmp_path / "minimal.json"
    minimal.write_text(json.dumps({k: doc[k] for k in ("format", "chain_id", "registry")}))
    assert _cli(tmp_path, monkeypatch, str(path), "--rpc", url, "--consortium", str(minimal), code=0)["valid"]


def test_a_bundle_carries_its_content_and_content_not_checked_is_not_valid(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, genuine, _ = chain
    record_id, bundle, image = _bundle(genuine, "el_image", 3)
    (name,) = bundle["attachments"]
    assert base64.b64decode(bundle["attachments"][name]) == image
    trust = ["--rpc", url, "--consortium", str(genuine.trust)]

    def run(doc: dict[str, Any], *extra: str, code: int) -> dict[str, str | None]:
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(doc))
        verdict = _cli(tmp_path, monkeypatch, str(path), *trust, *extra, code=code)
        return {f["name"]: (f["reason"] or {}).get("code") for f in verdict["fragments"]}

    assert run(bundle, code=0)["Sm3AttachmentHash"] is None  # checked, VALID
    tampered = copy.deepcopy(bundle)
    tampered["attachments"][name] = base64.b64encode(image[:-1] + bytes([image[-1] ^ 1])).decode()
    assert run(tampered, code=3)["Sm3AttachmentHash"] == "ATTACHMENT_DIGEST_MISMATCH"

    bare = genuine.runtime.service.proof_bundle(record_id, with_content=False)
    assert "attachments" not in bare
    assert run(bare, code=4)["Sm3AttachmentHash"] == "ATTACHMENT_NOT_PROVIDED"  # could not tell: not VALID
    assert run(bare, "--skip-content", code=0)["Sm3AttachmentHash"] == "CONTENT_SKIPPED"  # as asked, and said
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(bare))
    headline = _cli(tmp_path, monkeypatch, str(path), *trust, "--skip-content", code=0)
    assert headline["valid"] is True and headline["content_checked"] is False
    given = tmp_path / name
    given.write_bytes(image)
    assert run(bare, "--attach", str(given), code=0)["Sm3AttachmentHash"] is None
    given.write_bytes(image + b"\0")
    assert run(bare, "--attach", str(given), code=3)["Sm3AttachmentHash"] == "ATTACHMENT_DIGEST_MISMATCH"

    with ipfs_node() as ipfs:  # fetched by CID from a node that has it
        from ledger_service.store.ipfs_rpc import IpfsRpcStore

        node = IpfsRpcStore(ipfs)
        assert node.put(image) == bundle["record"]["attachments"][0]["cid"]
        node.close()
        assert run(bare, "--ipfs", ipfs, code=0)["Sm3AttachmentHash"] is None


def test_a_malformed_bundle_is_refused_naming_the_field(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, genuine, _ = chain
    _, bundle, _ = _bundle(genuine, "el_image", 4)
    edits: dict[str, Any] = {
        "anchor.block_number": lambda b: b["anchor"].update(block_number="12"),
        "anchor.tx_hash": lambda b: b["anchor"].update(tx_hash="0x1234"),
        "anchor.proof": lambda b: b["anchor"].update(proof=["zz" * 32]),
        "attachments.": lambda b: b["attachments"].update({next(iter(b["attachments"])): "***"}),
        "record_id": lambda b: b.update(record_id=7),
    }
    for field, edit in edits.items():
        doc = copy.deepcopy(bundle)
        edit(doc)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(doc))
        out = _cli(tmp_path, monkeypatch, str(path), "--rpc", url, "--consortium", str(genuine.trust), code=1)
        assert "bad.json" in out["output"] and field in out["output"], (field, out)


def test_an_edited_block_number_is_invalid(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, genuine, _ = chain
    _, bundle, _ = _bundle(genuine, "tensile_test", 5)
    bundle["anchor"]["block_number"] += 1
    path = tmp_path / "moved.json"
    path.write_text(json.dumps(bundle))
    verdict = _cli(tmp_path, monkeypatch, str(path), "--rpc", url, "--consortium", str(genuine.trust), code=3)
    assert {f["name"]: (f["reason"] or {}).get("code") for f in verdict["fragments"]}["ChainAnchor"] == (
        "BLOCK_MISMATCH"
    )


def test_a_data_directory_never_vouches_for_another_consortium(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forger's own data directory, a bundle of its records relabelled with the genuine consortium's
    addresses, and the genuine trust file: the data directory reads its own contracts, so it refuses to judge
    for another consortium (it said VALID)."""
    url, genuine, forger = chain
    _, forged, _ = _bundle(forger, "xrf_analysis", 6)
    forged["chain"].update({k: json.loads(genuine.trust.read_text())[k] for k in ("registry", "ledger", "recalls")})
    path = tmp_path / "relabelled.json"
    path.write_text(json.dumps(forged))
    save_deployment(forger.runtime, forger.demo.station.certificates)  # a data directory the CLI opens
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(forger.runtime.settings.data_dir))
    monkeypatch.setenv("QLEDGER_CHAIN_URL", url)
    result = CliRunner().invoke(app, ["verify", str(path), "--consortium", str(genuine.trust), "--json"])
    assert result.exit_code == 1 and "consortium.json" in result.output, result.output
    # Held against the genuine consortium by URL it is what it is: not the genuine consortium's record.
    assert _cli(tmp_path, monkeypatch, str(path), "--rpc", url, "--consortium", str(genuine.trust), code=3)


def test_a_record_file_is_verified_by_the_anchor_the_chain_shows(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record file carries no anchor: a tier A record is found on chain by its lab (VALID); a batched one
    cannot be placed without its bundle (could not tell, exit 4, never INVALID); a dead node is exit 4."""
    url, genuine, _ = chain
    trust = ["--consortium", str(genuine.trust)]
    for kind, i, code, expected in (("tensile_test", 7, 0, None), ("xrf_analysis", 8, 4, "ANCHOR_NOT_GIVEN")):
        _, bundle, _ = _bundle(genuine, kind, i)
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(bundle["record"]))
        verdict = _cli(tmp_path, monkeypatch, str(path), "--rpc", url, *trust, code=code)
        assert {f["name"]: (f["reason"] or {}).get("code") for f in verdict["fragments"]}["ChainAnchor"] == expected
    dead = f"http://127.0.0.1:{free_port()}"
    assert _cli(tmp_path, monkeypatch, str(tmp_path / "tensile_test.json"), "--rpc", dead, *trust, code=4)


def test_a_bundle_that_says_two_things_or_an_empty_hash_is_refused(
    chain: tuple[str, Member, Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, genuine, _ = chain
    _, bundle, image = _bundle(genuine, "el_image", 9)
    trust = ["--rpc", url, "--consortium", str(genuine.trust)]
    (name,) = bundle["attachments"]
    text = json.dumps(bundle)
    good = json.dumps(bundle["attachments"][name])
    bad = json.dumps(base64.b64encode(b"not the image").decode())
    # Two values for one attachment: a reader taking the first would see content nobody checked.
    twice = text.replace(f'"{name}": {good}', f'"{name}": {bad}, "{name}": {good}')
    assert twice != text
    for label, content in (("twice", twice),):
        path = tmp_path / f"{label}.json"
        path.write_text(content)
        assert "appears twice" in _cli(tmp_path, monkeypatch, str(path), *trust, code=1)["output"]
    empty_hash = copy.deepcopy(bundle)
    empty_hash["anchor"]["block_hash"] = ""  # skipped the block check
    path = tmp_path / "empty-hash.json"
    path.write_text(json.dumps(empty_hash))
    assert "anchor.block_hash" in _cli(tmp_path, monkeypatch, str(path), *trust, code=1)["output"]
    wrong_sha = copy.deepcopy(bundle)
    wrong_sha["sha256"] = "00" * 32  # never checked
    path.write_text(json.dumps(wrong_sha))
    verdict = _cli(tmp_path, monkeypatch, str(path), *trust, code=3)
    assert {f["name"]: (f["reason"] or {}).get("code") for f in verdict["fragments"]}["Sm3RecordHash"] == (
        "DIGEST_MISMATCH"
    )
    assert image and _cli(tmp_path, monkeypatch, str(path.with_name("twice.json")), *trust, code=1)
