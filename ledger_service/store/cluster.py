"""IPFS Cluster as the content store: files are added to one of the members' Kubo nodes (RPC API, the same
add options as IpfsRpcStore, so the same CIDs), then pinned through the cluster's REST API with a replication
factor; the cluster has the other members' nodes fetch and pin them. Reads are served by any node that holds
the content, and refused from a node whose bytes do not hash to the CID asked for (docs/architecture.md
section 11).

Every endpoint is a list: a dead node or cluster peer is skipped, the next one answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, TypeVar

from ledger_service.errors import ContentNotFound, StoreError, StoreUnavailable
from ledger_service.store.base import ContentStore, PinState
from ledger_service.store.cid import cid_of_bytes
from ledger_service.store.ipfs_rpc import IpfsRpcStore

log = logging.getLogger("qledger.store")
PINNED: Final = "pinned"
T = TypeVar("T")
E = TypeVar("E")
STATUS_BATCH: Final = 100
EMPTY: Final = cid_of_bytes(b"")


@dataclass(frozen=True)
class ClusterPin:
    """What the cluster says of one CID: which peers pin it, and which of those are in error."""

    cid: str
    pinned: tuple[str, ...]  # peer names whose node holds the whole DAG
    errors: tuple[str, ...]  # peer names whose node failed to pin it (or whose cluster peer is unreachable)
    allocations: int  # how many peers the cluster chose to hold it (0: the cluster does not track it)


class ClusterStore(ContentStore):
    """ContentStore over IPFS Cluster (REST API at `cluster_urls`) and its members' Kubo nodes (`kubo_urls`,
    RPC API). Writes go to the first node that answers; reads try each node in turn."""

    def __init__(
        self,
        cluster_urls: Sequence[str],
        kubo_urls: Sequence[str],
        *,
        replication_min: int = 2,
        replication_max: int = 3,
        timeout_s: float = 60.0,
    ) -> None:
        import httpx  # imported where used, as the other adapters' clients

        if not cluster_urls or not kubo_urls:
            raise StoreError("an IPFS Cluster store needs at least one cluster REST URL and one Kubo RPC URL")
        if not 1 <= replication_min <= replication_max:
            raise StoreError("replication: need 1 <= replication_min <= replication_max")
        self.cluster_urls = [u.rstrip("/") for u in cluster_urls]
        self.nodes = [IpfsRpcStore(u, timeout_s=timeout_s) for u in kubo_urls]
        self.replication_min = replication_min
        self.replication_max = replication_max
        self._http = httpx.Client(timeout=timeout_s)
        self._transport_errors: tuple[type[Exception], ...] = (httpx.TransportError,)

    # ------------------------------------------------------------------ writes

    def put(self, data: bytes) -> str:
        return self.put_many([data])[0]

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        cids = self._on_a_node(lambda node: node.put_many(items))
        if EMPTY in cids:
            self._put_empty_everywhere()
        self.pin(cids)
        return cids

    def _put_empty_everywhere(self) -> None:
        """The empty file's single (empty) block never travels by bitswap (a peer pinning it waits for good):
        every node that answers gets it added locally, so that wherever the cluster allocates it, it is there."""
        for node in self.nodes:
            try:
                node.put_many([b""])
            except StoreUnavailable:
                continue

    def put_stream(self, stream: BinaryIO) -> str:
        # A stream cannot be replayed to the next node: it goes to the first one that answers.
        cid = self._on_a_node(lambda node: node.put_stream(stream))
        self.pin([cid])
        return cid

    def pin(self, cids: Sequence[str]) -> None:
        """Pin `cids` (already on one of the nodes) through the cluster, with this store's replication factors."""
        params = {"replication-min": str(self.replication_min), "replication-max": str(self.replication_max)}
        for cid in dict.fromkeys(cids):
            response = self._cluster("POST", f"/pins/{cid}", params=params)
            if response.status_code >= 400:
                raise StoreError(f"cluster pin {cid}: HTTP {response.status_code} {response.text[:200]}")

    def _on_a_node(self, add: Callable[[IpfsRpcStore], T]) -> T:
        try:
            return _first_answering(self.nodes, add, (StoreUnavailable,))
        except _NoneAnswered as none:
            raise StoreUnavailable(f"no IPFS node answered: {none.last}") from None

    # ------------------------------------------------------------------ reads

    def get(self, cid: str) -> bytes:
        refused: list[str] = []
        reached = False
        for node in self.nodes:
            try:
                response = node._post("/api/v0/cat", params={"arg": cid, "offline": "true"})
            except StoreUnavailable:
                continue
            reached = True
            if response.status_code != 200:
                continue  # not held there (offline: no fetch from the network)
            data = bytes(response.content)
            if cid_of_bytes(data) == cid:
                return data
            refused.append(node.url)
            log.warning("IPFS node %s returned other bytes for %s: refused", node.url, cid)
        if refused:
            raise StoreError(f"{cid}: refused the content of {', '.join(refused)} (other bytes than the CID's)")
        if not reached:
            raise StoreUnavailable(f"{cid}: no IPFS node answered")
        raise ContentNotFound(cid)

    def has(self, cid: str) -> bool:
        for node in self.nodes:
            try:
                if node.has(cid):
                    return True
            except StoreUnavailable:
                continue
        return False

    def is_available(self) -> bool:
        if not any(node.is_available() for node in self.nodes):
            return False
        try:
            return bool(self._cluster("GET", "/id").status_code == 200)
        except StoreUnavailable:
            return False

    # ------------------------------------------------------------------ replication

    def cluster_pin(self, cid: str) -> ClusterPin:
        """The cluster's status of `cid` across its peers."""
        return self.cluster_pins([cid])[cid]

    def cluster_pins(self, cids: Sequence[str]) -> dict[str, ClusterPin]:
        """The cluster's status of each of `cids` across its peers (`GET /pins?cids=...`, 100 a request)."""
        out: dict[str, ClusterPin] = {}
        unique = list(dict.fromkeys(cids))
        for i in range(0, len(unique), STATUS_BATCH):
            part = unique[i : i + STATUS_BATCH]
            response = self._cluster("GET", "/pins", params={"cids": ",".join(part)})
            if response.status_code != 200:
                raise StoreError(f"cluster status: HTTP {response.status_code} {response.text[:200]}")
            for line in response.text.splitlines():
                if line.strip():
                    info = json.loads(line)
                    out[str(info.get("cid"))] = _pin_of(info)
            for cid in part:
                out.setdefault(cid, ClusterPin(cid, (), (), 0))
        return out

    def replication(self, cids: Sequence[str]) -> dict[str, PinState]:
        out: dict[str, PinState] = {}
        for cid, pin in self.cluster_pins(cids).items():
            if pin.allocations == 0 and not pin.pinned:
                state = "missing"
            elif len(pin.pinned) >= self.replication_min:
                state = "replicated"
            else:
                state = "pinning"
            out[cid] = PinState(cid, len(pin.pinned), self.replication_min, state)
        return out

    def close(self) -> None:
        self._http.close()
        for node in self.nodes:
            node.close()

    def _cluster(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return _first_answering(
                self.cluster_urls,
                lambda url: self._http.request(method, f"{url}{path}", **kwargs),
                self._transport_errors,
            )
        except _NoneAnswered as none:
            peers = ", ".join(self.cluster_urls)
            raise StoreUnavailable(f"no IPFS Cluster peer answered ({peers}): {none.last}") from None


class _NoneAnswered(Exception):
    def __init__(self, last: BaseException | None) -> None:
        super().__init__(str(last))
        self.last = last


def _first_answering(endpoints: list[E], call: Callable[[E], T], errors: tuple[type[BaseException], ...]) -> T:
    """`call` on each endpoint in turn until one answers; that one goes first next time. _NoneAnswered with
    the last error when none does."""
    last: BaseException | None = None
    for i, endpoint in enumerate(endpoints):
        try:
            result = call(endpoint)
        except errors as error:
            last = error
            continue
        if i:
            endpoints.insert(0, endpoints.pop(i))
        return result
    raise _NoneAnswered(last)


def _pin_of(info: dict[str, Any]) -> ClusterPin:
    pinned, errors, tracked = [], [], False
    for peer_id, peer in (info.get("peer_map") or {}).items():
        name = str(peer.get("peername") or peer_id)
        status = str(peer.get("status", ""))
        tracked = tracked or status not in ("unpinned", "")
        if status == PINNED:
            pinned.append(name)
        elif status.endswith("error"):
            errors.append(name)
    allocations = len(info.get("allocations") or []) if tracked or info.get("allocations") else 0
    return ClusterPin(str(info.get("cid")), tuple(sorted(pinned)), tuple(sorted(errors)), allocations)


def cluster_urls_from(value: str) -> list[str]:
    """A comma-separated list of URLs (configuration), blanks dropped."""
    return [u.strip() for u in value.split(",") if u.strip()]
