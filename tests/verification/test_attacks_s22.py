"""Attacks on the signed form of confidential records (docs/formats.md section 2.1): a confidential record's
signers sign its attachments' plaintext digests, not the ciphertext's CID. Each test is an attack by a hostile
member (who crafts records and runs a modified service), a forger, or a copier of signatures, and asserts the
safe behaviour: what a signature holds for is exactly what its signer signed, the CID aside and nothing more."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger_service import signatures
from ledger_service.canonical import canonical_json
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.crypto import sm2
from ledger_service.demo import Demo
from ledger_service.digests import digest_bytes, sm3
from ledger_service.index import crud
from ledger_service.records import RecordInvalid
from ledger_service.records.validate import normalised_record
from ledger_service.runtime import Runtime
from ledger_service.service import AttachmentFile
from ledger_service.verification import record_context
from ledger_service.verification.checks import operator_signature
from ledger_service.verification.fragment import Status
from ledger_service.verification.target import Evidence, RecordTarget
from tests.utils.records import valid_raw
from tests.utils.verifying import calibrated_consortium, record_id

PLAIN_A = b"\x89PNG plaintext the operator looked at"
PLAIN_B = b"\x89PNG another image entirely"
KEY = sm2.PrivateKey.generate()


def _entry(name: str, content: bytes, cid: str | None = None) -> dict[str, Any]:
    d = digest_bytes(content)
    entry: dict[str, Any] = {"name": name, "media_type": "image/png", "size": d.size, "sm3": d.sm3_hex}
    entry["sha256"] = d.sha256_hex
    return entry | ({"cid": cid} if cid else {})


def _record(confidentiality: str, attachments: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    _, doc = normalised_record(valid_raw("el_image", attachments=attachments, confidentiality=confidentiality))
    return {**doc, **overrides}


def _signed(record: dict[str, Any]) -> dict[str, Any]:
    return signatures.sign(record, signer=str(record["operator"]["id"]), meaning="performed", key=KEY)


def _holds(record: dict[str, Any]) -> bool:
    return all(signatures.holds(record, signatures.parse(e)) for e in record["signatures"])


def _rid(record: dict[str, Any]) -> str:
    return sm3(canonical_json(record)).hex()


def test_a_confidential_records_signature_holds_whatever_ciphertext_cid_but_not_the_same_record_id() -> None:
    """The one freedom the signed form leaves: the CID. Swapping one record's ciphertext CID into another (or
    dropping it) keeps the signature, but the record id moves with it, so the anchored record is not it."""
    signed = _signed(_record("confidential", [_entry("cell.png", PLAIN_A, "bafy-ciphertext-of-record-1")]))
    assert _holds(signed)
    for cid in ("bafy-ciphertext-of-record-2", None):
        swapped = copy.deepcopy(signed)
        if cid is None:
            del swapped["attachments"][0]["cid"]
        else:
            swapped["attachments"][0]["cid"] = cid
        assert _holds(swapped)
        assert _rid(swapped) != _rid(signed)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("sm3", digest_bytes(PLAIN_B).sm3_hex),
        ("sha256", digest_bytes(PLAIN_B).sha256_hex),
        ("size", 1),
        ("name", "other.png"),
        ("media_type", "image/jpeg"),
        ("sm3", None),
        ("sha256", None),
        ("size", None),
    ],
)
def test_a_confidential_attachments_plaintext_members_are_signed(member: str, value: Any) -> None:
    """Another plaintext's `sm3`, `sha256` or `size`, another name or type, or a member dropped (None): the
    signature no longer holds (they are the whole binding of the plaintext when the CID is not signed)."""
    signed = _signed(_record("confidential", [_entry("cell.png", PLAIN_A, "bafy-c1")]))
    altered = copy.deepcopy(signed)
    if value is None:
        del altered["attachments"][0][member]
    else:
        altered["attachments"][0][member] = value
    assert not _holds(altered)


def test_confidentiality_cannot_be_toggled_after_signing() -> None:
    """A public record's signature (over its CIDs) does not hold once it says confidential (which would drop
    the CIDs from what is checked), with or without its CIDs; nor a confidential one's once it says public."""
    public = _signed(_record("public", [_entry("cell.png", PLAIN_A, "bafy-plain")]))
    assert _holds(public)
    as_confidential = {**copy.deepcopy(public), "confidentiality": "confidential"}
    assert not _holds(as_confidential)
    as_confidential["attachments"][0]["cid"] = "bafy-another"
    assert not _holds(as_confidential)
    confidential = _signed(_record("confidential", [_entry("cell.png", PLAIN_A)]))
    assert not _holds({**copy.deepcopy(confidential), "confidentiality": "public"})


