"""SM3 (GB/T 32905) and SHA-256 digests, computed together in one pass and in constant memory.

The record id is the SM3 of the record's canonical JSON; SHA-256 travels beside it for verifiers without SM3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from cryptography.hazmat.primitives import hashes

CHUNK: Final = 1 << 20  # 1 MiB reads: large enough for throughput, small enough to stream a 2 GB image set


@dataclass(frozen=True)
class Digests:
    """Both digests of one byte string, and its length."""

    sm3: bytes
    sha256: bytes
    size: int

    @property
    def sm3_hex(self) -> str:
        return self.sm3.hex()

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


class _Both:
    def __init__(self) -> None:
        self._sm3 = hashes.Hash(hashes.SM3())
        self._sha256 = hashes.Hash(hashes.SHA256())
        self._size = 0

    def update(self, data: bytes) -> None:
        self._sm3.update(data)
        self._sha256.update(data)
        self._size += len(data)

    def finalize(self) -> Digests:
        return Digests(self._sm3.finalize(), self._sha256.finalize(), self._size)


def sm3(data: bytes) -> bytes:
    """SM3 of `data` (32 bytes)."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_file(path: str | Path, chunk_size: int = CHUNK) -> bytes:
    """SM3 alone of a file, streamed (the fast path when SHA-256 is not needed)."""
    h = hashes.Hash(hashes.SM3())
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            h.update(block)
    return h.finalize()


def digest_bytes(data: bytes) -> Digests:
    """SM3 and SHA-256 of an in-memory byte string."""
    both = _Both()
    both.update(data)
    return both.finalize()


def digest_stream(stream: BinaryIO, chunk_size: int = CHUNK) -> Digests:
    """SM3 and SHA-256 of everything left in `stream`, read `chunk_size` bytes at a time."""
    both = _Both()
    while block := stream.read(chunk_size):
        both.update(block)
    return both.finalize()


def digest_file(path: str | Path, chunk_size: int = CHUNK) -> Digests:
    """SM3 and SHA-256 of a file, streamed."""
    with open(path, "rb") as f:
        return digest_stream(f, chunk_size)
