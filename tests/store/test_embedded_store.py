"""The embedded store: Kubo-identical CIDs for single blocks, round trips, DAG shape, CAR export."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ledger_service.errors import ContentNotFound
from ledger_service.store import EmbeddedStore, cid_of_bytes, store_from_url
from ledger_service.store.cid import CHUNK_SIZE, DAG_PB, MAX_LINKS, RAW, Cid, build_dag, node_links, read_varint


def test_single_block_cids_are_the_well_known_ones() -> None:
    # Published CIDs of `ipfs add --cid-version=1` (raw leaves) for the empty file and "hello world".
    assert cid_of_bytes(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert cid_of_bytes(b"hello world") == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


def test_cid_string_round_trip() -> None:
    cid = Cid.of(DAG_PB, b"x")
    assert Cid.parse(str(cid)) == cid
    with pytest.raises(ValueError):
        Cid.parse("Qm" + "1" * 44)


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE - 7])
def test_round_trip_and_has(tmp_path: Path, size: int) -> None:
    store = EmbeddedStore(tmp_path)
    data = os.urandom(size)
    cid = store.put(data)
    assert cid == cid_of_bytes(data)
    assert store.has(cid) and store.get(cid) == data
    assert store.put_stream(io.BytesIO(data)) == cid


def test_dag_shape_balanced_with_174_links(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    data = b"\x01" * (CHUNK_SIZE * (MAX_LINKS + 2))  # two levels of dag-pb nodes
    root = Cid.parse(store.put(data))
    assert root.codec == DAG_PB
    children = node_links(store.block(root))
    assert len(children) == 2 and all(c.codec == DAG_PB for c in children)
    first = node_links(store.block(children[0]))
    assert len(first) == MAX_LINKS and all(c.codec == RAW for c in first)
    assert store.get(str(root)) == data


def test_missing_content(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    cid = store.put(os.urandom(CHUNK_SIZE * 2))
    leaf = node_links(store.block(Cid.parse(cid)))[0]
    with sqlite3.connect(tmp_path / "blocks.db") as db:
        db.execute("DELETE FROM blocks WHERE cid = ?", (leaf.binary,))
    assert not store.has(cid)
    with pytest.raises(ContentNotFound):
        store.get(cid)
    with pytest.raises(ContentNotFound):
        store.get("not-a-cid")


def test_car_export_holds_every_block_once_with_valid_hashes(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    a = store.put(os.urandom(CHUNK_SIZE * 3))
    b = store.put(b"small file")
    out = io.BytesIO()
    store.export_car([a, b, a], out)
    car = out.getvalue()
    header_len, pos = read_varint(car, 0)
    header = car[pos : pos + header_len]
    assert header.startswith(b"\xa2\x65roots\x83") and header.endswith(b"\x67version\x01")
    pos += header_len
    blocks = []
    while pos < len(car):
        length, pos = read_varint(car, pos)
        section = car[pos : pos + length]
        pos += length
        cid = Cid.from_binary(section[:36])
        assert hashlib.sha256(section[36:]).digest() == cid.digest
        blocks.append(cid)
    assert len(blocks) == len(set(blocks)) == 5  # root + 3 leaves, + the small file


def test_store_from_url(tmp_path: Path) -> None:
    assert isinstance(store_from_url(None, tmp_path), EmbeddedStore)
    with pytest.raises(Exception, match="unsupported IPFS URL"):
        store_from_url("ftp://x", tmp_path)


def test_blocks_of_the_file_per_block_layout_are_imported(tmp_path: Path) -> None:
    data = [os.urandom(CHUNK_SIZE + 5), b"small"]
    cids = [cid_of_bytes(d) for d in data]
    for d in data:  # the earlier layout: blocks/XY/<CID>, XY the CID's next-to-last two characters
        for cid, block in build_dag(d[i : i + CHUNK_SIZE] for i in range(0, len(d), CHUNK_SIZE)):
            name = str(cid)
            (tmp_path / "blocks" / name[-3:-1]).mkdir(parents=True, exist_ok=True)
            (tmp_path / "blocks" / name[-3:-1] / name).write_bytes(block)
    store = EmbeddedStore(tmp_path)
    assert [store.get(c) for c in cids] == data
    assert not (tmp_path / "blocks").exists()
    assert EmbeddedStore(tmp_path).get(cids[0]) == data[0]  # opening again finds nothing left to import


def test_put_many_is_one_transaction_and_threads_share_the_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    with pytest.raises(ValueError), store._db():
        store.put(b"rolled back")
        raise ValueError("the writer failed half-way")
    assert not store.has(cid_of_bytes(b"rolled back"))
    items = [os.urandom(1000) for _ in range(40)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda chunk: store.put_many(chunk), [items[i::4] for i in range(4)]))
    assert sorted(c for part in got for c in part) == sorted(cid_of_bytes(i) for i in items)
    assert all(store.get(cid_of_bytes(i)) == i for i in items)


def test_a_large_file_commits_on_the_way(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    store.commit_bytes = CHUNK_SIZE  # every block

    seen_mid_stream: list[int] = []

    class Source(io.RawIOBase):
        def __init__(self) -> None:
            self.left = 4

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            if not self.left:
                return 0
            if self.left == 1:  # another reader sees the blocks already committed
                with sqlite3.connect(tmp_path / "blocks.db") as db:
                    seen_mid_stream.append(db.execute("SELECT count(*) FROM blocks").fetchone()[0])
            self.left -= 1
            buffer[: len(buffer)] = b"\x07" * len(buffer)
            return len(buffer)

    cid = store.put_stream(io.BufferedReader(Source(), CHUNK_SIZE))
    assert seen_mid_stream and seen_mid_stream[0] >= 1  # without the commits on the way: 0
    assert store.get(cid) == b"\x07" * (4 * CHUNK_SIZE) and cid == cid_of_bytes(b"\x07" * (4 * CHUNK_SIZE))
