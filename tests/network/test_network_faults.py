"""A 4-signer geth clique network started by `network_up` with each member's Kubo node and IPFS Cluster peer,
the consortium founded on it, and 2,000 records ingested through LAB-SZ's service (a real LedgerService and
anchoring worker; its chain endpoints its own node first then the others', its content added through IPFS
Cluster to its own Kubo node first) while, one after the other during that one ingest, the network suffers
the three faults of issue 15:

(a) LAB-SZ's own node, one of the 4 signers, is SIGKILLed and restarted on its data directory: the service
    fails over to the other nodes, and the killed node comes back without the blocks and pool it had not
    written, then syncs from its peers;
(b) LAB-SZ's own node is partitioned from the 3 others (every peer connection removed on both sides through
    geth's admin API, `admin_removePeer`, then restored with `admin_addPeer`): the service keeps talking to it,
    it seals at most one block of its own (clique lets a signer seal one block in 3 with 4 signers), the
    other three go on, and when it rejoins its own block loses to theirs (a reorganisation);
(c) LAB-SZ's Kubo node and its cluster peer, the very node the service adds content to, are SIGKILLed.

Afterwards every accepted record is anchored exactly once on the canonical chain (once in the index, once
across the chain), final (`QLEDGER_CONFIRMATIONS` blocks deep), VALID when verified through every member's
node with the trust file's contracts, its content replicated (as the index and the cluster say) and
retrievable from every surviving member's Kubo node with its CIDs unchanged, and nothing is lost or
duplicated in SQL or on chain.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ledger_service import station
from ledger_service.api.worker import AnchorWorker
from ledger_service.chain.jsonrpc import FailoverHTTPProvider, JsonRpcChainClient
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.images import el_cell_png
from ledger_service.index.models import AnchorRow, AttemptRow, PinRow, RecordRow
from ledger_service.network.clique import geth_binary, node_pid, rpc, start_node
from ledger_service.network.ipfs import ipfs_peers_status, kill_member
from ledger_service.network.local import Network, network_down, network_status, network_up
from ledger_service.runtime import Runtime, load_deployment, open_runtime
from ledger_service.store import SpoolingStore, cid_of_bytes
from ledger_service.store.cluster import ClusterStore
from ledger_service.verification import RecordTarget, is_valid, record_context, verify_many
from ledger_service.verification.context import genuine_deployment, read_trust_anchor
from tests.utils.chain import anchors_on_chain, roots_on_chain

N = int(os.environ.get("QLEDGER_NETWORK_RECORDS", "2000"))  # one ingest, three faults during it
CHUNK = 25  # records per submission: anchoring goes on in many small batches while the fault lasts


def until(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    geth_binary()  # the engines install script builds it: without it this test fails, it is not skipped
    root = tmp_path_factory.mktemp("network") / "net"
    started = time.monotonic()
    try:
        network = network_up(root, members=4, period_s=1)  # with each member's Kubo node and cluster peer
        print(f"network up with the consortium founded in {time.monotonic() - started:.0f} s")
        yield network
    finally:
        if (root / "network.json").exists():
            network_down(root)


@pytest.fixture
def runtime(net: Network) -> Iterator[Runtime]:
    """LAB-SZ's service as `network up` prints its settings: its own node first, the others' after (failover),
    anchors final 6 blocks deep, content through IPFS Cluster (its own Kubo node and cluster peer first)."""
    (lab,) = [e for e in net.endpoints() if e["member"] == LAB]
    env = lab["env"]
    rt = open_runtime(
        Settings(
            data_dir=net.data_dir,
            chain_url=env["QLEDGER_CHAIN_URL"],
            confirmations=int(env["QLEDGER_CONFIRMATIONS"]),
            ipfs_url=env["QLEDGER_IPFS_URL"],
            ipfs_cluster_url=env["QLEDGER_IPFS_CLUSTER_URL"],
        )
    )
    load_deployment(rt)
    rt.service.chain.receipt_timeout_s = 30
    yield rt
    rt.engine.dispose()


def test_the_network_is_up_with_every_member_a_signer(net: Network) -> None:
    state = network_status(net.root)
    signers = sorted(n.address.lower() for n in net.nodes)
    assert len(state["nodes"]) == 4
    for node in state["nodes"]:
        assert node["running"] and node["peers"] == 3 and node["pid"]
        assert sorted(s.lower() for s in node["signers"]) == signers
    heads = [n["block"] for n in state["nodes"]]
    assert max(heads) - min(heads) <= 2
    # Each member's Kubo node and IPFS Cluster peer run, answer and see the whole cluster.
    assert sorted(p["member"] for p in state["ipfs"]) == sorted(n.member for n in net.nodes)
    for peer in state["ipfs"]:
        assert peer["kubo_running"] and peer["cluster_running"] and peer["kubo_answers"], peer
        assert peer["cluster_peers"] == 4 and peer["replication_min"] >= 2, peer
    # The trust file leads, through every member's node, to the consortium's genuine contracts.
    anchor = read_trust_anchor(net.trust_file)
    for node in net.nodes:
        client = JsonRpcChainClient(node.rpc_url)
        assert genuine_deployment(client, anchor).ledger == anchor.ledger
        assert client.chain_id() == net.chain_id
    # The London build is what runs there (no PUSH0: clique refuses Shanghai).
    code = JsonRpcChainClient(net.nodes[0].rpc_url).w3.eth.get_code(anchor.ledger or "")
    from ledger_service.chain import load_artifact

    london, cancun = (load_artifact("QualityLedger", evm).deployed_bytecode for evm in ("london", "cancun"))
    assert len(code) == len(london) // 2 - 1 != len(cancun) // 2 - 1  # the same code but for its immutables
    assert bytes(code)[-53:] == bytes.fromhex(london[-106:])  # and its metadata trailer (the source's hash)
    # Keys and directories: the owner's alone.
    for node in net.nodes:
        assert stat.S_IMODE((node.dir / "data" / "geth" / "nodekey").stat().st_mode) == 0o600
        assert stat.S_IMODE((node.dir / "password").stat().st_mode) == 0o600
        assert stat.S_IMODE(node.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(net.root.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in (net.data_dir / "keys").glob("*.key"))


def test_network_up_prints_every_members_endpoints(net: Network) -> None:
    """`qledger network up` on the running network (nothing to start) prints, for each of the 4 members, its
    node's chain RPC, its Kubo API and cluster API, and the settings that run its service there."""
    from typer.testing import CliRunner

    from ledger_service.cli import app

    pids = [node_pid(n) for n in net.nodes]
    shown = CliRunner().invoke(app, ["network", "up", "--dir", str(net.root)])
    assert shown.exit_code == 0, shown.output
    assert [node_pid(n) for n in net.nodes] == pids  # nothing was started again
    peers = {p["member"]: p for p in ipfs_peers_status(net.root)}
    lines = shown.output.splitlines()
    for node in net.nodes:
        peer = peers[node.member]
        (line,) = [x for x in lines if x.startswith(f"{node.member}: chain RPC ")]
        assert f"chain RPC {node.rpc_url}," in line
        assert f"Kubo API {peer['kubo_api_url']}," in line and f"cluster API {peer['cluster_api_url']};" in line
        assert f"QLEDGER_CHAIN_URL={','.join(net.chain_urls(node.member))} " in line
        others = [p for m, p in peers.items() if m != node.member]
        kubo = ",".join([peer["kubo_api_url"], *(p["kubo_api_url"] for p in others)])
        assert f"QLEDGER_IPFS_URL={kubo} " in line, line
        assert f"QLEDGER_CONFIRMATIONS={net.confirmations} " in line


