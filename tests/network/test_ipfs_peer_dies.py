"""Fault (c) of the consortium network: records whose content goes through IPFS Cluster are ingested while one
member's Kubo node and its cluster peer are SIGKILLed, the very node the service adds content to. Afterwards
every accepted record's content is retrievable from every surviving member's node with its CIDs unchanged,
the index's replication state says so and agrees with the cluster, and nothing is lost or anchored twice."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from ledger_service.cli import app
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.errors import StoreError, StoreUnavailable
from ledger_service.index.models import AnchorRow, PinRow, RecordRow
from ledger_service.network.ipfs import ipfs_peers_status, kill_member
from ledger_service.runtime import open_runtime, save_deployment
from ledger_service.store import SpoolingStore, cid_of_bytes
from ledger_service.store.cluster import ClusterStore
from tests.utils.anvil import anvil_node
from tests.utils.ipfs import ipfs_peer_set

N = 2000
CHUNK = 25
MEMBERS = ["M1", "M2", "M3", "M4"]
VICTIM = "M1"  # first in the service's lists: its adds and pins go there until it dies


def test_content_survives_a_dead_ipfs_peer(tmp_path: Path) -> None:
    root = tmp_path / "net"
    with ipfs_peer_set(root, MEMBERS, replication_min=2, replication_max=3) as peers, anvil_node() as chain_url:
        settings = Settings(
            data_dir=tmp_path / "data",
            chain_url=chain_url,
            ipfs_url=",".join(p.kubo_api_url for p in peers),
            ipfs_cluster_url=",".join(p.cluster_api_url for p in peers),
            ipfs_replication_min=2,
            ipfs_replication_max=3,
        )
        runtime = open_runtime(settings)
        service = runtime.service
        assert isinstance(service.store, SpoolingStore) and isinstance(service.store.target, ClusterStore)
        demo = Demo(service, runtime.keys, seed=15)
        demo.found_consortium()
        demo.calibrate_instruments()
        save_deployment(runtime, demo.certificates)  # what `qledger status` below reads
        kinds = ["el_image", "xrf_analysis"]  # tier B with a PNG attachment, tier C without
        items = [demo.record(kinds[i % 2], 900_000 + i) for i in range(N)]

        accepted: list[str] = []
        killed = threading.Event()
        failures: list[str] = []
        stop = threading.Event()

        def ingest() -> None:
            for i in range(0, N, CHUNK):
                if i >= N // 3:
                    killed.wait(timeout=120)
                accepted.extend(s.record_id for s in service.submit_many(items[i : i + CHUNK], actor=LAB))

        def pin() -> None:  # the worker's pinning half
            while not stop.is_set():
                try:
                    service.pin_pending()
                    service.check_replication(repush_after_s=10)
                except (StoreUnavailable, StoreError) as error:
                    failures.append(str(error))
                time.sleep(0.1)

        threads = [threading.Thread(target=ingest, daemon=True), threading.Thread(target=pin, daemon=True)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(accepted) < N // 3 or not service.replication_counts().get("replicated"):
            assert time.monotonic() < deadline and threads[0].is_alive(), f"{len(accepted)} accepted"
            time.sleep(0.05)
        kill_member(root, VICTIM)  # mid-ingest: its node and cluster peer, no clean-up
        killed.set()
        status = {s["member"]: s for s in ipfs_peers_status(root)}
        assert not status[VICTIM]["kubo_running"] and not status[VICTIM]["cluster_running"]
        threads[0].join(timeout=300)
        assert not threads[0].is_alive() and len(accepted) == N

        # The pinning worker goes on until every file is replicated on the survivors, as the index sees it.
        deadline = time.monotonic() + 150
        while True:
            with service.sessions() as session:
                unpinned = session.query(RecordRow).filter(RecordRow.pinned_at.is_(None)).count()
            counts = service.replication_counts()
            if not unpinned and set(counts) == {"replicated"}:
                break
            assert time.monotonic() < deadline, f"{unpinned} unpinned, pins {counts}; {failures[-3:]}"
            time.sleep(0.5)
        stop.set()
        threads[1].join(timeout=60)
        # One more pass that re-reads every pin from the cluster (with the victim dead for a while now).
        service.check_replication(batch=100_000, recheck_after_s=0)

        survivors = [p for p in peers if p.member != VICTIM]
        with service.sessions() as session:
            rows = session.query(RecordRow).filter(RecordRow.id.in_(accepted)).all()
            assert len(rows) == len(set(accepted)) == N  # nothing lost, nothing twice
            assert all(r.pinned_at is not None for r in rows)
            content = {c for r in rows for c in [r.cid, *(a.cid for a in r.attachments)] if c}
            canonical = {r.cid: r.canonical for r in rows}
            pins = {p.cid: p for p in session.query(PinRow).filter(PinRow.cid.in_(content)).all()}
        assert len(content) > N  # every el_image brings its PNG
        assert set(pins) == content
        assert {p.state for p in pins.values()} == {"replicated"}
        assert all(p.peers_pinned >= 2 and p.replication_min == 2 for p in pins.values())
        cluster = ClusterStore([p.cluster_api_url for p in survivors], [p.kubo_api_url for p in survivors])
        for cid in sorted(content)[::7]:  # the cluster itself agrees (a sample: one status call per CID)
            held = cluster.cluster_pin(cid).pinned
            assert len(held) >= 2 and VICTIM not in held, (cid, held)
        for peer in survivors:  # any surviving member's node serves every file, with its CID
            with httpx.Client(base_url=peer.kubo_api_url, timeout=30) as node:
                for cid in sorted(content):
                    r = node.post("/api/v0/cat", params={"arg": cid})
                    assert r.status_code == 200 and cid_of_bytes(r.content) == cid, (peer.member, cid)
                    if cid in canonical:
                        assert r.content == canonical[cid]
        cluster.close()

        anchored = service.anchor_pending()
        assert service.anchor_pending() == 0
        with service.sessions() as session:
            anchors = [a for (a,) in session.query(AnchorRow.record_id).filter(AnchorRow.record_id.in_(accepted))]
        assert anchored >= N and sorted(anchors) == sorted(accepted)  # each record anchored once

        # `qledger status` shows where a record's content is replicated (through the survivors' endpoints).
        env = {
            "QLEDGER_DATA_DIR": str(settings.data_dir),
            "QLEDGER_CHAIN_URL": chain_url,
            "QLEDGER_IPFS_URL": ",".join(p.kubo_api_url for p in survivors),
            "QLEDGER_IPFS_CLUSTER_URL": ",".join(p.cluster_api_url for p in survivors),
        }
        shown = CliRunner().invoke(app, ["status", accepted[0], "--json"], env=env)
        assert shown.exit_code == 0, shown.output
        replication = json.loads(shown.stdout)["replication"]
        assert {r["cid"] for r in replication} == set(service.content_cids(accepted[0]))
        assert {r["state"] for r in replication} == {"replicated"}
        runtime.engine.dispose()
