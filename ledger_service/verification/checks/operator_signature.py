"""OperatorSignature: every electronic signature on the record (docs/formats.md section 2.1) is the SM2
signature of a person the record's lab enrolled, over this record, with the meaning and time it states, and
made while their key was in force (a confidential record's signers sign its attachments' plaintext digests: a
decrypted attachment given to the verifier must be that plaintext). VALID or INVALID for a signed record;
SKIPPED (OPERATOR_NOT_SIGNED) only for a record that carries no signature at all.

The enrolment and the withdrawal of a key are digests the lab anchored under its own chain account, found
through the consortium registry: a key the lab never enrolled (a wrong key) or a key another member enrolled
does not count. A signature dated at or after the withdrawal is INVALID (SIGNED_AFTER_WITHDRAWAL); so is one on a
record anchored at or after the withdrawal, whatever date it states (SIGNER_WITHDRAWN: a withdrawn person's key
could backdate); so is one by a key enrolled only after the record was anchored (SIGNER_NOT_ENROLLED)."""

from __future__ import annotations

from ledger_service import signatures
from ledger_service.chain.web3_client import ChainReader
from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_record, lab_account
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "OperatorSignature"


def _bad(code: Reason, message: str, **found: object) -> Fragment:
    return not_valid(NAME, "operator", Status.INVALID, code, message, **found)


def _record_anchored_at(target: RecordTarget, chain: ChainReader, lab: str) -> int:
    """When the record's lab anchored it (Unix time), 0 when unknown."""
    a = target.evidence.anchor
    if a is None:
        return 0
    if a.root:
        return int(chain.root_of(bytes.fromhex(a.root), lab)["anchored_at"])
    return int(chain.record_of(bytes.fromhex(target.evidence.record_id), lab)["anchored_at"])


def verify(target: RecordTarget, context: Context) -> Fragment:
    record = target.evidence.record
    entries = record.get("signatures")
    if not entries:
        if record.get("operator", {}).get("signature") or record.get("authorized_by", {}).get("signature"):
            return _bad(Reason.SIGNATURE_MALFORMED, "a free-text signature field is not an electronic signature")
        return not_valid(
            NAME, "operator", Status.SKIPPED, Reason.OPERATOR_NOT_SIGNED, "the record carries no signature"
        )
    if not isinstance(entries, list):
        return _bad(Reason.SIGNATURE_MALFORMED, "signatures is not a list")
    chain = context.chain
    lab_id = str(record.get("lab", {}).get("member_id", ""))
    lab = lab_account(target.evidence, chain)
    if lab is None:
        return _bad(Reason.SIGNER_NOT_ENROLLED, "the record's lab is not a member: nobody of it is enrolled")
    anchored_at: int | None = None
    signed = []
    queries = []  # every enrolment and withdrawal this record's signatures need, read in one batch
    for entry in entries:
        try:
            s = signatures.parse(entry)
        except ValueError:
            continue
        queries += [(root, lab) for root in signatures.standing_roots(lab_id, s.signer, s.public_key.to_bytes())]
    chain.prefetch_roots(queries)
    for i, entry in enumerate(entries):
        try:
            s = signatures.parse(entry)
        except ValueError as error:
            return _bad(Reason.SIGNATURE_MALFORMED, f"signatures[{i}]: {error}", index=i)
        expected = signatures.expected_signer(record, s.meaning)
        if expected is not None and s.signer != expected:
            return _bad(
                Reason.SIGNER_MISMATCH, f"signatures[{i}] says {s.signer} {s.meaning} it; the record names {expected}",
                index=i,
            )  # fmt: skip
        if not signatures.holds(record, s):
            return _bad(Reason.SIGNATURE_INVALID, f"signatures[{i}] ({s.signer}) does not sign this record", index=i)
        enrolment, withdrawal = signatures.standing_roots(lab_id, s.signer, s.public_key.to_bytes())
        enrolled = chain.root_of(enrolment, lab)
        if int(enrolled["anchored_at"]) == 0:
            return _bad(
                Reason.SIGNER_NOT_ENROLLED, f"signatures[{i}]: {lab_id} never enrolled this key of {s.signer}", index=i
            )
        if anchored_at is None:
            anchored_at = _record_anchored_at(target, chain, lab)
        if anchored_at and int(enrolled["anchored_at"]) > anchored_at:
            # A key enrolled only after the record was anchored did not sign it as an enrolled person's: else
            # an impostor's (or a leaked) key made good after the fact, a withdrawal's mirror image.
            return _bad(
                Reason.SIGNER_NOT_ENROLLED,
                f"signatures[{i}]: {lab_id} enrolled this key of {s.signer} after the record was anchored",
                index=i, enrolled_at=int(enrolled["anchored_at"]), anchored_at=anchored_at,
            )  # fmt: skip
        withdrawn = chain.root_of(withdrawal, lab)
        withdrawn_at = int(withdrawn["anchored_at"])
        if withdrawn_at:
            if s.signed_at.timestamp() >= withdrawn_at:
                return _bad(
                    Reason.SIGNED_AFTER_WITHDRAWAL,
                    f"signatures[{i}] ({s.signer}) is dated after the key's withdrawal", index=i,
                    withdrawn_at=withdrawn_at,
                )  # fmt: skip
            if anchored_at >= withdrawn_at:
                return _bad(
                    Reason.SIGNER_WITHDRAWN,
                    f"signatures[{i}] ({s.signer}): the record was anchored after the key's withdrawal", index=i,
                    withdrawn_at=withdrawn_at,
                )  # fmt: skip
        signed.append({"signer": s.signer, "meaning": s.meaning, "signed_at": s.entry["signed_at"]})
    # A confidential record's signers signed its attachments' plaintext digests, not the ciphertext's CID
    # (signatures.signed_form): where the verifier holds the decrypted content (a regulator in a recall), it
    # must be that plaintext, or what they signed is not what the ledger holds (a swapped ciphertext).
    swapped = signatures.unsigned_content(record, target.evidence.attachment_content)
    if swapped:
        return _bad(
            Reason.SIGNATURE_INVALID,
            f"the decrypted content of {', '.join(swapped)} is not the plaintext its signers signed",
            attachments=swapped,
        )
    if record.get("confidentiality") == "confidential":  # which decrypted attachments were held to the signature
        given = target.evidence.attachment_content
        opened = [str(a["name"]) for a in record.get("attachments") or [] if a.get("name") in given]
        return valid(NAME, "operator", signatures=signed, plaintext_checked=opened)
    return valid(NAME, "operator", signatures=signed)


CHECK = Check(NAME, "operator", is_record, verify)
