"""Attacks on the electronic-signature checks at ingest (docs/formats.md section 2.1, docs/threat-model.md
section 2): every signature a record carries is checked when it is submitted (API `POST /v1/records`, single
and multipart; CLI `qledger ingest`) on the form the ledger stores: the SM2 value, the signer the record names
for the meaning, and the key's standing as the lab anchored it; a refused record leaves nothing in any store.

Each test is an attack by a member who signs raw requests, holds the wrong key, kept a withdrawn one, belongs to
another lab, or can only send HTTP."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import HTTPProvider

from ledger_service import signatures
from ledger_service.config import Settings
from ledger_service.crypto import sm2
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.index import crud
from ledger_service.records import RecordInvalid
from ledger_service.runtime import Runtime
from ledger_service.service import AttachmentFile, Submitted
from ledger_service.store import cid_of_bytes
from ledger_service.verification.fragment import Status
from tests.utils.api import api_keys, demo_app
from tests.utils.verifying import calibrated_consortium, record_id

World = tuple[TestClient, Runtime, Demo, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime, demo = calibrated_consortium(Settings(data_dir=tmp_path_factory.mktemp("ingest-signatures")))
    demo.configure_escrow()
    demo.enrol_signers()
    key = api_keys(runtime, [LAB])[LAB]
    with TestClient(demo_app(runtime, demo)) as client:
        yield client, runtime, demo, key
    runtime.engine.dispose()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _stored(runtime: Runtime, doc: dict[str, Any]) -> bool:
    with runtime.service.sessions() as session:
        return crud.get_record(session=session, record_id=record_id(doc)) is not None


def _refusal(runtime: Runtime, doc: dict[str, Any], files: list[AttachmentFile]) -> list[tuple[str, str]]:
    with pytest.raises(RecordInvalid) as refused:
        runtime.service.submit(doc, files)
    return [(f.path, str(f.code)) for f in refused.value.faults]


def _signed(world: World, kind: str, i: int, meanings: tuple[str, ...] = ("performed",)) -> Any:
    _, runtime, demo, _ = world
    raw, files = demo.record(kind, i)
    return demo.sign(runtime.service.with_attachments(raw, files), meanings), files


def test_key_and_value_encodings_the_sm2_code_would_take_are_refused(world: World) -> None:
    """The SM2 code reads a key as 04||x||y or bare x||y and any hex case, and a value of any 64 bytes: an
    upper-case key, a bare one, a compressed one, an off-curve point, a value of another length, r or s out of
    range, or the (r, n - s) twin of a genuine value must each be refused, and nothing stored."""
    _, runtime, _, _ = world
    signed, files = _signed(world, "xrf_analysis", 101)
    entry = signed["signatures"][0]
    key = bytes.fromhex(entry["public_key"])
    value = base64.b64decode(entry["value"])
    r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
    n = sm2.SM2_CURVE.n
    x, y = key[1:33], key[33:]

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    prefix = "02" if y[-1] % 2 == 0 else "03"
    off_curve = "04" + x.hex() + (int.from_bytes(y, "big") ^ 1).to_bytes(32, "big").hex()
    cases: dict[str, tuple[str, str, str]] = {
        "upper-case hex key": ("public_key", entry["public_key"].upper(), "INVALID_VALUE"),
        "upper-case hex digits only": ("public_key", "04" + entry["public_key"][2:].upper(), "INVALID_VALUE"),
        "bare x||y key": ("public_key", key[1:].hex(), "INVALID_VALUE"),
        "compressed key": ("public_key", prefix + x.hex(), "INVALID_VALUE"),
        "key with a leading zero byte": ("public_key", "00" + entry["public_key"], "INVALID_VALUE"),
        "off-curve key": ("public_key", off_curve, "INVALID_VALUE"),
        "65-byte value": ("value", b64(b"\x00" + value), "INVALID_VALUE"),
        "DER-like value": ("value", b64(b"\x30\x44" + value[:62]), "SIGNATURE_INVALID"),
        "s = n": ("value", b64(value[:32] + n.to_bytes(32, "big")), "SIGNATURE_INVALID"),
        "r = 0": ("value", b64(bytes(32) + value[32:]), "SIGNATURE_INVALID"),
        "(r, n - s)": ("value", b64(value[:32] + (n - s).to_bytes(32, "big")), "SIGNATURE_INVALID"),
        "(n - r, s)": ("value", b64((n - r).to_bytes(32, "big") + value[32:]), "SIGNATURE_INVALID"),
    }
    for case, (field, text, code) in cases.items():
        forged = copy.deepcopy(signed)
        forged["signatures"][0][field] = text
        faults = _refusal(runtime, forged, files)
        assert len(faults) == 1 and faults[0][1] == code, (case, faults)
        assert faults[0][0].startswith("signatures"), (case, faults)
        assert not _stored(runtime, forged), case
    assert runtime.service.submit(signed, files).created  # the genuine one is taken


def test_a_value_with_other_padding_bits_is_not_a_second_signed_record(world: tuple[Any, ...]) -> None:
    """A 64-byte value is 86 base64 digits and `==`: the last digit carries 4 bits nobody reads. Python's
    decoder ignores them, so 15 other spellings of a genuine value decoded to the same r||s and held: anyone who
    saw a signed record could submit it again under another record id (the duplicate check passed), the
    operator's signature holding on a record they never made. Fixed: a value must be its bytes' base64."""
    _, runtime, _, _ = world
    signed, files = _signed(world, "xrf_analysis", 102)
    text = signed["signatures"][0]["value"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    other = alphabet[alphabet.index(text[85]) ^ 1]
    respelt = copy.deepcopy(signed)
    respelt["signatures"][0]["value"] = text[:85] + other + "=="
    assert base64.b64decode(respelt["signatures"][0]["value"]) == base64.b64decode(text)
    assert runtime.service.submit(signed, files).created
    assert _refusal(runtime, respelt, files) == [("signatures[0]", "INVALID_VALUE")]
    assert not _stored(runtime, respelt)


def test_an_approval_by_a_person_another_lab_enrolled_is_refused(world: World) -> None:
    """`approved` is any enrolled person: of the record's lab. A person the calibration lab enrolled (or one it
    enrolled under a name the record's lab uses too) approving the lab's record is SIGNER_NOT_ENROLLED; an
    approval by the lab's own enrolled checker is taken."""
    _, runtime, demo, _ = world
    service = runtime.service
    raw, files = demo.record("xrf_analysis", 103)
    stored = service.with_attachments(raw, files)
    checker = raw["checker_id"]
    signatures.enrol(service, runtime.keys, lab=CAL, signer="cal-approver", actor=CAL)
    signatures.enrol(service, runtime.keys, lab=CAL, signer=checker, actor=CAL)  # the same name, at CAL
    cal_key = runtime.keys.signer(CAL, checker, create=False)
    for person, key in (("cal-approver", runtime.keys.signer(CAL, "cal-approver", create=False)), (checker, cal_key)):
        _, doc = service.record_document(stored)
        forged = signatures.sign(doc, signer=person, meaning="approved", key=key, at=demo.now)
        assert _refusal(runtime, forged, files) == [("signatures[0].public_key", "SIGNER_NOT_ENROLLED")], person
        assert not _stored(runtime, forged)
    genuine = signatures.sign_with(runtime.keys, stored, [(checker, "approved")], at=demo.now)
    assert service.submit(genuine, files).created


