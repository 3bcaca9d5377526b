"""Electronic signatures of the people who make records (21 CFR Part 11 11.50, 11.70, 11.200; docs/formats.md
section 2.1).

Each operator and reviewer is enrolled by their lab: an SM2 key pair is made for them in the key directory
(0600), and the lab anchors the enrolment (an SM3 digest binding lab, person and public key) as a tier C root
under its own chain account, so that any verifier finds it through the consortium registry; withdrawal anchors
a second digest the same way. Both are written to the audit trail as well.

A signature is an entry of the record's `signatures` list: signer, meaning (performed, reviewed, approved), the
time of signing and the public key, and the SM2 signature (r||s, user id 1234567812345678) over a canonical
statement of those and of the SM3 of the record without its `signatures` (the record's canonical digest; a
confidential record's attachments named by their plaintext digests, without the ciphertext's CID: `signed_form`).
The record id covers the signatures: anchoring the record anchors them.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from ledger_service import merkle
from ledger_service.canonical import canonical_json
from ledger_service.crypto import sm2
from ledger_service.digests import digest_bytes, sm3
from ledger_service.errors import LedgerError
from ledger_service.records.validate import SignerStanding

if TYPE_CHECKING:
    from ledger_service.chain.web3_client import ChainReader
    from ledger_service.keys import KeyStore
    from ledger_service.service import LedgerService

Meaning = Literal["performed", "reviewed", "approved"]
MEANINGS: Final[tuple[str, ...]] = ("performed", "reviewed", "approved")
ALGORITHM: Final = "SM2-SM3"
STATEMENT_FORMAT: Final = "qledger-signature/1"
ENROLMENT_KIND: Final = "signer-enrolment"  # tier C schema SM3("schema:signer-enrolment/1")
WITHDRAWAL_KIND: Final = "signer-withdrawal"
_ENROL_TAG: Final = b"qledger-signer-enrolment/1\x00"
_WITHDRAW_TAG: Final = b"qledger-signer-withdrawal/1\x00"


def signed_form(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a record's signers sign (docs/formats.md section 2.1): the record without its `signatures`; for a
    confidential record, each attachment entry also without its `cid`. That CID names ciphertext under a data
    key drawn at submission, which no signer can know; the entry still names the plaintext by its `sm3`,
    `sha256` and `size` (required members), and the ciphertext is bound to that `sm3` by its SM4-GCM associated
    data (docs/formats.md section 10), checked wherever it is decrypted. A public record's form is unchanged:
    its signers sign its attachments' CIDs."""
    form = {k: v for k, v in record.items() if k != "signatures"}
    if form.get("confidentiality") == "confidential" and isinstance(form.get("attachments"), list):
        form["attachments"] = [
            {k: v for k, v in a.items() if k != "cid"} if isinstance(a, Mapping) else a for a in form["attachments"]
        ]
    return form


def unsigned_digest(record: Mapping[str, Any]) -> bytes:
    """SM3 of the canonical JSON of the record's signed form (`signed_form`): what every signature signs."""
    return sm3(canonical_json(signed_form(record)))


def unsigned_content(record: Mapping[str, Any], content: Mapping[str, bytes]) -> list[str]:
    """The names of a confidential record's attachments whose decrypted `content` (by name, as a recall opens
    them) is not the plaintext its signers signed (its `sm3` and `sha256`), or that name two entries (one
    content cannot be held to each entry's ciphertext; ingest refuses such a record); [] for a public record,
    whose signers signed the CIDs themselves."""
    if record.get("confidentiality") != "confidential":
        return []
    out: list[str] = []
    entries = [a for a in record.get("attachments") or [] if isinstance(a, Mapping) and a.get("name") in content]
    names = [str(a["name"]) for a in entries]
    for a, name in zip(entries, names, strict=True):
        d = digest_bytes(content[name])
        if (d.sm3_hex != a.get("sm3") or d.sha256_hex != a.get("sha256") or names.count(name) > 1) and name not in out:
            out.append(name)
    return out


