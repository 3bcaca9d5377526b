"""Content stores: one interface, an embedded adapter and a Kubo RPC adapter, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from ledger_service.errors import StoreError
from ledger_service.store.base import ContentStore
from ledger_service.store.cid import Cid, cid_of_bytes
from ledger_service.store.embedded import EmbeddedStore


def store_from_url(url: str | None, data_dir: str | Path) -> ContentStore:
    """`None` or "embedded" -> EmbeddedStore under `data_dir/ipfs`; http(s):// -> IpfsRpcStore."""
    if url is None or url == "embedded":
        return EmbeddedStore(Path(data_dir) / "ipfs")
    if url.startswith(("http://", "https://")):
        from ledger_service.store.ipfs_rpc import IpfsRpcStore

        return IpfsRpcStore(url)
    raise StoreError(f"unsupported IPFS URL {url!r}: use http(s)://host:port or 'embedded'")


__all__ = ["Cid", "ContentStore", "EmbeddedStore", "cid_of_bytes", "store_from_url"]
