"""The content store interface: put, get, has. Adapters: EmbeddedStore (local blocks, Kubo-identical CIDs),
IpfsRpcStore (a Kubo RPC endpoint) and ClusterStore (IPFS Cluster over several members' Kubo nodes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class PinState:
    """How far a file is replicated: on how many members' nodes, against the factor asked for."""

    cid: str
    peers_pinned: int
    replication_min: int
    state: str  # replicated (peers_pinned >= replication_min) | pinning | missing (the store lost track of it)


class ContentStore(ABC):
    """Content-addressed storage of files; CIDs are CIDv1, raw leaves, 256 KiB chunks, balanced DAG."""

    # True where `put` only spools locally and `push` pins to the store the content must end up in.
    deferred: bool = False
    # Above 0 where the store replicates content over several nodes and `replication` tells how far.
    replication_min: int = 0

    def push(self, cids: Sequence[str], blobs: Sequence[bytes] = ()) -> list[str]:
        """Pin the spooled files `cids`, and `blobs` (content kept elsewhere, such as canonical records in the
        index), where they must end up; returns the CIDs pinned. Stores that pin on `put` have nothing to do."""
        return []

    def replication(self, cids: Sequence[str]) -> dict[str, PinState]:
        """How far each of `cids` is replicated; empty for stores that keep one copy."""
        return {}

    @abstractmethod
    def put(self, data: bytes) -> str:
        """Store `data`, pin it, and return its CID."""

    @abstractmethod
    def put_stream(self, stream: BinaryIO) -> str:
        """Store everything left in `stream` without holding it in memory; return its CID."""

    def put_file(self, path: str | Path) -> str:
        with open(path, "rb") as f:
            return self.put_stream(f)

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store several files; adapters override this to send them in one request."""
        return [self.put(item) for item in items]

    @abstractmethod
    def get(self, cid: str) -> bytes:
        """The file with this CID; raises ContentNotFound."""

    @abstractmethod
    def has(self, cid: str) -> bool:
        """Whether the whole file is stored here."""

    @abstractmethod
    def is_available(self) -> bool:
        """Whether the store answers now."""
