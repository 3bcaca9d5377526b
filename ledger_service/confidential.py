"""Confidential records (docs/formats.md section 10): the payload and attachments are SM4-GCM encrypted under a fresh
data key per record; the key is split k-of-n (Shamir over GF(2^128)) among the consortium's escrow agents,
each share SM2-encrypted to its agent and kept in an escrow envelope beside the ciphertext. Pure functions:
sealing, opening a share, release documents and recall scopes; the parties that act on them live in
`consortium/`.

A sealed share binds the record id, the record's lot and product digests and the policy digest, so that an
agent checks a recall's scope against what the owner sealed, not against unauthenticated metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger_service.canonical import canonical_json
from ledger_service.crypto import shamir, sm2, sm4
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError

ENVELOPE_FORMAT = "qledger-escrow/1"
RELEASE_FORMAT = "qledger-release/1"
POLICY_FORMAT = "qledger-escrow-policy/1"
LOT, PRODUCT, RECORDS = 0, 1, 2  # RecallRegistry.ScopeKind
SCOPE_KINDS = {"lot": LOT, "product": PRODUCT, "records": RECORDS}


class EscrowError(LedgerError):
    """A malformed envelope, share or release, or one that does not belong where it is presented."""


def scope_digest(kind: int, value: str | None) -> bytes:
    """The on-chain scope of a lot or a product: SM3("lot:" + id) or SM3("product:" + id); zero when absent."""
    if value is None:
        return bytes(32)
    return sm3(("lot:" if kind == LOT else "product:").encode() + value.encode())


def record_aad(record_id: str) -> bytes:
    return b"qledger-record:" + bytes.fromhex(record_id)


def attachment_aad(attachment_sm3: str) -> bytes:
    return b"qledger-attachment:" + bytes.fromhex(attachment_sm3)


@dataclass(frozen=True)
class EscrowPolicy:
    """Consortium configuration: k of the agents' shares open a record; releases go to a named regulator."""

    k: int
    agents: tuple[tuple[str, bytes], ...]  # (member id, SM2 public key 04||x||y), share index = position + 1
    regulators: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not 1 <= self.k <= len(self.agents) <= 255:
            raise EscrowError(f"an escrow policy needs 1 <= k <= agents <= 255 (k={self.k}, n={len(self.agents)})")
        for _, key in (*self.agents, *self.regulators):
            sm2.PublicKey.from_bytes(key)

    def document(self) -> dict[str, Any]:
        return {
            "format": POLICY_FORMAT,
            "k": self.k,
            "n": len(self.agents),
            "agents": [{"member": m, "sm2": key.hex()} for m, key in self.agents],
            "regulators": [{"member": m, "sm2": key.hex()} for m, key in self.regulators],
        }

    def canonical(self) -> bytes:
        return canonical_json(self.document())

    def digest(self) -> bytes:
        return sm3(self.canonical())

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> EscrowPolicy:
        if doc.get("format") != POLICY_FORMAT:
            raise EscrowError("not an escrow policy")
        return cls(
            k=int(doc["k"]),
            agents=tuple((a["member"], bytes.fromhex(a["sm2"])) for a in doc["agents"]),
            regulators=tuple((r["member"], bytes.fromhex(r["sm2"])) for r in doc["regulators"]),
        )

    def regulator_key(self, member: str) -> sm2.PublicKey:
        for m, key in self.regulators:
            if m == member:
                return sm2.PublicKey.from_bytes(key)
        raise EscrowError(f"{member} is not a regulator of the escrow policy")