def test_a_signature_is_checked_on_the_stored_form_not_the_submitted_one(world: World) -> None:
    """The stored form differs from a submitted file (defaults added, times in UTC, whitespace stripped): a
    signature over the file as sent is refused (it is not over what the ledger keeps, which the record id
    covers), while the file as sent carrying a signature over its stored form is taken, under the id of the
    form checked."""
    _, runtime, demo, _ = world
    service = runtime.service
    raw, files = demo.record("xrf_analysis", 104)
    as_sent = service.with_attachments(raw, files)
    as_sent.pop("links", None)
    as_sent.pop("confidentiality", None)
    as_sent["measured_at"] = as_sent["measured_at"].replace("Z", "+00:00")
    as_sent["title"] = "  " + as_sent["title"] + "  "
    key = runtime.keys.signer(LAB, raw["operator"]["id"], create=False)
    over_sent = signatures.sign(as_sent, signer=raw["operator"]["id"], meaning="performed", key=key, at=demo.now)
    assert _refusal(runtime, over_sent, files) == [("signatures[0].value", "SIGNATURE_INVALID")]
    _, stored = service.record_document(as_sent)
    over_stored = signatures.sign(stored, signer=raw["operator"]["id"], meaning="performed", key=key, at=demo.now)
    sent_with_it = {**as_sent, "signatures": over_stored["signatures"]}
    assert service.check(sent_with_it, files) == record_id(over_stored)
    taken = service.submit(sent_with_it, files)
    assert taken.created and taken.record_id == record_id(over_stored)


