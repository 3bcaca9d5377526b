"""Confidential records at rest in the owner's index (docs/threat-model.md, section 2.4): their canonical JSON
is kept SM4-GCM sealed under the data directory's at-rest key (`keys/index-at-rest.sm4`, 0600), bound to the
record id, so that a copied `index.db` (a backup, a leaked volume) shows no confidential payload.

The key travels with the sessions (`session.info["at_rest_key"]`): every read of a record's canonical JSON
goes through `canonical_of`, every write through `stored_canonical`."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from ledger_service.crypto import sm4
from ledger_service.errors import LedgerError

SEALED: Final = b"qledger-sealed/1:"
KEY_INFO: Final = "at_rest_key"


class NoAtRestKey(LedgerError):
    """A confidential record was to be written or read by sessions that hold no at-rest key."""


def _aad(record_id: str) -> bytes:
    return b"qledger-index:" + bytes.fromhex(record_id)


def seal(key: bytes, record_id: str, canonical: bytes) -> bytes:
    return SEALED + sm4.encrypt(key, canonical, _aad(record_id))


def is_sealed(stored: bytes) -> bool:
    return bytes(stored).startswith(SEALED)


def unseal(key: bytes, record_id: str, stored: bytes) -> bytes:
    return sm4.decrypt(key, bytes(stored)[len(SEALED) :], _aad(record_id))


def _key(session: Session) -> bytes:
    key = session.info.get(KEY_INFO)
    if not isinstance(key, bytes):
        raise NoAtRestKey("these sessions hold no at-rest key: confidential records are never kept in the clear")
    return key


def stored_canonical(session: Session, record_id: str, canonical: bytes, confidentiality: str) -> bytes:
    """What the index keeps of a record's canonical JSON: sealed when the record is confidential."""
    return seal(_key(session), record_id, canonical) if confidentiality == "confidential" else canonical


def canonical_of(session: Session, record_id: str, stored: bytes) -> bytes:
    """A record's canonical JSON from what the index keeps (sealed or not)."""
    return unseal(_key(session), record_id, stored) if is_sealed(stored) else bytes(stored)
