"""Content stores: one interface, an embedded adapter and a Kubo RPC adapter, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from ledger_service.errors import StoreError
from ledger_service.store.base import ContentStore
from ledger_service.store.cid import Cid, cid_of_bytes
from ledger_service.store.embedded import EmbeddedStore
from ledger_service.store.spool import SpoolingStore


def store_from_url(url: str | None, data_dir: str | Path) -> ContentStore:
    """`None` or "embedded" -> EmbeddedStore under `data_dir/ipfs`; http(s):// -> an IpfsRpcStore fed through a
    local spool under `data_dir/spool` (SpoolingStore), so that a dead node delays pinning, not submissions."""
    if url is None or url == "embedded":
        return EmbeddedStore(Path(data_dir) / "ipfs")
    if url.startswith(("http://", "https://")):
        from ledger_service.store.ipfs_rpc import IpfsRpcStore

        return SpoolingStore(EmbeddedStore(Path(data_dir) / "spool"), IpfsRpcStore(url))
    raise StoreError(f"unsupported IPFS URL {url!r}: use http(s)://host:port or 'embedded'")


__all__ = ["Cid", "ContentStore", "EmbeddedStore", "cid_of_bytes", "SpoolingStore", "store_from_url"]