def statement(record_digest: bytes, lab: str, signature: Mapping[str, Any]) -> bytes:
    """The canonical bytes a signer signs: the record digest, the lab, and who, when, with which key and with
    what meaning (11.50: the name, the time and the meaning are part of what is signed)."""
    return canonical_json(
        {
            "format": STATEMENT_FORMAT,
            "record": record_digest.hex(),
            "lab": lab,
            "signer": signature["signer"],
            "meaning": signature["meaning"],
            "signed_at": signature["signed_at"],
            "public_key": signature["public_key"],
        }
    )


def iso(moment: datetime) -> str:
    """A time as a record stores it (RFC 3339, UTC, whole seconds, Z)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sign(
    record: Mapping[str, Any],
    *,
    signer: str,
    meaning: Meaning,
    key: sm2.PrivateKey,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The record with one more signature (earlier signatures are kept: they sign the same digest)."""
    if meaning not in MEANINGS:
        raise LedgerError(f"a signature's meaning is one of {', '.join(MEANINGS)}, not {meaning!r}")
    lab = str(record["lab"]["member_id"])
    entry: dict[str, Any] = {
        "signer": signer,
        "meaning": meaning,
        "signed_at": iso(at or datetime.now(UTC)),
        "algorithm": ALGORITHM,
        "public_key": key.public_key.to_bytes().hex(),
    }
    value = key.sign(statement(unsigned_digest(record), lab, entry))
    entry["value"] = base64.b64encode(value).decode()
    return {**record, "signatures": [*record.get("signatures", []), entry]}


@functools.lru_cache(maxsize=4096)  # pure; a verification asks for each twice (prefetch, check)
def enrolment_digest(lab: str, signer: str, public_key: bytes) -> bytes:
    return sm3(_ENROL_TAG + canonical_json({"lab": lab, "signer": signer, "public_key": public_key.hex()}))


@functools.lru_cache(maxsize=4096)  # pure; a verification asks for each twice (prefetch, check)
def withdrawal_digest(lab: str, signer: str, public_key: bytes) -> bytes:
    return sm3(_WITHDRAW_TAG + canonical_json({"lab": lab, "signer": signer, "public_key": public_key.hex()}))


@functools.lru_cache(maxsize=4096)  # pure; a verification asks for each twice (prefetch, check)
def anchored_root(digest: bytes) -> bytes:
    """The tier C root of one anchored digest (a tree of one leaf)."""
    return merkle.root([digest])


def standing_roots(lab: str, signer: str, public_key: bytes) -> tuple[bytes, bytes]:
    """The tier C roots whose anchoring by the lab enrols and withdraws this key: (enrolment, withdrawal)."""
    return (
        anchored_root(enrolment_digest(lab, signer, public_key)),
        anchored_root(withdrawal_digest(lab, signer, public_key)),
    )


@dataclass(frozen=True)
class Parsed:
    signer: str
    meaning: str
    signed_at: datetime
    public_key: sm2.PublicKey
    value: bytes
    entry: Mapping[str, Any]


def parse(entry: Any) -> Parsed:
    """One signature entry, or ValueError saying what is wrong with it."""
    if not isinstance(entry, Mapping):
        raise ValueError("a signature is an object")
    missing = [k for k in ("signer", "meaning", "signed_at", "algorithm", "public_key", "value") if k not in entry]
    if missing:
        raise ValueError(f"a signature lacks {', '.join(missing)}")
    if entry["algorithm"] != ALGORITHM or entry["meaning"] not in MEANINGS:
        raise ValueError(f"unsupported algorithm {entry['algorithm']!r} or meaning {entry['meaning']!r}")
    try:
        key = sm2.PublicKey.from_bytes(bytes.fromhex(str(entry["public_key"])))
        value = base64.b64decode(str(entry["value"]), validate=True)
        if base64.b64encode(value).decode() != entry["value"]:  # the unused bits of the last digit: one spelling
            raise ValueError("the value is not in canonical base64 (its last digit's unused bits are set)")
        signed_at = datetime.fromisoformat(str(entry["signed_at"]).replace("Z", "+00:00"))
    except (ValueError, sm2.Sm2Error) as error:
        raise ValueError(f"a signature field is malformed ({error})") from None
    if signed_at.tzinfo is None:
        raise ValueError("signed_at carries no time zone")
    return Parsed(str(entry["signer"]), str(entry["meaning"]), signed_at, key, value, entry)


