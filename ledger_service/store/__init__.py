"""Content stores: one interface; an embedded adapter, a Kubo RPC adapter and an IPFS Cluster adapter, chosen by
URL."""

from __future__ import annotations

from pathlib import Path

from ledger_service.errors import StoreError
from ledger_service.store.base import ContentStore, PinState
from ledger_service.store.cid import Cid, cid_of_bytes
from ledger_service.store.embedded import EmbeddedStore
from ledger_service.store.spool import SpoolingStore


def store_from_url(
    url: str | None,
    data_dir: str | Path,
    *,
    cluster_url: str | None = None,
    replication: tuple[int, int] = (2, 3),
) -> ContentStore:
    """`None` or "embedded" -> EmbeddedStore under `data_dir/ipfs`; http(s):// -> an IpfsRpcStore fed through a
    local spool under `data_dir/spool` (SpoolingStore), so that a dead node delays pinning, not submissions.
    With `cluster_url` (IPFS Cluster REST URLs, comma-separated), `url` lists the members' Kubo RPC URLs and the
    spool feeds a ClusterStore that pins with `replication` (min, max)."""
    if cluster_url:
        from ledger_service.store.cluster import ClusterStore, cluster_urls_from

        kubo = cluster_urls_from(url or "")
        clusters = cluster_urls_from(cluster_url)
        bad = [u for u in [*kubo, *clusters] if not u.startswith(("http://", "https://"))]
        if not kubo or bad:
            raise StoreError(
                f"IPFS Cluster needs the Kubo RPC URLs as http(s)://host:port, comma-separated (got {url!r})"
            )
        rmin, rmax = replication
        target = ClusterStore(clusters, kubo, replication_min=rmin, replication_max=rmax)
        return SpoolingStore(EmbeddedStore(Path(data_dir) / "spool"), target)
    if url is None or url == "embedded":
        return EmbeddedStore(Path(data_dir) / "ipfs")
    if url.startswith(("http://", "https://")):
        from ledger_service.store.ipfs_rpc import IpfsRpcStore

        return SpoolingStore(EmbeddedStore(Path(data_dir) / "spool"), IpfsRpcStore(url))
    raise StoreError(f"unsupported IPFS URL {url!r}: use http(s)://host:port or 'embedded'")


__all__ = ["Cid", "ContentStore", "PinState", "EmbeddedStore", "cid_of_bytes", "SpoolingStore", "store_from_url"]