def _anchors(runtime: Runtime, ids: list[str]) -> dict[str, tuple[str, int, str | None, bool]]:
    with runtime.service.sessions() as session:
        rows = session.execute(
            select(AnchorRow.record_id, AnchorRow.tx_hash, AnchorRow.block_number, AnchorRow.block_hash,
                   AnchorRow.confirmed).where(AnchorRow.record_id.in_(ids))
        ).all()  # fmt: skip
    return {r: (tx, n, h, c) for r, tx, n, h, c in rows}


def _settled(runtime: Runtime, ids: list[str]) -> bool:
    """Every record anchored and final in the index, no transaction open, each anchor where the chain has it."""
    service = runtime.service
    service.anchor_pending()  # a pass: check the anchors' blocks, confirm the deep ones
    with service.sessions() as session:
        anchored = session.scalar(
            select(func.count()).select_from(RecordRow).where(RecordRow.id.in_(ids), RecordRow.status == "anchored")
        )
        open_ = session.scalar(select(func.count()).select_from(AttemptRow).where(AttemptRow.state == "sending"))
    anchors = _anchors(runtime, ids)
    if anchored != len(ids) or open_ or not all(c for *_, c in anchors.values()):
        return False
    for tx_hash, number, block_hash, _ in set(anchors.values()):
        receipt = service.chain.receipt_of(bytes.fromhex(tx_hash[2:]))
        if receipt is None or (receipt.block_number, "0x" + receipt.block_hash.hex()) != (number, block_hash):
            return False
    return True


