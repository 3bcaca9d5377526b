"""Each certificate check module (esg_reports/certificate_checks), run on its own as a registered `Check` through
`verification_builder`: VALID on a genuine certificate, INVALID (with its own reason code) on one forged where
that check can fail, ERROR on a dead node where it reads the chain. And the composition: a PDF with no
credential stops at the CertificateCredential gate, CertifiedRecord speaks only for an anchor not stated, and
`verify` parses the PDF once per target."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pikepdf
import pytest
from pikepdf import Dictionary, Name, String

from esg_reports import certificate_pdf, certificates
from esg_reports.certificate_checks import (
    CERTIFICATE_CHECKS,
    CERTIFIED_RECORD_CHECKS,
    certificate_anchor,
    certificate_record,
    certificate_template,
    certified_record,
    credential,
    credential_proof,
    page_content,
    pdf_active_content,
    pdf_revisions,
    record_status,
    visible_text,
)
from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import LAB, REG, Demo
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import CertificateTarget, Check, Context, Fragment, Status, verification_builder
from ledger_service.verification import verify as verify_target
from tests.utils.anvil import free_port

VERIFY = "https://verify.lab.test"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, list[certificates.Issued]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("cert-checks")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    ids = [runtime.service.submit(*demo.record(k, 900 + i), actor=LAB).record_id
           for i, k in enumerate(("tensile_test", "xrf_analysis"))]  # fmt: skip
    runtime.service.anchor_pending()
    yield runtime, certificates.issue(runtime.service, ids, ["en"], VERIFY, keys=runtime.keys)
    runtime.engine.dispose()


def context_of(runtime: Runtime) -> Context:
    return Context(ChainReader(runtime.service.chain), runtime.service.chain.deployment)


def run(check: Check, pdf: bytes, context: Context) -> Fragment:
    """One check alone, as the builder runs it (an exception would be an ERROR fragment)."""
    [fragment] = verification_builder([check])(CertificateTarget(pdf), context)
    return fragment


def code(fragment: Fragment) -> str | None:
    return (fragment.reason or {}).get("code")


def reembedded(cert: certificates.Issued, mutate: Callable[[dict[str, Any]], None]) -> bytes:
    embedded = copy.deepcopy(cert.embedded)
    mutate(embedded)
    return certificates.finalize_pdf(cert.pdf, embedded)


def edited(pdf: bytes, edit: Callable[[pikepdf.Pdf], None]) -> bytes:
    import io

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        edit(doc)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()


def test_every_check_is_valid_on_a_genuine_certificate(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    context = context_of(runtime)
    for check in CERTIFICATE_CHECKS:
        assert run(check, certs[0].pdf, context).status is Status.VALID, check.name
    seen = verification_builder(CERTIFIED_RECORD_CHECKS)(CertificateTarget(certs[0].pdf), context)
    # CertifiedRecord is quiet where the anchor is stated; an unsigned record's OperatorSignature and a tensile
    # test's CertificateTerms (a calibration certificate's check) do not apply.
    assert {f.name: f.status for f in seen} == {
        "ChainAnchor": Status.VALID,
        "CalibrationValidity": Status.VALID,
        "CertificateTerms": Status.SKIPPED,
        "IssuerStanding": Status.VALID,
        "OperatorSignature": Status.SKIPPED,
    }


def test_credential_is_the_gate(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    context = context_of(runtime)
    other = reembedded(certs[0], lambda e: e.update(format="qledger-certificate/1"))
    assert code(run(credential.CHECK, other, context)) == "NO_CREDENTIAL"
    malformed = reembedded(certs[0], lambda e: e["anchor"].pop("root"))
    assert code(run(credential.CHECK, malformed, context)) == "CREDENTIAL_MALFORMED"
    # The whole certificate verifier stops there: CertificateContracts (before the gate) and the gate's fragment.
    fragments = verify_target(CertificateTarget(other), context)
    assert [(f.name, code(f)) for f in fragments] == [
        ("CertificateContracts", None),
        ("CertificateCredential", "NO_CREDENTIAL"),
    ]


def test_pdf_revisions(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    appended = certs[0].pdf + b"\n9999 0 obj\n(appended after %%EOF)\nendobj\n"
    assert code(run(pdf_revisions.CHECK, appended, context_of(runtime))) == "PDF_INCREMENTAL_UPDATE"


def test_pdf_active_content(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world

    def open_action(doc: pikepdf.Pdf) -> None:
        doc.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=String("app.alert('VALID')"))

    fragment = run(pdf_active_content.CHECK, edited(certs[0].pdf, open_action), context_of(runtime))
    assert code(fragment) == "PDF_ACTIVE_CONTENT"


def test_page_content_and_visible_text_of_a_page_rendered_again(
    world: tuple[Runtime, list[certificates.Issued]],
) -> None:
    """A forger renders the page with another serial and embeds the genuine attachment."""
    runtime, certs = world
    context = context_of(runtime)
    shown = copy.deepcopy(certs[0].embedded)
    shown["credential"]["credentialSubject"]["item"]["unambiguous_id"] = "MOD-FORGED-0001"
    page = certificates.render_pdf(shown, ["en"])
    forged = certificate_pdf.replace_attachment(page, certificates.ATTACHMENT, json.dumps(certs[0].embedded).encode())
    assert code(run(page_content.CHECK, forged, context)) == "PAGE_DIGEST_MISMATCH"
    assert code(run(visible_text.CHECK, forged, context)) == "VISIBLE_TEXT_MISMATCH"
    assert run(certificate_anchor.CHECK, forged, context).status is Status.VALID  # the attachment is genuine


def test_certificate_anchor(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    forged = reembedded(certs[0], lambda e: e["credential"]["credentialSubject"]["item"].update(lot="LOT-X"))
    assert code(run(certificate_anchor.CHECK, forged, context_of(runtime))) == "DIGEST_MISMATCH"


def test_certificate_template(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    forged = reembedded(certs[0], lambda e: e["anchor"].update(templateProof=["ab" * 32]))
    assert code(run(certificate_template.CHECK, forged, context_of(runtime))) == "TEMPLATE_NOT_ANCHORED"


def test_certificate_record(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    context = context_of(runtime)
    forged = reembedded(certs[0], lambda e: e["record"].update(title="Another test"))
    assert code(run(certificate_record.CHECK, forged, context)) == "RECORD_DIGEST_MISMATCH"
    claimed = reembedded(certs[0], lambda e: e["credential"]["credentialSubject"]["assessment"].update(title="X"))
    assert code(run(certificate_record.CHECK, claimed, context)) == "CREDENTIAL_RECORD_MISMATCH"


def test_credential_proof(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    context = context_of(runtime)
    rebound = reembedded(certs[0], lambda e: e["issuerBinding"].update(member="ANOTHER-LAB"))
    assert code(run(credential_proof.CHECK, rebound, context)) == "CREDENTIAL_KEY_UNBOUND"
    # Another credential under the genuine proofs: the proofs no longer hold.
    edited_cred = reembedded(certs[0], lambda e: e["credential"].update(validFrom="2020-01-01T00:00:00Z"))
    assert code(run(credential_proof.CHECK, edited_cred, context)) == "CREDENTIAL_PROOF_INVALID"


def test_certified_record_speaks_for_an_anchor_not_stated(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    context = context_of(runtime)
    unstated = reembedded(certs[0], lambda e: e["credential"]["chainAnchor"].update(txHash="0x12"))
    assert [(f.name, code(f)) for f in verification_builder(CERTIFIED_RECORD_CHECKS)(
        CertificateTarget(unstated), context)] == [("CertifiedRecord", "CREDENTIAL_MALFORMED")]  # fmt: skip
    # A record check over the certified record, as the credential's chainAnchor states it: another block.
    moved = reembedded(certs[0], lambda e: e["credential"]["chainAnchor"].update(blockNumber=1))
    chain_anchor = next(c for c in CERTIFIED_RECORD_CHECKS if c.name == "ChainAnchor")
    assert code(run(chain_anchor, moved, context)) == "BLOCK_MISMATCH"
    assert certified_record.on_certified_record(chain_anchor).name == "ChainAnchor"


def test_a_dead_node_gives_error_from_every_chain_reading_check(
    world: tuple[Runtime, list[certificates.Issued]],
) -> None:
    runtime, certs = world
    deployment = runtime.service.chain.deployment
    assert deployment is not None
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    client._chain_id = deployment.chain_id  # attach without asking the (dead) node
    client.attach(deployment)
    dead = Context(ChainReader(client), deployment)
    modules: list[ModuleType] = [certificate_anchor, certificate_template, credential_proof, record_status]
    for module in modules:
        fragment = run(module.CHECK, certs[0].pdf, dead)
        assert (fragment.status, code(fragment)) == (Status.ERROR, "CHAIN_UNAVAILABLE"), module.NAME
    on_chain = {"ChainAnchor", "CalibrationValidity", "IssuerStanding"}  # over the certified record
    for check in (c for c in CERTIFIED_RECORD_CHECKS if c.name in on_chain):
        fragment = run(check, certs[0].pdf, dead)
        assert (fragment.status, code(fragment)) == (Status.ERROR, "CHAIN_UNAVAILABLE"), check.name


def test_record_status(world: tuple[Runtime, list[certificates.Issued]]) -> None:
    runtime, certs = world
    runtime.service.revoke(certs[1].record_id, member=REG, reason="specimen mix-up")
    assert code(run(record_status.CHECK, certs[1].pdf, context_of(runtime))) == "REVOKED"


def test_verify_parses_the_pdf_once(
    world: tuple[Runtime, list[certificates.Issued]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One builder run of 16 checks reads the embedded credential once (CertificateContracts included)."""
    runtime, certs = world
    calls: list[str] = []
    original = certificate_pdf.read_attachment

    def counted(pdf: bytes, name: str) -> bytes | None:
        calls.append(name)
        return original(pdf, name)

    monkeypatch.setattr(certificate_pdf, "read_attachment", counted)
    fragments = verify_target(CertificateTarget(certs[0].pdf), context_of(runtime))
    assert len(fragments) == 16 and calls == [certificates.ATTACHMENT]