def test_a_public_records_cid_stays_signed() -> None:
    """A public record is signed as before: its CIDs are part of what is signed."""
    public = _signed(_record("public", [_entry("cell.png", PLAIN_A, "bafy-plain")]))
    other = copy.deepcopy(public)
    other["attachments"][0]["cid"] = "bafy-another"
    assert not _holds(other)
    del other["attachments"][0]["cid"]
    assert not _holds(other)


def test_attachments_cannot_be_added_repeated_dropped_or_reordered() -> None:
    """The list of entries is signed (only the CID of each is left out): naming an attachment twice, adding one
    with another's digests, dropping one or swapping their order breaks the signature."""
    two = [_entry("a.png", PLAIN_A, "bafy-1"), _entry("b.png", PLAIN_B, "bafy-2")]
    signed = _signed(_record("confidential", two))
    assert _holds(signed)
    for attachments in (
        [*two, _entry("a.png", PLAIN_A, "bafy-3")],  # a.png named twice
        [two[0], two[0]],  # b.png replaced by a second a.png
        [two[0]],
        [two[1], two[0]],
    ):
        assert not _holds({**copy.deepcopy(signed), "attachments": attachments})


def test_a_signature_copied_into_another_record_does_not_hold() -> None:
    """One record's signature entry copied into another record of the same lab (other results, other
    attachments), or the same record of another lab: it signs the first record's digest and lab alone."""
    signed = _signed(_record("confidential", [_entry("cell.png", PLAIN_A, "bafy-c1")]))
    other = _record("confidential", [_entry("cell.png", PLAIN_B, "bafy-c2")])
    assert not _holds({**other, "signatures": signed["signatures"]})
    same_content_other_report = _record("confidential", [_entry("cell.png", PLAIN_A, "bafy-c1")], report_id="R-2")
    assert not _holds({**same_content_other_report, "signatures": signed["signatures"]})
    lab = {**signed["lab"], "member_id": "lab-elsewhere"}
    assert not _holds({**copy.deepcopy(signed), "lab": lab})


def test_decrypted_content_is_held_to_the_signed_plaintext_by_name() -> None:
    """Where a verifier holds decrypted content (a recall), content that is not the plaintext signed is
    named; content of the signed plaintext is not; a public record is not held to it (its CIDs are signed)."""
    record = _record("confidential", [_entry("a.png", PLAIN_A, "bafy-1"), _entry("b.png", PLAIN_B, "bafy-2")])
    assert signatures.unsigned_content(record, {"a.png": PLAIN_A, "b.png": PLAIN_B}) == []
    assert signatures.unsigned_content(record, {"a.png": PLAIN_B, "b.png": PLAIN_B}) == ["a.png"]
    assert signatures.unsigned_content(record, {"a.png": PLAIN_A + b"\0"}) == ["a.png"]
    public = _record("public", [_entry("a.png", PLAIN_A, "bafy-1")])
    assert signatures.unsigned_content(public, {"a.png": PLAIN_B}) == []


# ---------------------------------------------------------------- against the chain: ingest and OperatorSignature


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo]]:
    runtime, demo = calibrated_consortium(Settings(data_dir=tmp_path_factory.mktemp("attacks-s22")))
    demo.configure_escrow()
    demo.enrol_signers()
    yield runtime, demo
    runtime.engine.dispose()


