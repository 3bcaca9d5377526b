"""Pinning through the outbox: content is written to a local spool (same CIDs, computed here) when a record is
accepted, and pushed to the store it must end up in (an IPFS node) by the worker, with retries. A dead IPFS
node then delays pinning; it never refuses or loses a submission.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from ledger_service.errors import StoreError
from ledger_service.store.base import ContentStore, PinState
from ledger_service.store.cid import cid_of_bytes
from ledger_service.store.embedded import EmbeddedStore


class SpoolingStore(ContentStore):
    """`put` writes to `spool`; `push` pins spooled files to `target`; reads look in the spool first."""

    deferred = True

    def __init__(self, spool: EmbeddedStore, target: ContentStore, batch_bytes: int = 8 << 20) -> None:
        self.spool = spool
        self.target = target
        self.batch_bytes = batch_bytes
        self.replication_min = target.replication_min

    def replication(self, cids: Sequence[str]) -> dict[str, PinState]:
        return self.target.replication(cids)

    def put(self, data: bytes) -> str:
        return self.spool.put(data)

    def put_stream(self, stream: BinaryIO) -> str:
        return self.spool.put_stream(stream)

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        return self.spool.put_many(items)

    def get(self, cid: str) -> bytes:
        return self.spool.get(cid) if self.spool.has(cid) else self.target.get(cid)

    def has(self, cid: str) -> bool:
        return self.spool.has(cid) or self.target.has(cid)

    def is_available(self) -> bool:
        """Whether content can be spooled and pinned now (submissions need the spool only)."""
        return self.spool.is_available() and self.target.is_available()

    def push(self, cids: Sequence[str], blobs: Sequence[bytes] = ()) -> list[str]:
        """Pin every spooled file among `cids`, and `blobs`, to the target: small files many per request, large
        ones streamed one at a time; returns the CIDs pinned. Raises StoreUnavailable (retry later) or
        StoreError if the target computes another CID than ours."""
        small: list[tuple[str, bytes]] = []
        size = 0
        pushed: list[str] = []
        for blob in blobs:
            small.append((cid_of_bytes(blob), blob))
            pushed.append(small[-1][0])
            size += len(blob)
            if size >= self.batch_bytes:
                self._push_small(small)
                small, size = [], 0
        for cid in dict.fromkeys(cids):  # once each, in order
            if not self.spool.has(cid):
                continue  # declared content that lives elsewhere
            pushed.append(cid)
            if not self.spool.is_single_block(cid):
                with self.spool.open(cid) as stream:
                    self._check([cid], [self.target.put_stream(stream)])
                continue
            data = self.spool.get(cid)
            small.append((cid, data))
            size += len(data)
            if size >= self.batch_bytes:
                self._push_small(small)
                small, size = [], 0
        self._push_small(small)
        return list(dict.fromkeys(pushed))

    def _push_small(self, items: list[tuple[str, bytes]]) -> None:
        if items:
            self._check([c for c, _ in items], self.target.put_many([d for _, d in items]))

    @staticmethod
    def _check(expected: list[str], got: list[str]) -> None:
        if got != expected:
            wrong = next(f"{e} != {g}" for e, g in zip(expected, got, strict=True) if e != g)
            raise StoreError(f"the IPFS node computed other CIDs than the spool ({wrong}): check its add options")
