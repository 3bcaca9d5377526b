"""The embedded content store: blocks in a local SQLite file, CIDs identical to Kubo's, CAR export."""

from __future__ import annotations

import io
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from ledger_service.errors import ContentNotFound
from ledger_service.store.base import ContentStore
from ledger_service.store.cid import CHUNK_SIZE, DAG_PB, RAW, Cid, build_dag, node_links, varint


class EmbeddedStore(ContentStore):
    """Blocks in one SQLite file, `root/blocks.db`, keyed by binary CID (as Kubo's pebble and badger
    datastores, not its file-per-block flatfs: creating a file costs this machine's kernel 0.05 to 1 ms, an
    insert a few microseconds). WAL journal: many readers, writers in turn, from threads and processes; a
    committed block survives a crash of the process. A `root/blocks/` directory left by the earlier
    file-per-block layout is imported on opening."""

    commit_bytes = 64 << 20

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "blocks.db"
        self._local = threading.local()
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS blocks (cid BLOB PRIMARY KEY, data BLOB NOT NULL)")
        self._import_flatfs(self.root / "blocks")

    def put(self, data: bytes) -> str:
        return self._store(data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Store several files in one transaction."""
        with self._db():
            return [self.put(item) for item in items]

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
        return os.access(self.path, os.W_OK) and os.access(self.root, os.W_OK)

    def block(self, cid: Cid) -> bytes:
        """One block's bytes (a leaf's data or a dag-pb node); raises ContentNotFound."""
        row = self._connection().execute("SELECT data FROM blocks WHERE cid = ?", (cid.binary,)).fetchone()
        if row is None:
            raise ContentNotFound(str(cid))
        return bytes(row[0])

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

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # a forked child opens its own
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives the process; fsync at checkpoints
            self._local.db, self._local.depth, self._local.pid = db, 0, os.getpid()
        return db

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested uses join the outer one (put inside put_many)."""
        db = self._connection()
        if self._local.depth == 0:
            db.execute("BEGIN IMMEDIATE")
        self._local.depth += 1
        try:
            yield db
        except BaseException:
            self._local.depth -= 1
            if self._local.depth == 0:
                db.execute("ROLLBACK")
            raise
        self._local.depth -= 1
        if self._local.depth == 0:
            db.execute("COMMIT")

    def _store(self, leaves: Iterator[bytes]) -> str:
        """Store a file's blocks. A large file alone commits every `commit_bytes` on the way, so that the
        journal does not grow to its size; blocks without their root yet are harmless, as in any IPFS store."""
        root: Cid | None = None
        pending = 0
        with self._db() as db:
            for cid, block in build_dag(leaves):
                db.execute("INSERT OR IGNORE INTO blocks (cid, data) VALUES (?, ?)", (cid.binary, block))
                root = cid
                pending += len(block)
                if pending >= self.commit_bytes and self._local.depth == 1:
                    db.execute("COMMIT")
                    db.execute("BEGIN IMMEDIATE")
                    pending = 0
        assert root is not None
        return str(root)

    def _import_flatfs(self, blocks: Path) -> None:
        """Move the blocks of the file-per-block layout (blocks/XY/<CID>) into the database; safe to repeat
        after a crash (inserts are idempotent, files go only once their block is committed)."""
        if not blocks.is_dir():
            return
        for shard in sorted(p for p in blocks.iterdir() if p.is_dir()):
            files = [f for f in shard.iterdir() if not f.name.startswith(".")]
            with self._db() as db:
                for f in files:
                    db.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?)", (Cid.parse(f.name).binary, f.read_bytes()))
            for f in shard.iterdir():
                f.unlink()
            shard.rmdir()
        blocks.rmdir()

    def _blocks_under(self, cid: Cid) -> Iterator[tuple[Cid, bytes]]:
        block = self.block(cid)
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
