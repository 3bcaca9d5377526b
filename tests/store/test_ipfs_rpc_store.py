"""The Kubo RPC adapter against a real IPFS daemon (js-ipfs, started here): the embedded store's CIDs."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_service.errors import ContentNotFound, StoreUnavailable
from ledger_service.store import EmbeddedStore, cid_of_bytes, store_from_url
from ledger_service.store.cid import CHUNK_SIZE, MAX_LINKS
from ledger_service.store.ipfs_rpc import IpfsRpcStore
from tests.utils.anvil import free_port
from tests.utils.ipfs import ipfs_node


@pytest.fixture(scope="module")
def daemon() -> Iterator[IpfsRpcStore]:
    with ipfs_node() as url:
        store = store_from_url(url, "unused")
        assert isinstance(store, IpfsRpcStore)
        yield store
        store.close()


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