def _twice(world: tuple[Runtime, Demo], i: int) -> tuple[dict[str, Any], list[AttachmentFile]]:
    """A confidential EL image record whose one image is attached twice under one name, signed as the
    service would store it (both entries name the same plaintext)."""
    runtime, demo = world
    raw, files = demo.record("el_image", i)
    raw["confidentiality"] = "confidential"
    files = [files[0], files[0]]
    signed = demo.sign(runtime.service.with_attachments({**raw, "attachments": []}, files))
    assert [a["name"] for a in signed["attachments"]] == [files[0].name] * 2
    return signed, files


def test_a_confidential_record_naming_an_attachment_twice_is_refused_at_ingest(world: tuple[Runtime, Demo]) -> None:
    """Decrypted content is held to the signed plaintext by name (a recall gives one content per name): with
    one name on two entries, the ciphertext of one of them is never held to what was signed (a lab's service
    could store another plaintext under it). Such a record is refused; nothing is stored."""
    runtime, _ = world
    signed, files = _twice(world, 201)
    with pytest.raises(RecordInvalid) as refused:
        runtime.service.submit(signed, files)
    assert [(f.path, str(f.code)) for f in refused.value.faults] == [("attachments[1].name", "INVALID_VALUE")]
    with runtime.service.sessions() as session:
        assert crud.get_record(session=session, record_id=record_id(signed)) is None


def test_one_decrypted_content_does_not_vouch_for_two_entries_of_one_name(world: tuple[Runtime, Demo]) -> None:
    """A record a lab's modified service anchored with one name on two entries: a verifier given the decrypted
    content by name (a recall's) cannot hold each entry's ciphertext to it, so OperatorSignature is not VALID
    (SIGNATURE_INVALID naming the attachment); the same record with the name once is VALID with its content."""
    runtime, _ = world
    signed, files = _twice(world, 202)
    name = files[0].name
    content = files[0].data if files[0].data is not None else Path(str(files[0].path)).read_bytes()
    context = record_context(ChainReader(runtime.service.chain), runtime.service.store)
    doc = {**signed, "attachments": [{**a, "cid": f"bafy-ciphertext-{i}"} for i, a in enumerate(signed["attachments"])]}
    target = RecordTarget(Evidence(doc, record_id(doc), None, {name: content}), "index")
    fragment = operator_signature.verify(target, context)
    assert fragment.status is Status.INVALID, fragment
    assert (
        fragment.reason is not None
        and fragment.reason["code"] == "SIGNATURE_INVALID"
        and fragment.data["attachments"] == [name]
    )
    once, files = _sealed(world, 203)
    doc = {**once, "attachments": [{**a, "cid": "bafy-ciphertext"} for a in once["attachments"]]}
    name = files[0].name
    content = files[0].data if files[0].data is not None else Path(str(files[0].path)).read_bytes()
    fragment = operator_signature.verify(
        RecordTarget(Evidence(doc, record_id(doc), None, {name: content}), "index"), context
    )
    assert fragment.status is Status.VALID and fragment.data["plaintext_checked"] == [name], fragment


def _sealed(world: tuple[Runtime, Demo], i: int) -> tuple[dict[str, Any], list[AttachmentFile]]:
    runtime, demo = world
    raw, files = demo.record("el_image", i)
    raw["confidentiality"] = "confidential"
    return demo.sign(runtime.service.with_attachments(raw, files)), files


def test_one_content_given_for_a_name_on_two_entries_is_not_taken_as_checking_both() -> None:
    """unsigned_content names an attachment that two entries of a confidential record share (the content a
    verifier holds by name cannot be held to each entry's ciphertext), even where it is the plaintext signed."""
    record = _record("confidential", [_entry("a.png", PLAIN_A, "bafy-1"), _entry("a.png", PLAIN_A, "bafy-2")])
    assert signatures.unsigned_content(record, {"a.png": PLAIN_A}) == ["a.png"]
    assert signatures.unsigned_content(record, {}) == []
