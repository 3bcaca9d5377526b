"""What makes a qledger credential one that a standard verifier accepts (docs/formats.md section 9.1): the
issuer a `did:web` served by `qledger serve`, its keys bound to the member's entry in the consortium registry,
a W3C Data Integrity proof (cryptosuite `eddsa-jcs-2022`) and an SM2 proof beside it for alliance verifiers,
and Bitstring Status List credentials for revocation and for suspension during a recall.

The binding: a statement naming the DID, the member, the consortium (chain id and registry) and the DID's keys,
signed (EIP-191) by the member's chain account. A verifier recovers the account from the signature and asks the
registry whether it is the member's: a stolen web host can serve any DID document, but it cannot sign for the
member's account, so its keys would not be bound."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eth_account import Account
from eth_account.messages import encode_defunct

from ledger_service.canonical import canonical_json
from ledger_service.crypto import sm2
from ledger_service.digests import sm3

VC_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
DID_CONTEXTS: Final = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
EDDSA: Final = "eddsa-jcs-2022"
SM2_SUITE: Final = "sm2-jcs-qledger-2026"  # SM3 hashes, SM2 signature (user id 1234567812345678): not a W3C suite
BINDING_FORMAT: Final = "qledger-did-binding/1"
STATUS_LIST_BITS: Final = 131072  # 16 KiB, the minimum the Bitstring Status List specification sets (privacy)
STATUS_LIST_TTL_S: Final = 300  # a status list credential is valid this long after it was built (validUntil)
PURPOSES: Final = ("revocation", "suspension")
_ED25519_PREFIX: Final = b"\xed\x01"  # multicodec ed25519-pub
_SM2_PREFIX: Final = b"\x86\x24"  # multicodec sm2-pub (0x1206), varint
_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        i = _B58.find(c)
        if i < 0:
            raise ValueError("not base58btc")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def ed25519_multikey(public: bytes) -> str:
    return "z" + b58encode(_ED25519_PREFIX + public)


def sm2_multikey(public: sm2.PublicKey) -> str:
    return "z" + b58encode(_SM2_PREFIX + public.to_bytes())


def key_of_multikey(text: str) -> Ed25519PublicKey | sm2.PublicKey:
    """The public key a Multikey string names (Ed25519 or SM2); ValueError otherwise."""
    if not text.startswith("z"):
        raise ValueError("a Multikey is base58btc (z...)")
    raw = b58decode(text[1:])
    if raw.startswith(_ED25519_PREFIX) and len(raw) == 34:
        return Ed25519PublicKey.from_public_bytes(raw[2:])
    if raw.startswith(_SM2_PREFIX):
        try:
            return sm2.PublicKey.from_bytes(raw[2:])
        except sm2.Sm2Error as error:
            raise ValueError(str(error)) from None
    raise ValueError("not an Ed25519 or SM2 Multikey")


# ---------------------------------------------------------------------------- did:web


def did_web(base_url: str, member: str) -> str:
    """`did:web:<host>[%3A<port>][:<path>]:members:<member>`, resolved at `<base>/members/<member>/did.json`."""
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"not a web address: {base_url!r}")
    host = url.hostname + (f"%3A{url.port}" if url.port else "")
    path = [quote(p, safe="") for p in url.path.split("/") if p]
    return "did:web:" + ":".join([host, *path, "members", quote(member, safe="")])


def member_of_did(did: str) -> str | None:
    """The member id a qledger issuer DID names, or None for another DID."""
    if not did.startswith("did:web:") or ":members:" not in did:
        return None
    member = unquote(did.rsplit(":members:", 1)[1])
    return member if member and ":" not in member and "/" not in member else None


def did_document_url(did: str) -> str:
    """Where did:web resolves the DID (https, as the method specifies)."""
    parts = [unquote(p) for p in did.removeprefix("did:web:").split(":")]
    return "https://" + "/".join(parts) + "/did.json"


# ---------------------------------------------------------------------------- keys and their binding


@dataclass(frozen=True)
class IssuerKeys:
    """A member's credential signing keys (in the key directory, 0600)."""

    ed25519: Ed25519PrivateKey
    sm2: sm2.PrivateKey

    def methods(self, did: str) -> dict[str, str]:
        """Verification method id -> Multikey."""
        raw = self.ed25519.public_key().public_bytes_raw()
        return {f"{did}#ed25519": ed25519_multikey(raw), f"{did}#sm2": sm2_multikey(self.sm2.public_key)}


