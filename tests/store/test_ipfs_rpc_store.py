"""The Kubo RPC adapter against a real Kubo daemon (started here), and the embedded store's CIDs against the
ones Kubo itself computes (`ipfs add --only-hash` and the RPC add) for the same bytes."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_service.errors import ContentNotFound, StoreUnavailable
from ledger_service.store import EmbeddedStore, SpoolingStore, cid_of_bytes, store_from_url
from ledger_service.store.cid import CHUNK_SIZE, MAX_LINKS
from ledger_service.store.ipfs_rpc import IpfsRpcStore
from tests.utils.anvil import free_port
from tests.utils.ipfs import init_kubo_repo, ipfs_node, kubo_run


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsRpcStore]:
    with ipfs_node() as url:
        spooled = store_from_url(url, tmp_path_factory.mktemp("data"))
        assert isinstance(spooled, SpoolingStore) and isinstance(spooled.target, IpfsRpcStore)
        yield spooled.target
        spooled.target.close()


@pytest.mark.parametrize(
    "size",
    [0, 11, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 123, (MAX_LINKS + 3) * CHUNK_SIZE],
    ids=["empty", "tiny", "one-chunk", "two-chunks", "six-chunks", "multi-level"],
)
def test_daemon_and_embedded_store_give_the_same_cid(daemon: IpfsRpcStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    from_daemon = daemon.put_stream(io.BytesIO(data))
    assert from_daemon == EmbeddedStore(tmp_path).put(data) == cid_of_bytes(data)
    assert daemon.has(from_daemon)


SIZES = [0, 1, 11, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 123]
SIZES += [MAX_LINKS * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE + 1, (MAX_LINKS + 3) * CHUNK_SIZE + 7]


@pytest.fixture(scope="module")
def offline_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("kubo-repo")
    init_kubo_repo(repo, free_port())
    return repo


def test_embedded_cids_are_the_ones_kubo_computes(offline_repo: Path, tmp_path: Path) -> None:
    """Kubo's own importer (the CLI, offline, hashing only) with the add options the adapters send, and with
    Kubo's CIDv1 defaults alone (raw leaves and 256 KiB chunks follow from --cid-version 1), for sizes around
    the chunk and the 174-link boundaries."""
    embedded = EmbeddedStore(tmp_path)
    files = [os.urandom(n) for n in SIZES]
    paths = []
    for i, data in enumerate(files):
        paths.append(tmp_path / f"f{i:02d}")  # the CLI reports files in name order
        paths[-1].write_bytes(data)
    options = ["--raw-leaves", "--chunker=size-262144", "--hash=sha2-256", "--cid-base=base32"]
    explicit = kubo_run(offline_repo, "add", "--only-hash", "-q", "--cid-version=1", *options, *map(str, paths))
    defaults = kubo_run(offline_repo, "add", "--only-hash", "-q", "--cid-version=1", *map(str, paths))
    ours = [embedded.put(data) for data in files]
    assert ours == [cid_of_bytes(data) for data in files]
    assert explicit.decode().split() == defaults.decode().split() == ours
    single_block = [c.startswith("bafkrei") for c in ours]  # a raw leaf, no DAG node above it
    assert single_block == [n <= CHUNK_SIZE for n in SIZES]


def test_a_changed_byte_changes_the_cid_in_both(offline_repo: Path, tmp_path: Path) -> None:
    data = bytearray(os.urandom(3 * CHUNK_SIZE))
    path = tmp_path / "f"
    path.write_bytes(data)
    before = kubo_run(offline_repo, "add", "--only-hash", "-Q", "--cid-version=1", str(path)).decode().strip()
    data[CHUNK_SIZE + 5] ^= 1
    path.write_bytes(data)
    after = kubo_run(offline_repo, "add", "--only-hash", "-Q", "--cid-version=1", str(path)).decode().strip()
    assert before != after == cid_of_bytes(bytes(data))


def test_many_files_in_one_request_keep_their_order(daemon: IpfsRpcStore) -> None:
    files = [os.urandom(n) for n in (5, 300_000, 17, 0)]
    assert daemon.put_many(files) == [cid_of_bytes(f) for f in files]
    assert daemon.get(cid_of_bytes(files[1])) == files[1]


def test_unknown_content_and_dead_node(daemon: IpfsRpcStore) -> None:
    unknown = cid_of_bytes(b"never stored anywhere " + os.urandom(8))
    assert daemon.has(unknown) is False
    with pytest.raises(ContentNotFound):
        daemon.get(unknown)
    dead = IpfsRpcStore(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    assert dead.is_available() is False
    with pytest.raises(StoreUnavailable):
        dead.put(b"x")


def test_spooled_content_is_pinned_by_push_with_the_same_cids(daemon: IpfsRpcStore, tmp_path: Path) -> None:
    spooled = SpoolingStore(EmbeddedStore(tmp_path / "spool"), daemon, batch_bytes=100_000)
    files = [os.urandom(n) for n in (3, 60_000, 70_000, CHUNK_SIZE * 3 + 5, 9)]
    cids = [spooled.put(f) for f in files]
    assert cids == [cid_of_bytes(f) for f in files]
    assert not any(daemon.has(c) for c in cids)  # spooled, not pinned
    elsewhere = cid_of_bytes(b"declared, lives elsewhere " + os.urandom(8))
    kept_elsewhere = os.urandom(500)  # a canonical record: the index holds it, not the spool
    spooled.push([*cids, cids[0], elsewhere], [kept_elsewhere])
    assert all(daemon.has(c) for c in cids)
    assert daemon.get(cid_of_bytes(kept_elsewhere)) == kept_elsewhere
    assert daemon.get(cids[3]) == files[3]
    assert not daemon.has(elsewhere)


def test_spool_accepts_while_the_node_is_dead_and_keeps_the_content(tmp_path: Path) -> None:
    dead = IpfsRpcStore(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    spooled = SpoolingStore(EmbeddedStore(tmp_path / "spool"), dead)
    cid = spooled.put(b"accepted while IPFS is down")
    assert spooled.spool.is_available() and not spooled.is_available()
    with pytest.raises(StoreUnavailable):
        spooled.push([cid])
    assert spooled.get(cid) == b"accepted while IPFS is down"