def holds(record: Mapping[str, Any], parsed: Parsed) -> bool:
    """Whether the signature's SM2 value is its key's signature of this record's statement."""
    lab = str(record.get("lab", {}).get("member_id", ""))
    return parsed.public_key.verify(statement(unsigned_digest(record), lab, parsed.entry), parsed.value)


def expected_signer(record: Mapping[str, Any], meaning: str) -> str | None:
    """Who the record says must have signed with this meaning: the operator performed, the checker reviewed;
    the approver is any enrolled person of the lab (the record names the approver by name and role)."""
    if meaning == "performed":
        return str(record.get("operator", {}).get("id", ""))
    if meaning == "reviewed":
        return str(record.get("checker_id", ""))
    return None


# ---------------------------------------------------------------------------- enrolment (application layer)


def standing_on_chain(chain: ChainReader, lab: str, signer: str, public_key: bytes) -> SignerStanding:
    """A key's standing now, from what the lab anchored under its own account (the registry names it): the
    rule at ingest. Verification (OperatorSignature) also asks when each happened against the record's anchor."""
    account = chain.member_account(lab)
    if account is None:
        return SignerStanding.NOT_ENROLLED
    enrolment, withdrawal = standing_roots(lab, signer, public_key)
    chain.prefetch_roots([(enrolment, account), (withdrawal, account)])
    if int(chain.root_of(enrolment, account)["anchored_at"]) == 0:
        return SignerStanding.NOT_ENROLLED
    if int(chain.root_of(withdrawal, account)["anchored_at"]) > 0:
        return SignerStanding.WITHDRAWN
    return SignerStanding.IN_FORCE


def enrol(service: LedgerService, keys: KeyStore, *, lab: str, signer: str, actor: str) -> sm2.PublicKey:
    """Enrol a person of `lab` as a signer: their SM2 key (made on first use, 0600), the enrolment anchored by
    the lab and written to the audit trail. Enrolling again is a no-op (the same key, already anchored)."""
    key = keys.signer(lab, signer)
    public = key.public_key.to_bytes()
    root = anchored_root(enrolment_digest(lab, signer, public))
    if not service.root_anchored(root, lab):
        service.anchor_digests(member=lab, digests=[enrolment_digest(lab, signer, public)], kind=ENROLMENT_KIND)
        service.record_audit(actor=actor, action="enrol_signer", field=f"{lab}/{signer}", new_value=public.hex())
    public_key: sm2.PublicKey = key.public_key
    return public_key


def withdraw(service: LedgerService, keys: KeyStore, *, lab: str, signer: str, actor: str, reason: str) -> None:
    """Withdraw a signer's key: anchored by the lab (signatures made after it, or on records anchored after
    it, are INVALID), written to the audit trail, and the key file removed so nobody signs with it again."""
    key = keys.signer(lab, signer, create=False)
    public = key.public_key.to_bytes()
    digest = withdrawal_digest(lab, signer, public)
    if not service.root_anchored(anchored_root(digest), lab):
        service.anchor_digests(member=lab, digests=[digest], kind=WITHDRAWAL_KIND)
        service.record_audit(
            actor=actor, action="withdraw_signer", field=f"{lab}/{signer}", old_value=public.hex(), reason=reason
        )
    keys.retire_signer(lab, signer)


def sign_with(
    keys: KeyStore, record: Mapping[str, Any], signers: Sequence[tuple[str, Meaning]], at: datetime | None = None
) -> dict[str, Any]:
    """The record, schema-normalised first (a signature signs the form the ledger stores), signed by each
    (person, meaning) with their enrolled key from the key directory."""
    from ledger_service.records.validate import normalised_record

    _, out = normalised_record(record)
    lab = str(out["lab"]["member_id"])
    for person, meaning in signers:
        out = sign(out, signer=person, meaning=meaning, key=keys.signer(lab, person, create=False), at=at)
    return out