def test_one_records_standing_does_not_vouch_for_anothers_value_in_a_batch(world: World) -> None:
    """Within one batch a key's standing is read once (IndexValidationContext): a second record carrying the same
    enrolled key with a value it never made, or the genuine value moved from another record, must still fail
    its SM2 check; submit_many writes nothing, submit_batch takes the genuine one alone."""
    _, runtime, _, _ = world
    service = runtime.service
    genuine, files = _signed(world, "xrf_analysis", 105)
    other, other_files = _signed(world, "xrf_analysis", 106)
    moved = {**other, "signatures": genuine["signatures"]}  # the first record's signature on the second
    with pytest.raises(RecordInvalid) as refused:
        service.submit_many([(genuine, files), (moved, other_files)])
    assert [(f.path, str(f.code)) for f in refused.value.faults] == [("[1].signatures[0].value", "SIGNATURE_INVALID")]
    assert not _stored(runtime, genuine) and not _stored(runtime, moved)
    taken, forged = service.submit_batch([(genuine, files, LAB), (moved, other_files, LAB)])
    assert isinstance(taken, Submitted) and taken.created and isinstance(forged, RecordInvalid)
    assert not _stored(runtime, moved)


def test_over_http_an_altered_signed_record_is_422_and_a_genuine_multipart_record_202(world: World) -> None:
    """A client that can only send HTTP: a signed EL image (multipart, the image resolved to digests and a CID
    by the service) is taken when signed over that stored form; the same record altered after its signing is
    422 problem+json naming the field, and nothing is stored."""
    client, runtime, demo, key = world
    raw, files = demo.record("el_image", 107)
    signed = demo.sign(runtime.service.with_attachments(raw, files), ("performed", "reviewed"))
    moved = copy.deepcopy(signed)  # the record altered after its signing: the lot it speaks of
    moved["subject"]["lot"] = "LOT-OF-ANOTHER-CUSTOMER"

    def post(doc: dict[str, Any]) -> Any:
        parts: list[tuple[str, tuple[str | None, Any, str]]] = [("record", (None, json.dumps(doc), "application/json"))]
        parts += [("attachments", (f.name, f.data, f.media_type)) for f in files]
        return client.post("/v1/records", files=parts, headers=_auth(key))

    refused = post(moved)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    errors = refused.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (f"signatures[{i}].value", "SIGNATURE_INVALID") for i in (0, 1)
    ], errors
    assert not _stored(runtime, moved)
    taken = post(signed)
    assert taken.status_code == 202, taken.text
    assert taken.json()["record_id"] == record_id(signed)


