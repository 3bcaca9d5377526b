"""Attack on Sm3AttachmentHash (issue 13, property 7: bundles with their content): a verifier that fetches an
attachment by CID (`qledger verify bundle.json --ipfs URL`, or its own store) from an IPFS node that answers
other bytes for that CID (a hostile or broken member's node) got INVALID ATTACHMENT_DIGEST_MISMATCH: "the
evidence says no" for a true record. Bytes that are not the CID asked for are not the record's content: the
check cannot tell (ERROR ATTACHMENT_NOT_PROVIDED), as when no node has the content. Failed on main.

A unit test of the check: the hostile node is an embedded store that serves other bytes under a CID (the
cluster store's own refusal of such bytes is tested on real Kubo nodes in tests/network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from ledger_service.digests import digest_bytes
from ledger_service.store import EmbeddedStore, cid_of_bytes
from ledger_service.verification import Context, Evidence, RecordTarget, Status
from ledger_service.verification.checks import attachment_hashes

IMAGE = b"\x89PNG\r\n\x1a\n the EL image the record declares"


class LyingStore(EmbeddedStore):
    """A node that holds the CID but answers other bytes for it."""

    def get(self, cid: str) -> bytes:
        return b"\x89PNG\r\n\x1a\n another image"


def _target(content: dict[str, bytes] | None = None) -> RecordTarget:
    d = digest_bytes(IMAGE)
    declared = {"name": "el.png", "cid": cid_of_bytes(IMAGE), "sm3": d.sm3_hex, "sha256": d.sha256_hex}
    record = {"attachments": [declared], "confidentiality": "public"}
    return RecordTarget(Evidence(record, "00" * 32, None, content or {}))


def _check(target: RecordTarget, store: EmbeddedStore) -> tuple[Status, Any]:
    fragment = attachment_hashes.verify(target, Context(cast(Any, None), None, store))
    return fragment.status, (fragment.reason or {}).get("code")


def test_other_bytes_from_a_store_leave_the_content_unchecked_not_invalid(tmp_path: Path) -> None:
    honest, lying = EmbeddedStore(tmp_path / "honest"), LyingStore(tmp_path / "lying")
    assert honest.put(IMAGE) == lying.put(IMAGE) == cid_of_bytes(IMAGE)
    assert _check(_target(), honest) == (Status.VALID, None)
    assert _check(_target(), lying) == (Status.ERROR, "ATTACHMENT_NOT_PROVIDED")
    # Content the verifier was given is still judged by its digests: other bytes given are INVALID.
    assert _check(_target({"el.png": b"other bytes"}), honest) == (Status.INVALID, "ATTACHMENT_DIGEST_MISMATCH")
