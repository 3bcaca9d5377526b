"""Content replication over the consortium's IPFS peers: the time from handing a record's attachments to IPFS
Cluster (added to one member's Kubo node, pinned through the cluster with replication factor 2..3) until the
cluster reports them pinned on `replication_min` members' nodes, p50 and p99, against the baseline of the same
files added to a single Kubo node (one RPC add), in the same run, on the same peers.

    .venv/bin/python bench/replication.py [RECORDS] [MEMBERS]     (default 200 records, 4 members)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from ledger_service.store.cluster import ClusterStore  # noqa: E402
from ledger_service.store.ipfs_rpc import IpfsRpcStore  # noqa: E402
from tests.utils.ipfs import ipfs_peer_set  # noqa: E402

SIZES = (40_000, 1 << 20)  # an EL image's PNG, a 1 MiB raw file (4 chunks): one record's attachments
RMIN, RMAX = 2, 3


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    members = [f"M{i + 1}" for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 4)]
    with tempfile.TemporaryDirectory() as d, ipfs_peer_set(Path(d), members, RMIN, RMAX) as peers:
        single = IpfsRpcStore(peers[0].kubo_api_url)
        cluster = ClusterStore(
            [p.cluster_api_url for p in peers],
            [p.kubo_api_url for p in peers],
            replication_min=RMIN,
            replication_max=RMAX,
        )
        for _ in range(5):  # warm both paths
            cluster.put_many([os.urandom(n) for n in SIZES])
            single.put_many([os.urandom(n) for n in SIZES])
        baseline, to_min, to_max = [], [], []
        for i in range(records):
            files = [os.urandom(n) for n in SIZES]
            if i % 2:  # interleaved, so that both see the same machine load
                start = time.perf_counter()
                single.put_many(files)
                baseline.append(time.perf_counter() - start)
                continue
            start = time.perf_counter()
            cids = cluster.put_many(files)
            reached_min = None
            while True:
                counts = [len(cluster.cluster_pin(c).pinned) for c in cids]
                now = time.perf_counter() - start
                if reached_min is None and min(counts) >= RMIN:
                    reached_min = now
                if min(counts) >= RMAX:
                    break
                if now > 60:
                    raise SystemExit(f"record {i}: pinned on {counts} nodes after 60 s")
                time.sleep(0.01)
            to_min.append(reached_min or now)
            to_max.append(now)
        cluster.close()
        single.close()
    base50, base99 = statistics.median(baseline), pct(baseline, 0.99)
    rows = [
        ("single Kubo add (baseline)", base50, base99),
        (f"through the cluster, until on {RMIN} nodes (replication_min)", statistics.median(to_min), pct(to_min, 0.99)),
        (f"through the cluster, until on {RMAX} nodes (replication_max)", statistics.median(to_max), pct(to_max, 0.99)),
    ]
    table = ["| path | p50 ms | p99 ms | p50 ratio | p99 ratio |", "|---|---:|---:|---:|---:|"]
    for name, p50, p99 in rows:
        table.append(f"| {name} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {p50 / base50:.1f}x | {p99 / base99:.1f}x |")
    body = (
        f"{len(members)} members, each one Kubo v0.39.0 node and one IPFS Cluster v1.1.6 peer (CRDT) on loopback, "
        f"all on the same machine; per record two attachments ({SIZES[0] // 1000} kB and 1 MiB, "
        f"random bytes), {len(to_min)} records through the cluster (added to one node, pinned with replication "
        f"{RMIN}..{RMAX}, polled every 10 ms) interleaved with {len(baseline)} single-node adds of the same sizes.\n\n"
        + "\n".join(table)
        + f"\n\nThe time to reach the replication factor is {pct(to_min, 0.99) / base99:.1f}x a single add at p99."
    )
    print(body)
    write_section("replication", "Content replication over IPFS Cluster (bench/replication.py)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
