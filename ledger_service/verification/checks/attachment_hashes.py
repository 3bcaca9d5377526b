"""Sm3AttachmentHash: every attachment the record declares has the content its SM3 and SHA-256 name.

Content comes from what the verifier was given (files, or a bundle that carries it) or from the content store
by CID (bytes a store answers that are not the CID asked for count as not given). Declared content that was
not checked is not a pass: the fragment is ERROR (ATTACHMENT_NOT_PROVIDED, "could not tell") unless the user
asked to skip content (docs/architecture.md section 7)."""

from __future__ import annotations

from ledger_service.digests import digest_bytes
from ledger_service.store.cid import cid_of_bytes
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "Sm3AttachmentHash"


def verify(target: RecordTarget, context: Context) -> Fragment:
    ev = target.evidence
    declared = list(ev.record.get("attachments", []))
    if not declared:
        return not_valid(NAME, "integrity", Status.SKIPPED, Reason.NO_ATTACHMENTS, "the record has no attachments")
    if context.skip_content:
        names = ", ".join(str(a.get("name")) for a in declared)
        return not_valid(
            NAME, "integrity", Status.SKIPPED, Reason.CONTENT_SKIPPED, f"content not checked, as asked: {names}"
        )
    checked = []
    for a in declared:
        content = ev.attachment_content.get(a["name"])
        if content is None and ev.record.get("confidentiality") == "confidential":
            return not_valid(
                NAME,
                "integrity",
                Status.SKIPPED,
                Reason.CONFIDENTIAL,
                f"{a['name']}: stored encrypted; give the decrypted content to check it",
            )
        store, fetched = context.store, False
        if content is None and store is not None and a.get("cid"):
            content = store.get(a["cid"]) if store.has(a["cid"]) else None
            fetched = content is not None
        if content is None:
            return not_valid(
                NAME,
                "integrity",
                Status.ERROR,
                Reason.ATTACHMENT_NOT_PROVIDED,
                f"{a['name']}: content not available (give the file, or an IPFS node that has {a.get('cid')})",
                attachment=a["name"],
            )
        d = digest_bytes(content)
        if (d.sm3_hex != a["sm3"] or d.sha256_hex != a["sha256"]) and fetched and cid_of_bytes(content) != a["cid"]:
            # Bytes that are not the CID asked for are not the record's content: a store (a hostile or broken
            # IPFS node given with --ipfs) cannot make a true record fail, only leave it unchecked.
            return not_valid(
                NAME,
                "integrity",
                Status.ERROR,
                Reason.ATTACHMENT_NOT_PROVIDED,
                f"{a['name']}: the store answered bytes that are not {a['cid']}",
                attachment=a["name"],
            )
        if d.sm3_hex != a["sm3"] or d.sha256_hex != a["sha256"]:
            return not_valid(
                NAME,
                "integrity",
                Status.INVALID,
                Reason.ATTACHMENT_DIGEST_MISMATCH,
                f"{a['name']}: content does not match its declared SM3",
                attachment=a["name"],
                computed=d.sm3_hex,
            )
        checked.append(a["name"])
    return valid(NAME, "integrity", attachments=checked)


CHECK = Check(NAME, "integrity", is_record, verify)