def test_with_the_chain_node_down_a_signed_record_is_503_and_an_unsigned_one_is_taken(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain really unreachable (its provider pointed at a closed port, not a patched standing): the signed
    record is 503 CHAIN_UNAVAILABLE, stored nowhere, not 500 nor a hang; an unsigned record is taken."""
    client, runtime, demo, key = world
    signed, _ = _signed(world, "xrf_analysis", 109)
    unsigned, _ = demo.record("xrf_analysis", 110)
    before, _ = demo.record("xrf_analysis", 111)  # the member's standing and accreditation read (and cached)
    assert client.post("/v1/records", json=before, headers=_auth(key)).status_code == 202
    w3 = runtime.service.chain.w3
    with monkeypatch.context() as patch:
        patch.setattr(w3, "provider", HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 5}))
        down = client.post("/v1/records", json=signed, headers=_auth(key))
        assert down.status_code == 503, down.text
        assert down.json()["code"] == "CHAIN_UNAVAILABLE"
        assert not _stored(runtime, signed)
        taken = client.post("/v1/records", json=unsigned, headers=_auth(key))
        assert taken.status_code == 202, taken.text
    assert client.post("/v1/records", json=signed, headers=_auth(key)).status_code == 202


def test_the_cli_signs_and_ingests_a_record_file_with_an_attachment_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qledger example el_image` writes a record whose image is an attachment entry naming a file beside it,
    the form `qledger ingest` reads. `qledger sign` on that file must sign the form ingest will store (the image
    resolved to its digests and CID; a confidential record's to its digests alone) so that the genuine record is
    taken, signature VALID."""
    from typer.testing import CliRunner

    from ledger_service.cli import app

    data = tmp_path / "data"
    monkeypatch.setenv("QLEDGER_DATA_DIR", str(data))
    monkeypatch.delenv("QLEDGER_CHAIN_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    recs = tmp_path / "recs"
    assert runner.invoke(app, ["example", "el_image", "--out-dir", str(recs)]).exit_code == 0
    (path,) = recs.glob("*.json")
    assert any("file" in a for a in json.loads(path.read_text())["attachments"])
    signed = runner.invoke(app, ["sign", str(path)])
    assert signed.exit_code == 0, signed.output
    # The dry run checks signatures as ingest does: the file altered after signing is refused, naming it.
    altered = path.with_name("altered.json")
    document = json.loads(path.read_text())
    document["subject"]["lot"] = "LOT-ELSEWHERE"
    altered.write_text(json.dumps(document))
    dry = runner.invoke(app, ["ingest", "--dry-run", str(altered)])
    assert dry.exit_code == 1 and f"{altered}: signatures[0].value: SIGNATURE_INVALID - " in dry.stderr, dry.output
    assert runner.invoke(app, ["ingest", "--dry-run", str(path)]).exit_code == 0
    altered.unlink()
    ingested = runner.invoke(app, ["ingest", str(path), "--json"])
    assert ingested.exit_code == 0, ingested.output
    rid = json.loads(ingested.stdout.splitlines()[0])["record_id"]
    state = json.loads(runner.invoke(app, ["status", rid, "--json"]).stdout)
    assert {f["name"]: f["status"] for f in state["fragments"]}["OperatorSignature"] == "VALID"
    # A confidential one: signed over the image's plaintext digests (no CID), ingested with its file, VALID.
    sealed = tmp_path / "sealed"
    made = runner.invoke(app, ["example", "el_image", "--confidential", "--out-dir", str(sealed)])
    assert made.exit_code == 0, made.output
    (path,) = sealed.glob("*.json")
    assert runner.invoke(app, ["sign", str(path)]).exit_code == 0
    entry = next(a for a in json.loads(path.read_text())["attachments"] if "file" in a)
    assert "cid" not in entry and entry["sm3"], entry
    ingested = runner.invoke(app, ["ingest", str(path), "--json"])
    assert ingested.exit_code == 0, ingested.output
    rid = json.loads(ingested.stdout.splitlines()[0])["record_id"]
    state = json.loads(runner.invoke(app, ["status", rid, "--json"]).stdout)
    assert {f["name"]: f["status"] for f in state["fragments"]}["OperatorSignature"] == "VALID", state


def test_a_signed_confidential_record_without_files_is_taken(world: World) -> None:
    """A confidential record is stored sealed; its signature is checked on the plaintext form before sealing:
    a genuine one is taken, an altered one refused."""
    _, runtime, demo, _ = world
    raw, files = demo.record("xrf_analysis", 112)
    assert not files
    signed = demo.sign({**raw, "confidentiality": "confidential"})
    altered = copy.deepcopy(signed)
    altered["subject"]["lot"] = "LOT-ELSEWHERE"
    assert _refusal(runtime, altered, files) == [(f"signatures[{i}].value", "SIGNATURE_INVALID") for i in (0, 1)]
    assert runtime.service.submit(signed, files).created


def _sealed_signed(world: World, i: int, lot: str | None = None) -> tuple[dict[str, Any], list[AttachmentFile]]:
    """A confidential EL image record signed over the form its signers can know (`with_attachments`: the image
    named by its plaintext digests; the ciphertext's CID is made at submission, docs/formats.md section 2.1)."""
    _, runtime, demo, _ = world
    raw, files = demo.record("el_image", i)
    assert files
    raw["confidentiality"] = "confidential"
    if lot is not None:
        raw["subject"]["lot"] = lot
    return demo.sign(runtime.service.with_attachments(raw, files)), files


def _stored_document(runtime: Runtime, rid: str) -> dict[str, Any]:
    with runtime.service.sessions() as session:
        row = crud.get_record(session=session, record_id=rid)
        assert row is not None
        document: dict[str, Any] = json.loads(crud.canonical(session=session, row=row))
    return document


def test_a_signed_confidential_record_with_an_attachment_file_is_taken(world: World) -> None:
    """Its signers sign the image's plaintext digests (no CID: the one stored names ciphertext under a data key
    drawn at submission); the service adds the ciphertext's CID, the signatures hold on the stored form, and the
    anchored record's OperatorSignature is VALID. The record as signed over its plaintext CIDs (the public form)
    names the same content: it holds as well."""
    _, runtime, demo, _ = world
    signed, files = _sealed_signed(world, 113)
    assert all("cid" not in a for a in signed["attachments"]) and signed["attachments"][0]["sm3"]
    taken = runtime.service.submit(signed, files)
    assert taken.created
    stored = _stored_document(runtime, taken.record_id)
    (image,) = stored["attachments"]
    plaintext = files[0].data if files[0].data is not None else Path(str(files[0].path)).read_bytes()
    assert image["cid"] and image["cid"] != cid_of_bytes(plaintext)  # the ciphertext's
    assert b"PNG" not in runtime.service.store.get(image["cid"])[:64]
    assert runtime.service.anchor_pending() >= 1
    fragments = {f.name: f for f in runtime.service.verify(taken.record_id)}
    assert fragments["OperatorSignature"].status is Status.VALID, fragments["OperatorSignature"]
    assert fragments["Sm3AttachmentHash"].reason["code"] == "CONFIDENTIAL"  # not opened: only the owner's index
    raw, files = demo.record("el_image", 114)
    public_form = demo.sign({**runtime.service.with_attachments(raw, files), "confidentiality": "confidential"})
    assert runtime.service.submit(public_form, files).created
    # Over HTTP (multipart, the image a part of its own), as a client that only speaks the API: 202.
    client, key = world[0], world[3]
    signed, files = _sealed_signed(world, 119)
    parts: list[tuple[str, tuple[str | None, Any, str]]] = [("record", (None, json.dumps(signed), "application/json"))]
    parts += [("attachments", (f.name, f.data, f.media_type)) for f in files]
    answer = client.post("/v1/records", files=parts, headers=_auth(key))
    assert answer.status_code == 202, answer.text
    assert _stored_document(runtime, answer.json()["record_id"])["signatures"] == signed["signatures"]


def test_a_confidential_records_signature_fails_for_a_swapped_or_changed_file_or_field(world: World) -> None:
    """Signed over the plaintext digests, a confidential record is refused at ingest when: another file is sent
    under the signed entry (its digest is not the declared one); the entry is rewritten to another file's
    digests (sent with that file); another field is changed; or it is submitted as public (the confidentiality is
    signed, so the CID rule cannot be switched off or on). Nothing is stored."""
    _, runtime, _, _ = world
    signed, files = _sealed_signed(world, 115)
    other = AttachmentFile(files[0].name, files[0].media_type, data=b"\x89PNG another image entirely")
    faults = _refusal(runtime, signed, [other])
    assert faults == [("attachments", "INVALID_VALUE")], faults
    rewritten = copy.deepcopy(signed)
    rewritten["attachments"] = runtime.service.with_attachments({**signed, "attachments": []}, [other])["attachments"]
    assert {code for _, code in _refusal(runtime, rewritten, [other])} == {"SIGNATURE_INVALID"}
    altered = copy.deepcopy(signed)
    altered["subject"]["lot"] = "LOT-ELSEWHERE"
    assert {code for _, code in _refusal(runtime, altered, files)} == {"SIGNATURE_INVALID"}
    public = {**copy.deepcopy(signed), "confidentiality": "public"}
    assert {code for _, code in _refusal(runtime, public, files)} == {"SIGNATURE_INVALID"}
    for doc in (rewritten, altered, public):
        assert not _stored(runtime, doc)


def test_a_swapped_ciphertext_fails_the_signature_and_a_recall_shows_it_valid(world: World) -> None:
    """A regulator who opens a recall decrypts the signed confidential records it covers: the signatures are
    VALID on the decrypted record with its decrypted image (the plaintext its signers signed). A record whose
    attachment CID was swapped for another ciphertext (a lab's modified service anchoring it, or a copy handed
    on) is not the anchored record; where its ciphertext decrypts (the same data key, another plaintext) the
    signature is INVALID for whoever decrypts it, and the image's digest check fails with it; a re-encryption
    of the very plaintext signed is what they signed (the signature holds) but still not what was anchored."""
    from consortium.agent import EscrowAgent
    from consortium.recall import decrypt_recall, open_recall
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.demo import AGENTS, ESCROW_K, REG
    from ledger_service.verification import is_valid, record_context, verify
    from ledger_service.verification.target import load_target

    _, runtime, demo, _ = world
    service = runtime.service
    lot = "LOT-SIGNED-SEALED"
    ids = []
    for i in (117, 118):
        signed, files = _sealed_signed(world, i, lot)
        ids.append(service.submit(signed, files).record_id)
    service.pin_pending()
    service.anchor_pending()
    recall_id = open_recall(service, regulator=REG, kind="lot", scope=lot, reason="hot spots in the field")
    for name in AGENTS[:ESCROW_K]:
        EscrowAgent(service, name, runtime.keys.sm2(name)).run_once()
    unlock = decrypt_recall(service, recall_id=recall_id, regulator=REG, key=runtime.keys.sm2(REG))
    assert set(ids) <= set(unlock.verified), unlock.refused
    genuine, second = (json.loads(unlock.decrypted[r]) for r in ids)
    name = genuine["attachments"][0]["name"]
    image = unlock.attachments[ids[0]][name]
    fragments = {f.name: f for f in service.verify(ids[0], attachment_content={name: image})}
    assert fragments["OperatorSignature"].status is Status.VALID, fragments["OperatorSignature"]
    assert fragments["OperatorSignature"].data["plaintext_checked"] == [name]
    assert fragments["Sm3AttachmentHash"].status is Status.VALID
    assert {s["meaning"] for s in fragments["OperatorSignature"].data["signatures"]} == {"performed", "reviewed"}

    other_image = unlock.attachments[ids[1]][second["attachments"][0]["name"]]
    assert other_image != image
    # Decrypted content that is not the signed plaintext (a swapped ciphertext that opened): INVALID.
    swapped = {f.name: f for f in service.verify(ids[0], attachment_content={name: other_image})}
    assert swapped["OperatorSignature"].status is Status.INVALID
    assert swapped["OperatorSignature"].reason["code"] == "SIGNATURE_INVALID"
    assert swapped["OperatorSignature"].data["attachments"] == [name]
    assert swapped["Sm3AttachmentHash"].reason["code"] == "ATTACHMENT_DIGEST_MISMATCH"

    def check(document: dict[str, Any], content: bytes) -> dict[str, Any]:
        """The record's proof bundle carrying `document` as its record, verified with `content` as its image."""
        bundle = {**service.proof_bundle(ids[0]), "record": document}
        target = load_target(json.dumps(bundle).encode(), {name: content})
        return {f.name: f for f in verify(target, record_context(ChainReader(service.chain), service.store))}

    assert is_valid(list(check(genuine, image).values()))  # the regulator's decrypted record and image
    forged = copy.deepcopy(genuine)
    forged["attachments"][0]["cid"] = second["attachments"][0]["cid"]  # the other record's ciphertext
    opened_other = check(forged, other_image)
    assert opened_other["OperatorSignature"].reason["code"] == "SIGNATURE_INVALID"
    assert opened_other["Sm3RecordHash"].status is Status.INVALID  # and it is not the record anchored
    re_encrypted = check(forged, image)  # the very plaintext signed, under another ciphertext
    assert re_encrypted["OperatorSignature"].status is Status.VALID
    assert re_encrypted["Sm3RecordHash"].status is Status.INVALID and not is_valid(list(re_encrypted.values()))


def test_a_stream_of_fresh_keys_does_not_make_each_verification_build_a_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key seen twice got a precomputed table (about three plain multiplications to build) kept among the
    last 32. At ingest every signature is verified before its key's standing is read, so a member whose records
    carry 12 `approved` signatures each, by 33 or more throwaway keys in turn, had a table built at every
    verification: each cost about four plain ones (15 ms against 4 on this machine), past what the bound of 12
    suggests, and the enrolled keys' tables were pushed out. Fixed (crypto/sm2.py): a missing table is built
    only on a key's 2nd, 4th, 8th... verification."""
    from ledger_service.crypto import sm2 as sm2_module

    curve = sm2.SM2_CURVE
    builds: list[int] = []
    build = sm2_module.Curve._table

    def counted(self: sm2.Curve, x: int, y: int) -> Any:
        builds.append(x)
        return build(self, x, y)

    monkeypatch.setattr(sm2_module.Curve, "_table", counted)
    message = b"qledger-signature/1 statement"
    keys = [sm2.PrivateKey.generate() for _ in range(33)]
    signed = [(k.public_key, k.sign(message)) for k in keys]
    rounds = 8
    for _ in range(rounds):
        for public, value in signed:
            assert public.verify(message, value)
    builds = [x for x in builds if x != curve.gx]
    # Built on every repeat: 33 x 7 = 231; at the 2nd, 4th and 8th sightings only: 33 x 3.
    assert len(builds) <= 3 * len(keys), len(builds)
    # A key verified again and again keeps its table (a hit, not a build, once it is kept).
    public, value = signed[0]
    before = len(builds)
    for _ in range(16):
        assert public.verify(message, value)
    assert len([x for x in builds[before:] if x != curve.gx]) <= 1


def test_a_node_that_answers_an_error_holds_back_the_signed_record_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an unreachable node was ChainUnavailable: a node that answers the standing read with a JSON-RPC
    error (a provider's rate limit, a request timeout inside the node) raised ChainError out of the group
    commit, so every submission written with the signed record failed, none written (the API answered all of
    them 400 REQUEST_REFUSED, a client's fault, for the node's). Fixed
    (service._signer_standing): a standing the chain does not tell is ChainUnavailable for that record alone."""
    from ledger_service.chain.web3_client import Web3ChainClient
    from ledger_service.errors import ChainError, ChainUnavailable

    _, runtime, demo, _ = world
    service = runtime.service
    signed, files = _signed(world, "xrf_analysis", 114)
    unsigned, unsigned_files = demo.record("xrf_analysis", 115)

    def answers_an_error(self: Web3ChainClient, member_id: str) -> str | None:
        raise ChainError("chain call failed: {'code': -32005, 'message': 'rate limit exceeded'}")

    with monkeypatch.context() as patch:
        patch.setattr(Web3ChainClient, "member_account", answers_an_error)
        held, taken = service.submit_batch([(signed, files, LAB), (unsigned, unsigned_files, LAB)])
    assert isinstance(held, ChainUnavailable), held
    assert isinstance(taken, Submitted) and taken.created
    assert not _stored(runtime, signed)
    assert service.submit(signed, files).created


def test_the_same_signature_twice_is_not_a_second_record_of_it(world: World) -> None:
    """The record id covers `signatures`: the lab's record carrying its operator's entry twice (or an empty list
    where an unsigned record has none) hashed to another id, so anyone holding the lab's API key could submit
    a signed record again as a new record, the operator's signature holding on it, without their key; and an
    unsigned record again with `"signatures": []`. Fixed: an entry repeated is INVALID_VALUE (records/validate.py),
    and so is an empty list (records/envelope.py, at least one entry)."""
    _, runtime, demo, _ = world
    signed, files = _signed(world, "xrf_analysis", 116)
    assert runtime.service.submit(signed, files).created
    twice = {**signed, "signatures": signed["signatures"] * 2}
    assert _refusal(runtime, twice, files) == [("signatures[1]", "INVALID_VALUE")]
    assert not _stored(runtime, twice)
    unsigned, unsigned_files = demo.record("xrf_analysis", 117)
    empty = {**unsigned, "signatures": []}
    assert [code for _, code in _refusal(runtime, empty, unsigned_files)] == ["INVALID_VALUE"]


def test_a_record_taken_just_before_its_signers_withdrawal_is_invalid_once_anchored(world: World) -> None:
    """A withdrawal and a submission at the same moment: the standing read at ingest came first, so the record
    is taken; the withdrawal is anchored before the record is. Verification then says SIGNER_WITHDRAWN (a
    withdrawn key could backdate), so the race gives the key's holder nothing that verifies VALID."""
    from ledger_service.verification import is_valid

    _, runtime, demo, _ = world
    service = runtime.service
    raw, files = demo.record("tensile_test", 118)
    person = raw["checker_id"]
    signed = demo.sign(service.with_attachments(raw, files), ("reviewed",))
    taken = service.submit(signed, files)
    assert taken.created
    signatures.withdraw(service, runtime.keys, lab=LAB, signer=person, actor="test", reason="left the lab")
    try:
        assert service.anchor_pending() >= 1
        fragments = service.verify(taken.record_id)
        assert not is_valid(fragments)
        codes = {f.name: (f.reason or {}).get("code") for f in fragments if f.status.value == "INVALID"}
        assert codes == {"OperatorSignature": "SIGNER_WITHDRAWN"}, codes
    finally:
        signatures.enrol(service, runtime.keys, lab=LAB, signer=person, actor="test")  # a new key, for the rest


def test_a_lab_id_spelt_otherwise_borrows_no_enrolment(world: World) -> None:
    """The registry keys members by their id as 32 bytes, NUL-padded: `LAB-SZ\\0` reads LAB-SZ's account. A record
    naming its lab `lab-sz`, `LAB-SZ\\0` or with a Unicode look-alike, signed by LAB-SZ's operator over that lab,
    must find no enrolment (the enrolment digest binds the lab's exact id) and, over HTTP, is not the caller's."""
    client, runtime, demo, key = world
    raw, files = demo.record("xrf_analysis", 119)
    operator = raw["operator"]["id"]
    own_key = runtime.keys.signer(LAB, operator, create=False)
    for spelling in ("lab-sz", LAB + "\x00", LAB.replace("-", "\u2010")):
        _, doc = runtime.service.record_document({**raw, "lab": {**raw["lab"], "member_id": spelling}})
        forged = signatures.sign(doc, signer=operator, meaning="performed", key=own_key, at=demo.now)
        faults = _refusal(runtime, forged, files)
        assert ("signatures[0].public_key", "SIGNER_NOT_ENROLLED") in faults, (spelling, faults)
        assert not _stored(runtime, forged)
        answer = client.post("/v1/records", json=forged, headers=_auth(key))
        assert answer.status_code == 403 and answer.json()["code"] == "WRONG_MEMBER", (spelling, answer.text)


def test_an_enrolled_key_signs_only_for_the_person_it_was_enrolled_for(world: World) -> None:
    """The enrolment binds lab, person and key: the operator's own in-force key used to sign as the checker
    (reviewed) or as another person approving is SIGNER_NOT_ENROLLED, though the SM2 value holds."""
    _, runtime, demo, _ = world
    raw, files = demo.record("xrf_analysis", 120)
    _, doc = runtime.service.record_document(raw)
    operator_key = runtime.keys.signer(LAB, raw["operator"]["id"], create=False)
    for person, meaning in ((raw["checker_id"], "reviewed"), (raw["checker_id"], "approved")):
        forged = signatures.sign(doc, signer=person, meaning=meaning, key=operator_key, at=demo.now)  # type: ignore[arg-type]
        assert _refusal(runtime, forged, files) == [("signatures[0].public_key", "SIGNER_NOT_ENROLLED")], meaning
        assert not _stored(runtime, forged)
