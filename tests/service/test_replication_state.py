"""The index's replication state of content handed to a replicating store (IPFS Cluster in production; here an
in-memory stand-in whose answers the test sets, so that every branch of `check_replication` is reached: the
real cluster is in tests/network/)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pytest
from fastapi.testclient import TestClient

from ledger_service.api.main import create_app
from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.errors import ContentNotFound
from ledger_service.index.models import PinRow
from ledger_service.runtime import open_runtime
from ledger_service.service import LedgerService
from ledger_service.store import EmbeddedStore, SpoolingStore, cid_of_bytes
from ledger_service.store.base import ContentStore, PinState


class Replicating(ContentStore):
    """Holds files in memory; reports for each CID the number of nodes `peers` says (absent: not tracked)."""

    replication_min = 2

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.peers: dict[str, int] = {}
        self.added: list[str] = []

    def put(self, data: bytes) -> str:
        return self.put_many([data])[0]

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        cids = [cid_of_bytes(i) for i in items]
        for cid, data in zip(cids, items, strict=True):
            self.files[cid] = data
            self.peers.setdefault(cid, 0)
        self.added += cids
        return cids

    def put_stream(self, stream: BinaryIO) -> str:
        return self.put(stream.read())

    def get(self, cid: str) -> bytes:
        if cid not in self.files:
            raise ContentNotFound(cid)
        return self.files[cid]

    def has(self, cid: str) -> bool:
        return cid in self.files

    def is_available(self) -> bool:
        return True

    def replication(self, cids: Sequence[str]) -> dict[str, PinState]:
        def state(cid: str) -> str:
            if cid not in self.peers:
                return "missing"
            return "replicated" if self.peers[cid] >= self.replication_min else "pinning"

        return {c: PinState(c, self.peers.get(c, 0), self.replication_min, state(c)) for c in cids}


@pytest.fixture
def world(tmp_path: Path) -> tuple[LedgerService, Replicating, Demo]:
    """A consortium on the embedded chain; its service's store is swapped for a spool feeding `Replicating`."""
    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    s = runtime.service
    # The embedded store keeps one copy: nothing to track.
    assert s.store.replication_min == 0 and s.check_replication() == {} and s.replication_counts() == {}
    cluster = Replicating()
    store = SpoolingStore(EmbeddedStore(tmp_path / "spool"), cluster)
    service = LedgerService(chain=s.chain, store=store, sessions=s.sessions, accounts=s.accounts, tiers=s.tiers)
    return service, cluster, demo


def states(service: LedgerService) -> dict[str, tuple[int, str]]:
    with service.sessions() as session:
        return {r.cid: (r.peers_pinned, r.state) for r in session.query(PinRow)}


def test_replication_is_tracked_per_cid_and_lost_content_pushed_again(
    world: tuple[LedgerService, Replicating, Demo],
) -> None:
    service, cluster, demo = world
    ids = [s.record_id for s in service.submit_many([demo.record("el_image", i) for i in range(3)], actor=LAB)]
    assert service.pin_pending() == 3
    cids = {c for r in ids for c in service.content_cids(r)}
    assert len(cids) == 6  # each record's canonical JSON and its PNG
    assert states(service) == dict.fromkeys(cids, (0, "pinning"))
    assert service.replication_counts() == {"pinning": 6}

    done, waiting, lost = sorted(cids)[:3], sorted(cids)[3:5], sorted(cids)[5]
    for c in done:
        cluster.peers[c] = 2
    for c in waiting:
        cluster.peers[c] = 1
    del cluster.peers[lost]  # the cluster forgot it (its pin never committed)
    cluster.added.clear()
    assert service.check_replication() == {"replicated": 3, "pinning": 2, "missing": 1}
    assert cluster.added == [lost]  # pushed again, from the index or the spool, with its CID
    now = states(service)
    assert all(now[c] == (2, "replicated") for c in done)
    assert all(now[c] == (1, "pinning") for c in waiting) and now[lost] == (0, "pinning")

    # Still short of the factor after `repush_after_s`: the node it went to may be dead, push it again.
    cluster.added.clear()
    service.check_replication(repush_after_s=0)
    assert sorted(cluster.added) == sorted([*waiting, lost])
    assert cid_of_bytes(cluster.get(lost)) == lost

    # A replicated CID is checked again later, and goes back to pinning when a node holding it died.
    cluster.peers[done[0]] = 1
    service.check_replication(recheck_after_s=3600)
    assert states(service)[done[0]] == (2, "replicated")  # not due yet
    service.check_replication(recheck_after_s=0)
    assert states(service)[done[0]] == (1, "pinning")

    for c in cids:
        cluster.peers[c] = 3
    service.check_replication(recheck_after_s=0)
    assert service.replication_counts() == {"replicated": 6}
    assert {p.state for r in ids for p in service.replication_of(service.content_cids(r))} == {"replicated"}
    with service.sessions() as session:
        assert all(r.replicated_at is not None for r in session.query(PinRow))
    cluster.peers[done[1]] = 0
    service.check_replication(recheck_after_s=0)
    with TestClient(create_app(service, worker=False)) as client:
        metrics = client.get("/metrics").text
    assert 'qledger_pins{state="replicated"} 5.0' in metrics and 'qledger_pins{state="pinning"} 1.0' in metrics
