"""The embedded content store: blocks in a local directory, CIDs identical to Kubo's, CAR export."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ledger_service.errors import ContentNotFound
from ledger_service.store.base import ContentStore
from ledger_service.store.cid import CHUNK_SIZE, DAG_PB, RAW, Cid, build_dag, node_links, varint


class EmbeddedStore(ContentStore):
    """Blocks stored one file each under `root/blocks/XY/`, named by CID, where XY are the CID's next-to-last
    two characters (sharded as Kubo's flatfs, so that no directory grows too large to open files fast)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.blocks = self.root / "blocks"
        self.blocks.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        return self._store(data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))

    def put_stream(self, stream: BinaryIO) -> str:
        return self._store(iter(lambda: stream.read(CHUNK_SIZE), b""))

    def get(self, cid: str) -> bytes:
        return b"".join(self._leaves(self._parse(cid)))

    def open(self, cid: str) -> BinaryIO:
        """The file with this CID as a stream, one 256 KiB leaf in memory at a time."""
        return io.BufferedReader(_LeafReader(self._leaves(self._parse(cid))))

    def is_single_block(self, cid: str) -> bool:
        """Whether the file fits one leaf (at most 256 KiB): a raw-codec root."""
        return self._parse(cid).codec == RAW

    def has(self, cid: str) -> bool:
        try:
            for _ in self._blocks_under(self._parse(cid)):
                pass
        except ContentNotFound:
            return False
        return True

    def is_available(self) -> bool:
        return self.blocks.is_dir() and os.access(self.blocks, os.W_OK)

    def export_car(self, roots: Sequence[str], out: BinaryIO) -> None:
        """Write a CARv1 holding every block under `roots` (each block once)."""
        cids = [self._parse(r) for r in roots]
        out.write(_car_header(cids))
        seen: set[bytes] = set()
        for root in cids:
            for cid, block in self._blocks_under(root):
                if cid.binary in seen:
                    continue
                seen.add(cid.binary)
                out.write(varint(len(cid.binary) + len(block)) + cid.binary + block)

    # ------------------------------------------------------------------ internals

    def _store(self, leaves: Iterator[bytes]) -> str:
        root: Cid | None = None
        for cid, block in build_dag(leaves):
            self._write(cid, block)
            root = cid
        assert root is not None
        return str(root)

    def _path(self, cid: Cid) -> Path:
        name = str(cid)
        return self.blocks / name[-3:-1] / name

    def _write(self, cid: Cid, block: bytes) -> None:
        path = self._path(cid)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True)
        # Write then rename: a crash never leaves a truncated block under a valid name.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            f.write(block)
        os.replace(tmp, path)

    def _read(self, cid: Cid) -> bytes:
        try:
            return self._path(cid).read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(str(cid)) from None

    def _blocks_under(self, cid: Cid) -> Iterator[tuple[Cid, bytes]]:
        block = self._read(cid)
        yield cid, block
        if cid.codec == DAG_PB:
            for child in node_links(block):
                yield from self._blocks_under(child)

    def _leaves(self, cid: Cid) -> Iterator[bytes]:
        for c, block in self._blocks_under(cid):
            if c.codec == RAW:
                yield block

    @staticmethod
    def _parse(cid: str) -> Cid:
        try:
            return Cid.parse(cid)
        except ValueError:
            raise ContentNotFound(cid) from None


class _LeafReader(io.RawIOBase):
    def __init__(self, leaves: Iterator[bytes]) -> None:
        self._leaves = leaves
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._leaves)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _car_header(roots: list[Cid]) -> bytes:
    """dag-cbor {"roots": [CID...], "version": 1}, length-prefixed (CARv1)."""
    body = b"\xa2" + b"\x65roots" + _cbor_head(4, len(roots))
    for cid in roots:
        tagged = b"\x00" + cid.binary  # CIDs in dag-cbor: tag 42 over the identity-multibase binary form
        body += b"\xd8\x2a" + _cbor_head(2, len(tagged)) + tagged
    body += b"\x67version\x01"
    return varint(len(body)) + body


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