def _in_sync(net: Network) -> bool:
    heads = [rpc(n.rpc_url, "eth_getBlockByNumber", "latest", False) for n in net.nodes]
    numbers = [int(h["number"], 16) for h in heads]
    peers = [int(rpc(n.rpc_url, "net_peerCount"), 16) for n in net.nodes]
    return max(numbers) - min(numbers) <= 1 and min(peers) == 3


def test_2000_records_through_a_killed_signer_a_partition_and_a_dead_ipfs_peer(
    net: Network, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = el_cell_png(seed=1, size=96, cracks=0)
    monkeypatch.setattr(station, "el_cell_png", lambda **_: image)  # the records differ; one image serves all
    service = runtime.service
    store = service.store
    assert isinstance(store, SpoolingStore) and isinstance(store.target, ClusterStore)
    own = net.node(LAB)
    others = [n for n in net.nodes if n is not own]
    demo = Demo(service, runtime.keys, seed=15)
    demo.load_calibrations(runtime.certificates)

    def kind(i: int) -> str:  # tier B EL images with a PNG attachment, tier C XRF analyses, a few tier A
        return "tensile_test" if i % 200 == 0 else ("el_image" if i % 2 else "xrf_analysis")

    records = [demo.record(kind(i), i) for i in range(N)]
    worker = AnchorWorker(service, interval_s=0.2, max_backoff_s=1.0)
    accepted: list[str] = []
    gates = [threading.Event() for _ in range(3)]  # fault k has happened: ingest may go past its quarter

    def ingest() -> None:
        for i in range(0, N, CHUNK):
            for k, gate in enumerate(gates):
                if i >= (k + 2) * N // 4 - CHUNK * 4:  # each fault happens while records still arrive
                    gate.wait(timeout=240)
            accepted.extend(s.record_id for s in service.submit_many(records[i : i + CHUNK], actor=LAB))
            worker.wake()
            time.sleep(0.05)

    def anchored_at_least(n: int) -> Callable[[], bool]:
        return lambda: len(_anchors(runtime, list(accepted))) >= n

    facts: dict[str, int] = {}
    started = time.monotonic()
    since = service.chain.block_number()
    feeder = threading.Thread(target=ingest, daemon=True)
    with ExitStack() as stack:
        worker.start()
        stack.callback(worker.stop)
        feeder.start()

        # (a) LAB-SZ's signer SIGKILLed, dead 4 s while the service goes on through the others, restarted.
        until(anchored_at_least(N // 8), "nothing was anchored", timeout=180)
        pid = node_pid(own)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        until(lambda: node_pid(own) is None or not Path(f"/proc/{pid}").exists(), "geth did not die", 10)
        facts["died_at"] = int(rpc(others[0].rpc_url, "eth_blockNumber"), 16)
        time.sleep(4)
        facts["sealed_while_dead"] = int(rpc(others[0].rpc_url, "eth_blockNumber"), 16) - facts["died_at"]
        start_node(own, net.chain_id)
        until(lambda: _in_sync(net), "the restarted node did not rejoin and sync", 120)
        gates[0].set()

        # (b) LAB-SZ's node cut off from the three others for 6 s, then rejoined.
        until(anchored_at_least(N * 3 // 8), "anchoring stopped after the restart", timeout=180)

        def links(add: bool) -> None:
            method = "admin_addPeer" if add else "admin_removePeer"
            for other in others:
                rpc(own.rpc_url, method, other.enode)
                rpc(other.rpc_url, method, own.enode)

        links(add=False)
        until(lambda: int(rpc(own.rpc_url, "net_peerCount"), 16) == 0, "the node kept its peers", 20)
        facts["cut_from"] = int(rpc(own.rpc_url, "eth_blockNumber"), 16)
        time.sleep(6)  # the majority seals ~6 blocks; the isolated signer at most one of its own
        facts["own_head"] = int(rpc(own.rpc_url, "eth_blockNumber"), 16)
        facts["majority_head"] = int(rpc(others[0].rpc_url, "eth_blockNumber"), 16)
        links(add=True)
        gates[1].set()

        # (c) LAB-SZ's Kubo node and cluster peer, where the service adds content first, SIGKILLed.
        until(anchored_at_least(N * 5 // 8), "anchoring stopped after the partition", timeout=180)
        kill_member(net.root, LAB)
        status = {s["member"]: s for s in ipfs_peers_status(net.root)}
        assert not status[LAB]["kubo_running"] and not status[LAB]["cluster_running"]
        gates[2].set()

        feeder.join(timeout=300)
        assert not feeder.is_alive() and len(accepted) == N
        until(anchored_at_least(N), "the records were not all anchored", timeout=240)
    until(lambda: _in_sync(net), "the partitioned node did not rejoin and sync", 120)
    print(f"{N} records through the three faults, anchored: {time.monotonic() - started:.0f} s")

    # (a) the three others sealed on while it was dead; the service failed over and came back to its node.
    assert facts["sealed_while_dead"] > 0
    provider = service.chain.w3.provider
    assert isinstance(provider, FailoverHTTPProvider)
    # (b) while cut off, the node could not build a chain of its own: one block at most (the signer limit).
    assert facts["own_head"] - facts["cut_from"] <= 1
    assert facts["majority_head"] - facts["cut_from"] >= 3
    _exactly_once_and_valid_everywhere(net, runtime, accepted, since)
    assert provider.switches >= 2  # away from its dead node, and back once it had synced
    assert provider.current_url == own.rpc_url
    # (c) every record's content replicated on the survivors, retrievable from each with its CID.
    _content_on_every_survivor(net, runtime, accepted)
    print(f"(a), (b), (c) with {N} records, checked: {time.monotonic() - started:.0f} s")


def _exactly_once_and_valid_everywhere(net: Network, runtime: Runtime, ids: list[str], since: int) -> None:
    """The checks after a fault; `since`: the chain's head before the records were submitted."""
    until(lambda: _settled(runtime, ids), "the anchors did not all become final where the chain has them", 180)
    service = runtime.service
    anchors = _anchors(runtime, ids)
    assert sorted(anchors) == sorted(ids)  # one anchor row each in the index (record_id is its key)
    with service.sessions() as session:
        attempts = session.execute(select(AttemptRow.state, AttemptRow.record_ids)).all()
    done = Counter(r for state_, rs in attempts if state_ == "done" for r in rs if r in set(ids))
    # No record in two mined transactions (a tier A record found on chain already is adopted, with no attempt).
    assert set(done.values()) == {1} and len(done) >= len(ids) - N // 200
    with service.sessions() as session:
        tier_c = dict(
            session.execute(
                select(AnchorRow.record_id, AnchorRow.root).where(AnchorRow.record_id.in_(ids), AnchorRow.tier == "C")
            ).all()
        )
        every_root = set(session.scalars(select(AnchorRow.root).where(AnchorRow.tier == "C")).all())
    assert service.chain.deployment is not None
    assert tier_c and len(tier_c) < len(ids)  # both kinds were anchored: roots, and records by id
    anchor = read_trust_anchor(net.trust_file)
    for node in net.nodes:  # each member's node, on its own: the same canonical chain, the same verdicts
        client = JsonRpcChainClient(node.rpc_url)
        client.attach(genuine_deployment(client, anchor))
        client.deployment = replace(service.chain.deployment, block=since)  # events since the test began
        counts = anchors_on_chain(client)  # tier A events and tier B batch headers, over the whole chain
        assert Counter(counts[r] for r in ids if r not in tier_c) == Counter({1: len(ids) - len(tier_c)})
        roots = roots_on_chain(client)
        # Each tier C root once, and no root on chain since then that the index does not hold (a root sent
        # again under a new nonce after its first transaction was mined after all).
        assert set(tier_c.values()) <= set(roots) <= every_root and set(roots.values()) == {1}
        targets = [RecordTarget(service.evidence(r)) for r in ids]
        results = verify_many(targets, record_context(ChainReader(client), service.store))
        invalid = [f for f in results if not is_valid(f)]
        assert not invalid, (node.member, invalid[0])


def _content_on_every_survivor(net: Network, runtime: Runtime, ids: list[str]) -> None:
    service = runtime.service
    deadline = time.monotonic() + 150
    while True:  # the worker is stopped: these passes push again what the dead node held alone
        service.pin_pending()
        counts = service.check_replication(batch=100_000, repush_after_s=10)
        with service.sessions() as session:
            unpinned = session.query(RecordRow).filter(RecordRow.id.in_(ids), RecordRow.pinned_at.is_(None)).count()
        if not unpinned and set(service.replication_counts()) == {"replicated"}:
            break
        assert time.monotonic() < deadline, f"{unpinned} unpinned, pins {counts}"
        time.sleep(0.5)
    service.check_replication(batch=100_000, recheck_after_s=0)  # every pin read again from the cluster
    survivors = [p for p in ipfs_peers_status(net.root) if p["member"] != LAB]
    with service.sessions() as session:
        rows = session.query(RecordRow).filter(RecordRow.id.in_(ids)).all()
        assert len(rows) == len(set(ids)) == N  # nothing lost, nothing twice
        content = {c for r in rows for c in [r.cid, *(a.cid for a in r.attachments)] if c}
        canonical = {r.cid: r.canonical for r in rows}
        pins = {p.cid: p for p in session.query(PinRow).filter(PinRow.cid.in_(content)).all()}
    assert len(content) > N  # every el_image brings its PNG
    assert set(pins) == content and {p.state for p in pins.values()} == {"replicated"}
    assert all(p.peers_pinned >= 2 for p in pins.values())
    cluster = ClusterStore([p["cluster_api_url"] for p in survivors], [p["kubo_api_url"] for p in survivors])
    for cid in sorted(content)[::11]:  # the cluster itself agrees (a sample: one status call per CID)
        held = cluster.cluster_pin(cid).pinned
        assert len(held) >= 2 and LAB not in held, (cid, held)
    cluster.close()
    for peer in survivors:  # any surviving member's node serves every file, with its CID
        with httpx.Client(base_url=peer["kubo_api_url"], timeout=30) as node:
            for cid in sorted(content):
                r = node.post("/api/v0/cat", params={"arg": cid})
                assert r.status_code == 200 and cid_of_bytes(r.content) == cid, (peer["member"], cid)
                if cid in canonical:
                    assert r.content == canonical[cid]
    # `qledger status` shows where a record's content is replicated, through the survivors' endpoints.
    env = {
        "QLEDGER_DATA_DIR": str(net.data_dir),
        "QLEDGER_CHAIN_URL": ",".join(net.chain_urls(LAB)),
        "QLEDGER_CONFIRMATIONS": str(net.confirmations),
        "QLEDGER_IPFS_URL": ",".join(p["kubo_api_url"] for p in survivors),
        "QLEDGER_IPFS_CLUSTER_URL": ",".join(p["cluster_api_url"] for p in survivors),
    }
    from typer.testing import CliRunner

    from ledger_service.cli import app

    shown = CliRunner().invoke(app, ["status", ids[1], "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    replication = json.loads(shown.stdout)["replication"]
    assert {r["cid"] for r in replication} == set(service.content_cids(ids[1]))
    assert {r["state"] for r in replication} == {"replicated"}


def test_the_cli_reports_and_stops_the_network(net: Network) -> None:
    """`qledger network status` and `qledger network down`, as a user runs them (last: it stops the nodes)."""
    from typer.testing import CliRunner

    from ledger_service.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["network", "status", "--dir", str(net.root), "--json"])
    assert shown.exit_code == 0, shown.output
    state = json.loads(shown.output)
    assert [n["member"] for n in state["nodes"]] == [n.member for n in net.nodes]
    assert all(n["running"] and len(n["signers"]) == 4 for n in state["nodes"])
    pids = [n["pid"] for n in state["nodes"]]
    stopped = runner.invoke(app, ["network", "down", "--dir", str(net.root)])
    assert stopped.exit_code == 0, stopped.output
    assert "stopped 4 node(s)" in stopped.output
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    after = runner.invoke(app, ["network", "status", "--dir", str(net.root)])
    assert after.exit_code == 4  # every node down: could not tell
    missing = runner.invoke(app, ["network", "status", "--dir", str(net.root / "nowhere")])
    assert missing.exit_code == 1 and "network.json" in missing.output
