"""SM4-GCM (GB/T 32907 block cipher, GCM mode) for confidential payloads and attachments: a 128-bit key, a
random 96-bit nonce per message, a 128-bit tag; wire format nonce || ciphertext || tag. The associated data
binds a ciphertext to what it belongs to (a record id, an attachment digest)."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16


class Sm4Error(ValueError):
    """A wrong key, a tampered ciphertext or mismatched associated data."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encrypt(key: bytes, plaintext: bytes, associated: bytes = b"") -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def decrypt(key: bytes, sealed: bytes, associated: bytes = b"") -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise Sm4Error("an SM4-GCM ciphertext is nonce || body || tag")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        raise Sm4Error("SM4-GCM authentication failed: wrong key or tampered data") from None
