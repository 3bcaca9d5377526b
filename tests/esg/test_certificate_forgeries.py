"""Certificate forgeries an attacker builds with ordinary tools (pikepdf edits, an incremental update appended by
hand, raw `anchorRoot` transactions of another member or of the lab's key used for another kind, a lab anchoring
a credential its record does not back), each INVALID with its own reason code; malformed attachments and a dead
node give fragments, never an exception; genuine certificates verify in every language, also after a rewrite."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String

from esg_reports import certificate_pdf, certificates, i18n, vc
from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.chain.types import Deployment
from ledger_service.config import Settings
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.digests import sm3
from ledger_service.ids import schema_key
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import Fragment, Status
from tests.utils.anvil import free_port

VERIFY = "https://verify.lab.test"
LANGS = ["en", "vi"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo, list[str]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("forged-certs")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    kinds = ["xrf_analysis", "tensile_test", "el_image"] * 4
    ids = [runtime.service.submit(*demo.record(k, 700 + i), actor=LAB).record_id for i, k in enumerate(kinds)]
    runtime.service.anchor_pending()
    yield runtime, demo, ids
    runtime.engine.dispose()


@pytest.fixture(scope="module")
def genuine(world: tuple[Runtime, Demo, list[str]]) -> certificates.Issued:
    runtime, _, ids = world
    [cert] = certificates.issue(runtime.service, [ids[0]], LANGS, VERIFY, keys=runtime.keys)
    return cert


def verify(runtime: Runtime, pdf: bytes) -> dict[str, Fragment]:
    return {f.name: f for f in certificates.verify_pdf(runtime.service.chain, pdf)}


def failing(fragments: dict[str, Fragment]) -> dict[str, str | None]:
    """The checks that fail or cannot tell (SKIPPED is neither: OperatorSignature of an unsigned record)."""
    skipped = (Status.VALID, Status.SKIPPED)
    return {n: (f.reason or {}).get("code") for n, f in fragments.items() if f.status not in skipped}


def text_of(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def word_box(pdf: bytes, word: str) -> tuple[float, float, float, float]:
    """Where poppler draws `word`: (xMin, yMin, xMax, yMax), from the page's top-left corner."""
    html = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True).stdout
    for m in re.finditer(rb'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', html):
        if m.group(5).decode() == word:
            x0, y0, x1, y1 = (float(m.group(i)) for i in range(1, 5))
            return x0, y0, x1, y1
    raise AssertionError(f"{word!r} is not on the page")