@dataclass(frozen=True)
class Share:
    """An agent's share of one record's data key, with what it was sealed for."""

    record_id: str
    x: int
    y: bytes
    lot_sm3: bytes
    product_sm3: bytes
    policy_sm3: bytes

    def to_bytes(self) -> bytes:
        return (
            bytes.fromhex(self.record_id) + bytes([self.x]) + self.y + self.lot_sm3 + self.product_sm3 + self.policy_sm3
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Share:
        if len(raw) != 32 + 1 + 16 + 32 * 3:
            raise EscrowError("a sealed share is 145 bytes")
        return cls(raw[:32].hex(), raw[32], raw[33:49], raw[49:81], raw[81:113], raw[113:145])


@dataclass(frozen=True)
class Sealed:
    """A confidential record ready to store: its ciphertext and its escrow envelope (whose
    `record_ciphertext_cid` the caller fills in once the ciphertext is stored)."""

    data_key: bytes
    record_ciphertext: bytes
    envelope: dict[str, Any]


def new_data_key() -> bytes:
    return sm4.new_key()


def seal(
    policy: EscrowPolicy,
    record_id: str,
    canonical: bytes,
    data_key: bytes,
    lot: str | None,
    product: str | None,
) -> Sealed:
    """Encrypt a record's canonical JSON under `data_key` (attachments were encrypted under it already) and
    escrow the key: one SM2-encrypted share per agent."""
    digest = policy.digest()
    shares = []
    for (agent, key), (x, y) in zip(policy.agents, shamir.split(data_key, policy.k, len(policy.agents)), strict=True):
        share = Share(record_id, x, y, scope_digest(LOT, lot), scope_digest(PRODUCT, product), digest)
        shares.append(
            {"agent": agent, "x": x, "ciphertext": sm2.PublicKey.from_bytes(key).encrypt(share.to_bytes()).hex()}
        )
    envelope = {
        "format": ENVELOPE_FORMAT,
        "record_id": record_id,
        "policy_sm3": digest.hex(),
        "k": policy.k,
        "lot_sm3": scope_digest(LOT, lot).hex(),
        "product_sm3": scope_digest(PRODUCT, product).hex(),
        "shares": shares,
    }
    return Sealed(data_key, sm4.encrypt(data_key, canonical, record_aad(record_id)), envelope)


def open_share(envelope: dict[str, Any], agent: str, key: sm2.PrivateKey) -> Share:
    """The agent's own share of an envelope, checked to belong to the envelope's record and policy."""
    entry = next((s for s in envelope.get("shares", []) if s.get("agent") == agent), None)
    if entry is None:
        raise EscrowError(f"{agent} holds no share of record {envelope.get('record_id')}")
    try:
        share = Share.from_bytes(key.decrypt(bytes.fromhex(entry["ciphertext"])))
    except sm2.Sm2Error as error:
        raise EscrowError(f"cannot open the share: {error}") from None
    if share.record_id != envelope["record_id"] or share.policy_sm3.hex() != envelope["policy_sm3"]:
        raise EscrowError("the sealed share belongs to another record or policy")
    if share.x != entry["x"]:
        raise EscrowError("the sealed share's index differs from the envelope's")
    return share


def release_document(
    recall_id: int, agent: str, regulator: str, regulator_key: sm2.PublicKey, shares: Sequence[Share]
) -> bytes:
    """What an agent posts for a recall: its shares of the covered records, each re-encrypted to the
    regulator (record id || x || y). Canonical JSON; its SM3 goes on chain with its CID."""
    entries = [
        {
            "record_id": s.record_id,
            "x": s.x,
            "ciphertext": regulator_key.encrypt(bytes.fromhex(s.record_id) + bytes([s.x]) + s.y).hex(),
        }
        for s in shares
    ]
    return canonical_json(
        {"format": RELEASE_FORMAT, "recall_id": recall_id, "agent": agent, "regulator": regulator, "shares": entries}
    )


def open_release(document: bytes, recall_id: int, key: sm2.PrivateKey) -> list[tuple[str, int, bytes]]:
    """(record id, x, y) of every share in a release for `recall_id`, decrypted with the regulator's key."""
    doc = json.loads(document)
    if doc.get("format") != RELEASE_FORMAT or doc.get("recall_id") != recall_id:
        raise EscrowError(f"not a release for recall {recall_id}")
    out = []
    for entry in doc["shares"]:
        raw = key.decrypt(bytes.fromhex(entry["ciphertext"]))
        if len(raw) != 49 or raw[:32].hex() != entry["record_id"] or raw[32] != entry["x"]:
            raise EscrowError("a released share does not match its entry")
        out.append((entry["record_id"], raw[32], raw[33:49]))
    return out


def data_key_of(shares: Sequence[tuple[int, bytes]], k: int) -> bytes:
    try:
        return shamir.combine(shares, k)
    except shamir.ShamirError as error:
        raise EscrowError(str(error)) from None