def binding_statement(did: str, member: str, chain_id: int, registry: str, methods: Mapping[str, str]) -> bytes:
    """The canonical statement the member's chain account signs."""
    return canonical_json(
        {"format": BINDING_FORMAT, "did": did, "member": member, "chainId": chain_id, "registry": registry.lower(),
         "verificationMethods": dict(methods)}
    )  # fmt: skip


def binding(
    did: str, member: str, chain_id: int, registry: str, methods: Mapping[str, str], signature: bytes
) -> dict[str, Any]:
    return {
        "format": BINDING_FORMAT,
        "did": did,
        "member": member,
        "chainId": chain_id,
        "registry": registry.lower(),
        "verificationMethods": dict(methods),
        "signature": "0x" + signature.hex(),
    }


def binding_signer(bound: Mapping[str, Any]) -> str:
    """The account that signed a binding (EIP-191); ValueError for a malformed one."""
    try:
        message = binding_statement(
            str(bound["did"]), str(bound["member"]), int(bound["chainId"]), str(bound["registry"]),
            {str(k): str(v) for k, v in dict(bound["verificationMethods"]).items()},
        )  # fmt: skip
        signature = bytes.fromhex(str(bound["signature"]).removeprefix("0x"))
        return str(Account.recover_message(encode_defunct(message), signature=signature))
    except Exception as error:  # noqa: BLE001 - any malformed binding is one that binds nothing
        raise ValueError(f"the binding is malformed ({type(error).__name__})") from None


def did_document(did: str, bound: Mapping[str, Any]) -> dict[str, Any]:
    """The DID document `qledger serve` returns for a member: its keys, and the binding to the registry."""
    methods = dict(bound["verificationMethods"])
    return {
        "@context": DID_CONTEXTS,
        "id": did,
        "verificationMethod": [
            {"id": vm, "type": "Multikey", "controller": did, "publicKeyMultibase": key} for vm, key in methods.items()
        ],
        "assertionMethod": list(methods),
        "service": [
            {"id": f"{did}#registry-binding", "type": "QledgerRegistryBinding", "serviceEndpoint": dict(bound)}
        ],
    }


# ---------------------------------------------------------------------------- Data Integrity proofs


def _config(document: Mapping[str, Any], cryptosuite: str, method: str, created: str) -> dict[str, Any]:
    return {
        "@context": document["@context"],
        "type": "DataIntegrityProof",
        "cryptosuite": cryptosuite,
        "created": created,
        "verificationMethod": method,
        "proofPurpose": "assertionMethod",
    }


def _unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "proof"}


def sign(document: Mapping[str, Any], keys: IssuerKeys, did: str, created: str) -> dict[str, Any]:
    """The document with a proof set: eddsa-jcs-2022 (hash data = SHA-256(JCS(proof config)) || SHA-256(JCS(doc)),
    as the W3C EdDSA cryptosuites specify) and the SM2 proof (the same with SM3)."""
    unsecured = _unsecured(document)
    doc = canonical_json(unsecured)
    eddsa = _config(unsecured, EDDSA, f"{did}#ed25519", created)
    data = hashlib.sha256(canonical_json(eddsa)).digest() + hashlib.sha256(doc).digest()
    eddsa["proofValue"] = "z" + b58encode(keys.ed25519.sign(data))
    sm2_proof = _config(unsecured, SM2_SUITE, f"{did}#sm2", created)
    data = sm3(canonical_json(sm2_proof)) + sm3(doc)
    sm2_proof["proofValue"] = "z" + b58encode(keys.sm2.sign(data))
    return {**unsecured, "proof": [eddsa, sm2_proof]}


