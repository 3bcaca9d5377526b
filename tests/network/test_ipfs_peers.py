"""A local IPFS peer set (ledger_service/network/ipfs.py) of real Kubo nodes and IPFS Cluster peers, and the
IPFS Cluster content store over it: content pinned on several members' nodes with the CIDs the embedded store
computes, read from any node that holds it, refused from one that returns other bytes."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_service.errors import ContentNotFound, StoreError, StoreUnavailable
from ledger_service.network.ipfs import IpfsNetworkError, IpfsPeer, ipfs_peers_status, launch_ipfs_peers
from ledger_service.store import SpoolingStore, cid_of_bytes, store_from_url
from ledger_service.store.cid import CHUNK_SIZE
from ledger_service.store.cluster import ClusterStore
from ledger_service.store.ipfs_rpc import IpfsRpcStore
from tests.utils.anvil import free_port
from tests.utils.ipfs import ipfs_peer_set

MEMBERS = ["LAB-A", "LAB-B", "LAB-C"]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[IpfsPeer]]]:
    root = tmp_path_factory.mktemp("net")
    with ipfs_peer_set(root, MEMBERS, replication_min=2, replication_max=2) as peers:
        yield root, peers


@pytest.fixture(scope="module")
def store(network: tuple[Path, list[IpfsPeer]]) -> Iterator[ClusterStore]:
    _, peers = network
    s = ClusterStore(
        [p.cluster_api_url for p in peers], [p.kubo_api_url for p in peers], replication_min=2, replication_max=2
    )
    yield s
    s.close()


def wait_replicated(store: ClusterStore, cids: list[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        states = store.replication(cids)
        if all(p.state == "replicated" for p in states.values()):
            return
        assert time.monotonic() < deadline, {c: p for c, p in states.items() if p.state != "replicated"}
        time.sleep(0.3)


def test_the_peer_set_runs_detached_with_private_keys(network: tuple[Path, list[IpfsPeer]]) -> None:
    root, peers = network
    assert [p.member for p in peers] == MEMBERS
    status = ipfs_peers_status(root)
    assert [s["member"] for s in status] == MEMBERS
    assert all(s["kubo_running"] and s["cluster_running"] and s["kubo_answers"] for s in status)
    assert all(s["cluster_peers"] == len(MEMBERS) for s in status)
    for peer in peers:
        assert json.loads(json.dumps(peer.as_json()))["pids"] == list(peer.pids)
        for pid in peer.pids:  # a session of its own: the caller's signals (Ctrl-C) do not reach it
            assert os.getsid(pid) == pid
    for secret in [*root.glob("ipfs/*/cluster/identity.json"), *root.glob("ipfs/*/cluster/service.json")]:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert stat.S_IMODE((root / "ipfs" / MEMBERS[0] / "kubo" / "config").stat().st_mode) == 0o600
    # every peer shares one secret and trusts every member's peer, nobody else
    services = [json.loads(p.read_text()) for p in sorted(root.glob("ipfs/*/cluster/service.json"))]
    assert len({s["cluster"]["secret"] for s in services}) == 1
    trusted = {tuple(sorted(s["consensus"]["crdt"]["trusted_peers"])) for s in services}
    ids = sorted(json.loads(p.read_text())["id"] for p in root.glob("ipfs/*/cluster/identity.json"))
    assert trusted == {tuple(ids)}
    with pytest.raises(IpfsNetworkError, match="running already"):
        launch_ipfs_peers(root, MEMBERS)


def test_content_reaches_the_replication_factor_with_our_cids(store: ClusterStore) -> None:
    files = [os.urandom(n) for n in (0, 17, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 9)]
    cids = store.put_many(files)
    assert cids == [cid_of_bytes(f) for f in files]
    wait_replicated(store, cids)
    for cid, data in zip(cids, files, strict=True):
        pin = store.cluster_pin(cid)
        assert len(pin.pinned) == 2 and pin.allocations == 2 and not pin.errors
        holders = [n for n in store.nodes if n.has(cid)]
        assert len(holders) >= 2  # the node it was added to, and the cluster's allocations
        assert store.get(cid) == data
    states = store.replication(cids)
    assert {(p.peers_pinned, p.replication_min, p.state) for p in states.values()} == {(2, 2, "replicated")}


def test_reads_come_from_any_node_holding_the_content(
    network: tuple[Path, list[IpfsPeer]], store: ClusterStore
) -> None:
    _, peers = network
    data = os.urandom(1000)
    (cid,) = store.put_many([data])
    wait_replicated(store, [cid])
    holder = next(p for p in peers if IpfsRpcStore(p.kubo_api_url).has(cid))
    dead = f"http://127.0.0.1:{free_port()}"
    reader = ClusterStore([dead, peers[0].cluster_api_url], [dead, holder.kubo_api_url])
    assert reader.get(cid) == data
    unknown = cid_of_bytes(b"nobody holds this " + os.urandom(8))
    with pytest.raises(ContentNotFound):
        reader.get(unknown)
    assert reader.replication([unknown])[unknown].state == "missing"
    nobody = ClusterStore([dead], [dead], replication_min=1, replication_max=1)
    assert not nobody.is_available()
    with pytest.raises(StoreUnavailable):
        nobody.get(cid)
    with pytest.raises(StoreUnavailable):
        nobody.put(b"x")


def test_a_node_that_returns_other_bytes_is_refused(store: ClusterStore, tmp_path: Path) -> None:
    """A member's node (or something on its port) answers a CID with other bytes: the read goes to the next
    node; when no honest node holds it, the read fails, it never returns the wrong bytes."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    data = os.urandom(2000)
    (cid,) = store.put_many([data])

    class Liar(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = b"forged content"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    liar = f"http://127.0.0.1:{server.server_port}"
    try:
        honest = next(n.url for n in store.nodes if n.has(cid))
        assert ClusterStore(store.cluster_urls, [liar, honest]).get(cid) == data
        with pytest.raises(StoreError, match="refused"):
            ClusterStore(store.cluster_urls, [liar]).get(cid)
    finally:
        server.shutdown()


def test_the_service_store_spools_and_pins_through_the_cluster(
    network: tuple[Path, list[IpfsPeer]], tmp_path: Path
) -> None:
    _, peers = network
    spooled = store_from_url(
        ",".join(p.kubo_api_url for p in peers),
        tmp_path,
        cluster_url=",".join(p.cluster_api_url for p in peers),
        replication=(2, 2),
    )
    assert isinstance(spooled, SpoolingStore) and isinstance(spooled.target, ClusterStore)
    assert spooled.replication_min == 2
    files = [os.urandom(n) for n in (10, 2 * CHUNK_SIZE)]
    cids = [spooled.put(f) for f in files]
    assert spooled.replication(cids)[cids[0]].state == "missing"  # spooled only
    blob = os.urandom(300)
    assert spooled.push(cids, [blob]) == [cid_of_bytes(blob), *cids]
    wait_replicated(spooled.target, [*cids, cid_of_bytes(blob)])
    with pytest.raises(StoreError, match="Kubo RPC URLs"):
        store_from_url(None, tmp_path, cluster_url=peers[0].cluster_api_url)


def test_status_of_a_directory_without_peers(tmp_path: Path) -> None:
    with pytest.raises(IpfsNetworkError, match="no IPFS peer set"):
        ipfs_peers_status(tmp_path)
    with pytest.raises(IpfsNetworkError, match="each member once"):
        launch_ipfs_peers(tmp_path, ["A", "A"])


def test_stop_leaves_nothing_running_and_a_relaunch_keeps_identities_and_content(tmp_path: Path) -> None:
    with ipfs_peer_set(tmp_path, ["ONE", "TWO"], replication_min=1, replication_max=2) as peers:
        pids = [pid for p in peers for pid in p.pids]
        data = os.urandom(5000)
        store = ClusterStore([peers[0].cluster_api_url], [peers[0].kubo_api_url], replication_min=1, replication_max=2)
        (cid,) = store.put_many([data])
        wait_replicated(store, [cid])
        store.close()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids):
        assert time.monotonic() < deadline, "an engine outlived stop_ipfs_peers"
        time.sleep(0.1)
    status = ipfs_peers_status(tmp_path)
    assert not any(s["kubo_running"] or s["cluster_running"] for s in status)
    with pytest.raises(IpfsNetworkError, match="other members"):
        launch_ipfs_peers(tmp_path, ["ONE", "THREE"])
    with ipfs_peer_set(tmp_path, ["ONE", "TWO"]) as again:  # started again as configured
        assert [(p.kubo_api_url, p.cluster_api_url) for p in again] == [
            (p.kubo_api_url, p.cluster_api_url) for p in peers
        ]
        store = ClusterStore([again[1].cluster_api_url], [again[0].kubo_api_url], replication_min=1)
        assert store.get(cid) == data and store.cluster_pin(cid).pinned  # the pin set survived too
        store.close()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return "Z"