def edited(pdf: bytes, edit: Callable[[pikepdf.Pdf], None], **save: Any) -> bytes:
    """The PDF edited with pikepdf and saved whole (one revision, as a forger's editor writes it)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        edit(doc)
        out = io.BytesIO()
        doc.save(out, **save)
        return out.getvalue()


def helvetica(doc: pikepdf.Pdf) -> None:
    fonts = doc.pages[0].obj.Resources.Font
    fonts[Name("/QLForge")] = doc.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))


def result_word(cert: certificates.Issued) -> str:
    """A result value the page shows (the first results line's)."""
    return certificates._results(cert.embedded["credential"]["credentialSubject"]["assessment"]["results"])[0][1]


def append_update(pdf: bytes, objects: dict[int, bytes]) -> bytes:
    """An incremental update written by hand: `objects` (number -> body) appended after the original %%EOF,
    a cross-reference section for them naming the original's (/Prev), a trailer, startxref, %%EOF."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        size, root, info = int(doc.trailer.Size), doc.Root.objgen[0], doc.trailer.Info.objgen[0]
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    out, offsets = bytearray(pdf), {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for number in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    size = max(size, *(n + 1 for n in objects))
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /Prev %d >>\n" % (size, root, info, prev)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream_object(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


# ---------------------------------------------------------------- the page


def test_results_painted_over_in_the_content_stream_are_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    runtime, _, _ = world
    word = result_word(genuine)
    x0, y0, x1, y1 = word_box(genuine.pdf, word)

    def paint(doc: pikepdf.Pdf) -> None:
        helvetica(doc)
        page = doc.pages[0].obj
        h = float(page.MediaBox[3])
        cover = b"q 1 1 1 rg %.2f %.2f %.2f %.2f re f Q " % (x0 - 1, h - y1 - 1, x1 - x0 + 60, y1 - y0 + 2)
        text = b"BT 0 0 0 rg /QLForge 7 Tf %.2f %.2f Td (FORGED-PASS) Tj ET" % (x0, h - y1 + 2)
        page.Contents.write(b"q\n" + page.Contents.read_bytes() + b"\nQ\n" + cover + text)

    forged = edited(genuine.pdf, paint)
    assert "FORGED-PASS" in text_of(forged)  # poppler draws it: the forgery shows
    fragments = verify(runtime, forged)
    assert failing(fragments) == {"PageContent": "PAGE_DIGEST_MISMATCH"}  # the covered text is still extracted


def test_an_extra_content_stream_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    runtime, _, _ = world
    x0, y0, x1, y1 = word_box(genuine.pdf, result_word(genuine))

    def overlay(doc: pikepdf.Pdf) -> None:
        helvetica(doc)
        # The page's own stream leaves its y-down matrix in force: draw in the same coordinates as poppler's.
        ops = b"q 1 1 1 rg %.2f %.2f %.2f %.2f re f Q " % (x0 - 1, y0 - 1, x1 - x0 + 60, y1 - y0 + 2)
        ops += b"BT 0 0 0 rg /QLForge 7 Tf 1 0 0 -1 %.2f %.2f Tm (OVERLAY-PASS) Tj ET" % (x0, y1 - 2)
        doc.pages[0].contents_add(pikepdf.Stream(doc, ops), prepend=False)

    forged = edited(genuine.pdf, overlay)
    with pikepdf.open(io.BytesIO(forged)) as doc:
        assert isinstance(doc.pages[0].obj.Contents, Array) and len(doc.pages[0].obj.Contents) == 2
    assert "OVERLAY-PASS" in text_of(forged)
    assert failing(verify(runtime, forged)) == {"PageContent": "PAGE_DIGEST_MISMATCH"}


def test_an_incremental_update_with_a_freetext_overlay_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    runtime, _, _ = world
    x0, y0, x1, y1 = word_box(genuine.pdf, result_word(genuine))
    with pikepdf.open(io.BytesIO(genuine.pdf)) as doc:
        page = doc.pages[0].obj
        number, size, h = page.objgen[0], int(doc.trailer.Size), float(page.MediaBox[3])
        page_body = page.unparse(resolved=True).decode("latin-1")
    appearance, annot = size, size + 1
    rect = b"%.2f %.2f %.2f %.2f" % (x0 - 1, h - y1 - 1, x1 + 60, h - y0 + 1)
    ap = b"1 1 1 rg 0 0 %.2f %.2f re f BT 0 0 0 rg /Helv 7 Tf 1 3 Td (ANNOT-PASS) Tj ET" % (x1 - x0 + 61, y1 - y0 + 2)
    font = b"<< /Font << /Helv << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    objects = {
        appearance: stream_object(ap, b"/Type /XObject /Subtype /Form /BBox [0 0 %.2f %.2f] /Resources %s "
                                  % (x1 - x0 + 61, y1 - y0 + 2, font)),
        annot: b"<< /Type /Annot /Subtype /FreeText /Rect [%s] /Contents (ANNOT-PASS) /DA (/Helv 7 Tf 0 g) "
               b"/F 4 /AP << /N %d 0 R >> >>" % (rect, appearance),
        number: page_body.replace("/Type /Page", f"/Annots [ {annot} 0 R ] /Type /Page").encode("latin-1"),
    }  # fmt: skip
    forged = append_update(genuine.pdf, objects)
    assert forged.startswith(genuine.pdf)
    with pikepdf.open(io.BytesIO(forged)) as doc:  # qpdf (and poppler) read the update
        assert doc.pages[0].obj.Annots[0].Subtype == Name.FreeText
    codes = failing(verify(runtime, forged))
    assert codes == {
        "PdfRevisions": "PDF_INCREMENTAL_UPDATE",
        "PdfActiveContent": "PDF_ACTIVE_CONTENT",
        "PageContent": "PAGE_DIGEST_MISMATCH",
    }


def test_an_incremental_update_adding_anything_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    """A second revision is refused for what it is, whatever it changes: here a new content stream the page
    does not (yet) use, which no other check sees."""
    runtime, _, _ = world
    with pikepdf.open(io.BytesIO(genuine.pdf)) as doc:
        size = int(doc.trailer.Size)
    forged = append_update(genuine.pdf, {size: stream_object(b"BT /F1 9 Tf 40 40 Td (PASS) Tj ET")})
    assert failing(verify(runtime, forged)) == {"PdfRevisions": "PDF_INCREMENTAL_UPDATE"}
    trailing = genuine.pdf + b"\n9999 0 obj\n(appended after %%EOF, no cross-reference)\nendobj\n"
    assert failing(verify(runtime, trailing)) == {"PdfRevisions": "PDF_INCREMENTAL_UPDATE"}
    assert failing(verify(runtime, genuine.pdf + b"\r\n  \n")) == {}  # trailing whitespace is no revision


def _open_action(doc: pikepdf.Pdf) -> None:
    doc.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=String("app.alert('This certificate is VALID')"))


def _javascript(doc: pikepdf.Pdf) -> None:
    js = doc.make_indirect(Dictionary(S=Name.JavaScript, JS=String("this.print()")))
    doc.Root.Names.JavaScript = Dictionary(Names=Array([String("run"), js]))


def _acroform(doc: pikepdf.Pdf) -> None:
    doc.Root.AcroForm = Dictionary(Fields=Array(), NeedAppearances=True)


def _optional_content(doc: pikepdf.Pdf) -> None:
    group = doc.make_indirect(Dictionary(Type=Name.OCG, Name=String("original results")))
    doc.Root.OCProperties = Dictionary(OCGs=Array([group]), D=Dictionary(OFF=Array([group])))


def _second_file(doc: pikepdf.Pdf) -> None:
    doc.attachments["certificate.pdf"] = pikepdf.AttachedFileSpec(doc, b"%PDF-1.7 the 'real' certificate")


def _page_action(doc: pikepdf.Pdf) -> None:
    doc.pages[0].obj.AA = Dictionary(O=Dictionary(S=Name.JavaScript, JS=String("app.alert('VALID')")))


def _bookmark_script(doc: pikepdf.Pdf) -> None:
    doc.Root.Outlines.First.A = Dictionary(S=Name.JavaScript, JS=String("app.alert('VALID')"))


@pytest.mark.parametrize(
    ("edit", "also"),
    [
        (_open_action, {}),
        (_javascript, {}),
        (_acroform, {}),
        (_optional_content, {}),
        (_second_file, {}),
        (_page_action, {"PageContent": "PAGE_DIGEST_MISMATCH"}),
        (_bookmark_script, {"PageContent": "PAGE_DIGEST_MISMATCH"}),
    ],
)
def test_document_entries_that_can_change_what_is_shown_are_invalid(
    world: tuple[Runtime, Demo, list[str]],
    genuine: certificates.Issued,
    edit: Callable[[pikepdf.Pdf], None],
    also: dict[str, str],
) -> None:
    runtime, _, _ = world
    codes = failing(verify(runtime, edited(genuine.pdf, edit)))
    assert codes == {"PdfActiveContent": "PDF_ACTIVE_CONTENT", **also}


# ---------------------------------------------------------------- the anchor and the record


def forge(
    runtime: Runtime,
    cred: dict[str, Any],
    record: dict[str, Any],
    anchor: Callable[[list[bytes]], Any],
    shown: dict[str, Any] | None = None,
) -> bytes:
    """A certificate built with the library's own pieces: the page rendered (from `shown`, else `cred`), the
    leaf of `cred` and that page and the template digest anchored by `anchor`, the attachment embedded. The
    credential is signed with the keys of the member its issuer DID names, and carries that member's genuine
    binding: what any member can make for itself (CredentialProof then holds; the other checks must catch it)."""
    member = vc.member_of_did(cred["issuer"]["id"])
    assert member is not None
    binding = certificates.issuer_binding(runtime.service, runtime.keys, member, VERIFY)
    cred = vc.sign(cred, certificates.issuer_keys(runtime.keys, member), binding["did"], "2026-01-01T00:00:00Z")
    draft = {"format": certificates.FORMAT, "credential": cred, "record": record, "issuerBinding": binding}
    pdf = certificates.render_pdf({**draft, "credential": shown or cred}, LANGS)
    with certificate_pdf.open_pdf(pdf) as doc:
        page = certificate_pdf.page_digest(doc)
    leaves = [certificates.certificate_leaf(sm3(canonical_json(cred)), page), certificates.template_digest()]
    receipt = anchor(leaves)
    proofs = merkle.proofs(leaves)
    proof = {"root": merkle.root(leaves).hex(), "leafIndex": 0, "proof": [p.hex() for p in proofs[0]],
             "templateProof": [p.hex() for p in proofs[1]], "pageSm3": page.hex(),
             "txHash": "0x" + receipt.tx_hash.hex(), "blockNumber": receipt.block_number}  # fmt: skip
    return certificates.finalize_pdf(pdf, {**draft, "anchor": proof})


def test_a_credential_another_member_anchored_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    """The calibration lab, a member, names itself issuer of an altered credential for the test lab's record,
    anchors the record id under a root of its own (so the status reads Anchored under its account) and the
    certificate leaves under the certificate schema, all with raw anchorRoot transactions."""
    runtime, _, _ = world
    chain, hostile = runtime.service.chain, runtime.service.accounts[CAL]
    cred = copy.deepcopy(genuine.embedded["credential"])
    cred["credentialSubject"]["assessment"]["results"]["replicates"] = 5
    cred["issuer"] = {"id": vc.did_web(VERIFY, CAL), "name": cred["issuer"]["name"],
                      "address": cred["issuer"]["address"], "accreditation": None}  # fmt: skip
    ids = [bytes.fromhex(genuine.record_id), os.urandom(32)]
    own = chain.anchor_root(hostile, ids, schema_key("xrf_analysis", "1"))
    cred["chainAnchor"].update(
        merkleRoot=own.root.hex(), merkleProof=[p.hex() for p in merkle.proof(ids, 0)],
        txHash="0x" + own.tx_hash.hex(), blockNumber=own.block_number,
    )  # fmt: skip
    forged = forge(
        runtime, cred, genuine.embedded["record"], lambda leaves: chain.anchor_root(hostile, leaves, CERT_SCHEMA)
    )
    assert failing(verify(runtime, forged)) == {"CertificateRecord": "ISSUER_MISMATCH"}


CERT_SCHEMA = schema_key("certificate", "1")


def test_a_certificate_root_its_issuer_anchored_as_another_kind_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    """The genuine credential with a page showing other results, bound to it in a leaf the lab's key anchored as
    something else (here a model card: what a lab anchors for whoever hands it a digest)."""
    runtime, _, _ = world
    chain, lab = runtime.service.chain, runtime.service.accounts[LAB]
    shown = copy.deepcopy(genuine.embedded["credential"])
    results = shown["credentialSubject"]["assessment"]["results"]
    shown["credentialSubject"]["assessment"]["results"] = {"verdict": "PASS-FORGED", **results}  # shown first
    forged = forge(
        runtime,
        genuine.embedded["credential"],
        genuine.embedded["record"],
        lambda leaves: chain.anchor_root(lab, leaves, schema_key("model_card", "1")),
        shown=shown,
    )
    assert "PASS-FORGED" in text_of(forged)
    assert failing(verify(runtime, forged)) == {"CertificateAnchor": "CERTIFICATE_SCHEMA_MISMATCH"}


def test_a_credential_its_record_does_not_back_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    """The lab itself anchors, as a certificate, a credential whose results are not its record's; or carries a
    record edited to match."""
    runtime, _, _ = world
    service = runtime.service

    def as_certificate(leaves: list[bytes]) -> Any:
        return service.anchor_digests(member=LAB, digests=leaves, kind="certificate")

    cred = copy.deepcopy(genuine.embedded["credential"])
    cred["credentialSubject"]["assessment"]["results"]["replicates"] = 30
    cred["evidence"][0]["operator"] = "op-someone-else"
    forged = forge(runtime, cred, genuine.embedded["record"], as_certificate)
    fragments = verify(runtime, forged)
    assert failing(fragments) == {"CertificateRecord": "CREDENTIAL_RECORD_MISMATCH"}
    assert fragments["CertificateRecord"].data["members"] == ["credentialSubject", "evidence"]

    cred = copy.deepcopy(genuine.embedded["credential"])
    cred["credentialSubject"]["assessment"]["results"]["replicates"] = 31
    record = copy.deepcopy(genuine.embedded["record"])
    record["results"]["replicates"] = 31  # what the credential says, but no longer the record it names
    forged = forge(runtime, cred, record, as_certificate)
    assert failing(verify(runtime, forged)) == {"CertificateRecord": "RECORD_DIGEST_MISMATCH"}


# ---------------------------------------------------------------- malformed input, a dead node


def with_attachment(pdf: bytes, data: bytes) -> bytes:
    def put(doc: pikepdf.Pdf) -> None:
        doc.attachments[certificates.ATTACHMENT] = pikepdf.AttachedFileSpec(doc, data, mime_type="application/json")

    return edited(pdf, put)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def mutate(doc: dict[str, Any]) -> None:
        for key in parents:
            doc = doc[key]
        if value is KeyError:
            del doc[last]
        else:
            doc[last] = value

    return mutate


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("anchor missing", _set("anchor", KeyError)),
    ("anchor a list", _set("anchor", [])),
    ("proof a string", _set("anchor.proof", "abc")),
    ("proof step not hex", _set("anchor.proof", ["zz"])),
    ("txHash a number", _set("anchor.txHash", 12)),
    ("pageSm3 missing", _set("anchor.pageSm3", KeyError)),
    ("leafIndex a boolean", _set("anchor.leafIndex", True)),
    ("extra member", _set("note", "valid")),
    ("record a string", _set("record", "{}")),
    ("issuer a string", _set("credential.issuer", "LAB-SZ")),
    ("issuer id missing", _set("credential.issuer.id", KeyError)),
    ("subject id not a record", _set("credential.credentialSubject.id", "urn:qledger:record:xyz")),
    ("subject null", _set("credential.credentialSubject", None)),
    ("lot a number", _set("credential.credentialSubject.item.lot", 5)),
    ("name entries", _set("credential.name", [{"@value": 1, "@language": "en"}])),
    ("merkleProof an object", _set("credential.chainAnchor.merkleProof", {"a": 1})),
    ("templateSm3 short", _set("credential.templateSm3", "00")),
    ("credential member added", _set("credential.status", "VALID")),
    ("a number canonical JSON refuses", _set("record.results.replicates", 10**30)),
]


@pytest.mark.parametrize(("what", "mutate"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_credential_is_invalid_not_an_exception(
    world: tuple[Runtime, Demo, list[str]],
    genuine: certificates.Issued,
    what: str,
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    runtime, _, _ = world
    embedded = copy.deepcopy(genuine.embedded)
    mutate(embedded)
    fragments = certificates.verify_pdf(
        runtime.service.chain, with_attachment(genuine.pdf, json.dumps(embedded).encode())
    )
    assert [(f.name, (f.reason or {}).get("code")) for f in fragments] == [
        ("CertificateCredential", "CREDENTIAL_MALFORMED")
    ], what


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b"{" * 100,
        b'{"a": NaN}',
        b"\xff\xfe{}",
        json.dumps({"format": "qledger-certificate/1"}).encode(),
    ],
)
def test_an_attachment_that_is_no_credential_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued, data: bytes
) -> None:
    runtime, _, _ = world
    fragments = certificates.verify_pdf(runtime.service.chain, with_attachment(genuine.pdf, data))
    assert [(f.name, (f.reason or {}).get("code")) for f in fragments] == [("CertificateCredential", "NO_CREDENTIAL")]
    for junk in (b"", b"%PDF-1.7 nonsense", genuine.pdf[: len(genuine.pdf) // 2]):
        [fragment] = certificates.verify_pdf(runtime.service.chain, junk)
        assert (fragment.status, (fragment.reason or {}).get("code")) == (Status.INVALID, "NO_CREDENTIAL")


def test_a_dead_node_gives_error_fragments(genuine: certificates.Issued) -> None:
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    client._chain_id = 31337  # attach without asking the (dead) node
    client.attach(Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 0))
    fragments = {f.name: f for f in certificates.verify_pdf(client, genuine.pdf)}
    # IssuerStanding is the certified record's check (verify(): the test below), not one of verify_pdf's.
    on_chain = {"CertificateAnchor", "CertificateTemplate", "CredentialProof", "RecordStatus"}
    for name in on_chain:
        assert fragments[name].status is Status.ERROR, name
        assert (fragments[name].reason or {}).get("code") == "CHAIN_UNAVAILABLE", name
    assert failing(fragments).keys() == on_chain
    assert not certificates.is_valid(list(fragments.values()))


def test_a_dead_node_gives_error_fragments_through_the_one_entry_point(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    """Issue 13, property 8: `verification.verify` of a certificate PDF (as the CLI and the API call it) with a
    dead node: every check that reads the chain is ERROR CHAIN_UNAVAILABLE, none raises, none is INVALID."""
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.verification import CertificateTarget, Context, passes
    from ledger_service.verification import verify as verify_target

    deployment = world[0].service.chain.deployment
    assert deployment is not None
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=1)
    client._chain_id = deployment.chain_id  # attach without asking the (dead) node
    client.attach(deployment)
    target = CertificateTarget(genuine.pdf)
    fragments = verify_target(target, Context(ChainReader(client), deployment))
    assert all(f.status is not Status.INVALID for f in fragments), [f.to_json() for f in fragments]
    errors = {f.name for f in fragments if f.status is Status.ERROR}
    # ... and the record checks over the certified record (tests/verification/test_attacks_certificates.py).
    assert errors == {"CertificateAnchor", "CertificateTemplate", "CredentialProof", "RecordStatus", "ChainAnchor",
                      "CalibrationValidity", "IssuerStanding"}  # fmt: skip
    assert all((f.reason or {}).get("code") == "CHAIN_UNAVAILABLE" for f in fragments if f.name in errors)
    assert {f.name for f in fragments} >= {"CertificateContracts", "CertificateCredential", "PageContent"}
    assert not passes(target, fragments)


# ---------------------------------------------------------------- genuine certificates


def test_genuine_certificates_verify_in_every_language_and_after_a_rewrite(
    world: tuple[Runtime, Demo, list[str]],
) -> None:
    runtime, _, ids = world
    others = [lang for lang in i18n.LANGUAGES if lang != "en"]
    assert len(others) == 10
    langs = [["en", lang] for lang in others]
    issued = certificates.issue(runtime.service, ids[1:11], langs, VERIFY, workers=2, keys=runtime.keys)
    for cert, lang in zip(issued, others, strict=True):
        fragments = verify(runtime, cert.pdf)
        assert failing(fragments) == {}, (lang, failing(fragments))
        assert certificates.is_valid(list(fragments.values()))
        # PDF/A-3b's associated file: the catalog's /AF entry is the embedded file, its size and MD5 current.
        with pikepdf.open(io.BytesIO(cert.pdf)) as doc:
            spec = doc.attachments[certificates.ATTACHMENT].obj
            assert doc.Root.AF[0].objgen == spec.objgen and spec.AFRelationship == Name.Data
            data = spec.EF.F.read_bytes()
            assert int(spec.EF.F.Params.Size) == len(data)
            assert bytes(spec.EF.F.Params.CheckSum) == hashlib.md5(data, usedforsecurity=False).digest()
            assert (doc.open_metadata().get("pdfaid:part"), doc.open_metadata().get("pdfaid:conformance")) == ("3", "B")
        assert json.loads(data) == json.loads(json.dumps(cert.embedded))
    # Rewritten by another tool (objects renumbered, streams recompressed), the same pages verify the same.
    pikepdf.settings.set_flate_compression_level(1)
    try:
        rewritten = edited(
            issued[0].pdf, lambda doc: None, object_stream_mode=pikepdf.ObjectStreamMode.disable, recompress_flate=True
        )
    finally:
        pikepdf.settings.set_flate_compression_level(-1)
    assert rewritten != issued[0].pdf
    with pikepdf.open(io.BytesIO(issued[0].pdf)) as a, pikepdf.open(io.BytesIO(rewritten)) as b:
        assert certificate_pdf.page_digest(a) == certificate_pdf.page_digest(b)
    assert failing(verify(runtime, rewritten)) == {}


def test_a_template_proof_that_does_not_reach_the_root_is_invalid(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    runtime, _, _ = world
    embedded = copy.deepcopy(genuine.embedded)
    embedded["anchor"]["templateProof"] = [os.urandom(32).hex() for _ in embedded["anchor"]["templateProof"]]
    forged = certificates.finalize_pdf(genuine.pdf, embedded)
    assert failing(verify(runtime, forged)) == {"CertificateTemplate": "TEMPLATE_NOT_ANCHORED"}


def test_a_page_stream_that_does_not_decode_is_damaged_not_an_exception(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    runtime, _, _ = world

    def corrupt(doc: pikepdf.Pdf) -> None:
        contents = doc.pages[0].obj.Contents
        stream = contents[0] if isinstance(contents, Array) else contents
        stream.write(b"\x78\x9c not deflate at all", filter=Name.FlateDecode)

    fragments = verify(runtime, edited(genuine.pdf, corrupt))
    assert failing(fragments).get("PageContent") == "PDF_DAMAGED"
    assert all(f.status is not Status.ERROR for f in fragments.values())


def test_without_a_text_extractor_the_visible_text_check_cannot_tell(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _, _ = world
    monkeypatch.setattr(certificates.shutil, "which", lambda _: None)
    monkeypatch.setattr(certificates, "_pdfium_text", lambda _: None)  # neither pypdfium2 nor poppler
    fragments = verify(runtime, genuine.pdf)
    assert failing(fragments) == {"VisibleText": "NO_TEXT_EXTRACTOR"}
    assert fragments["VisibleText"].status is Status.ERROR and not certificates.is_valid(list(fragments.values()))


def test_a_record_certified_again_gets_a_second_valid_certificate(
    world: tuple[Runtime, Demo, list[str]], genuine: certificates.Issued
) -> None:
    """The same record, the same languages: the same credential and pages, yet another root (an issue's own
    leaf), so re-issuing is not refused by the ledger (QualityLedgerRootExists) and both verify."""
    runtime, _, ids = world
    [again] = certificates.issue(runtime.service, [ids[0]], LANGS, VERIFY, keys=runtime.keys)
    assert again.embedded["anchor"]["root"] != genuine.embedded["anchor"]["root"]
    unsigned = [{k: v for k, v in c.embedded["credential"].items() if k != "proof"} for c in (again, genuine)]
    assert unsigned[0] == unsigned[1]  # the same claims; a proof of its own (its time, SM2's fresh nonce)
    assert failing(verify(runtime, again.pdf)) == {} and failing(verify(runtime, genuine.pdf)) == {}