def proof_problems(document: Mapping[str, Any], methods: Mapping[str, str]) -> list[str]:
    """Why the document's proofs do not hold with the bound keys `methods` (id -> Multikey); [] when both the
    eddsa-jcs-2022 and the SM2 proof hold."""
    proofs = document.get("proof")
    if not isinstance(proofs, list):
        return ["no proof set"]
    unsecured = _unsecured(document)
    doc = canonical_json(unsecured)
    found: set[str] = set()
    problems: list[str] = []
    for i, proof in enumerate(proofs):
        if not isinstance(proof, dict):
            return [f"proof[{i}] is not an object"]
        suite, method, value = proof.get("cryptosuite"), proof.get("verificationMethod"), proof.get("proofValue")
        if proof.get("@context") != unsecured.get("@context") or proof.get("proofPurpose") != "assertionMethod":
            problems.append(f"proof[{i}]: another context or purpose than the credential's assertion")
            continue
        if not isinstance(method, str) or method not in methods or not isinstance(value, str):
            problems.append(f"proof[{i}]: signed by {method!r}, not a key bound to the issuer")
            continue
        config = {k: v for k, v in proof.items() if k != "proofValue"}
        try:
            key = key_of_multikey(methods[method])
            signature = b58decode(value.removeprefix("z")) if value.startswith("z") else b""
            if suite == EDDSA and isinstance(key, Ed25519PublicKey):
                key.verify(signature, hashlib.sha256(canonical_json(config)).digest() + hashlib.sha256(doc).digest())
            elif suite == SM2_SUITE and isinstance(key, sm2.PublicKey):
                if not key.verify(sm3(canonical_json(config)) + sm3(doc), signature):
                    raise InvalidSignature
            else:
                problems.append(f"proof[{i}]: cryptosuite {suite!r} with a key of another kind")
                continue
        except (InvalidSignature, ValueError):
            problems.append(f"proof[{i}] ({suite}) does not hold: the credential or its proof was changed")
            continue
        found.add(str(suite))
    missing = [s for s in (EDDSA, SM2_SUITE) if s not in found]
    return problems + [f"no valid {s} proof" for s in missing if not problems]


# ---------------------------------------------------------------------------- Bitstring Status List


def status_entries(base_url: str, member: str, index: int) -> list[dict[str, Any]]:
    """The credential's `credentialStatus`: one BitstringStatusListEntry per purpose, at `index`."""
    return [
        {
            "id": f"{status_list_url(base_url, member, purpose)}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": str(index),
            "statusListCredential": status_list_url(base_url, member, purpose),
        }
        for purpose in PURPOSES
    ]


def status_list_url(base_url: str, member: str, purpose: str) -> str:
    return f"{base_url.rstrip('/')}/v1/status-lists/{quote(member, safe='')}/{purpose}"


def encode_list(set_bits: Sequence[int], size: int = STATUS_LIST_BITS) -> str:
    """Multibase base64url (no padding) of the GZIP of the bitstring; index 0 is the first byte's high bit."""
    bits = bytearray(size // 8)
    for i in set_bits:
        if not 0 <= i < size:
            raise ValueError(f"status index {i} is outside the list")
        bits[i // 8] |= 0x80 >> (i % 8)
    packed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode_list(encoded: str) -> bytes:
    body = encoded.removeprefix("u")
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def bit(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(
    base_url: str, member: str, did: str, purpose: str, set_bits: Sequence[int], valid_from: str, valid_until: str
) -> dict[str, Any]:
    """The unsigned BitstringStatusListCredential of one member and purpose, valid from its building until
    `valid_until` (a few minutes later): a list kept or replayed from before a revocation or a recall is
    refused by verifiers once that time has passed, as the anchored digest alone cannot tell (every list the
    member served was anchored)."""
    url = status_list_url(base_url, member, purpose)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": did,
        "validFrom": valid_from,
        "validUntil": valid_until,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode_list(set_bits),
        },
    }
