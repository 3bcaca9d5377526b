"""Any EVM JSON-RPC node: anvil or a Hardhat node in development, a Besu QBFT validator in production.

A member's service may name several nodes of the network (`QLEDGER_CHAIN_URL=url1,url2,...`, its own first):
requests go to one node at a time and move to the next when it does not answer, so the service survives its
own node's death (docs/architecture.md section 10). Nonces need nothing more: they are read from the chain
("pending") whenever the cache is dropped, and the outbox settles every transaction it signed on whichever
node answers (section 4).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from eth_typing import URI
from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import RPCEndpoint

from ledger_service.chain.types import PreparedTx, Receipt
from ledger_service.chain.web3_client import Web3ChainClient
from ledger_service.errors import ChainError

log = logging.getLogger("qledger.chain")

# What a node that is down, restarting or cut off answers: no connection, no answer in time, a gateway error.
_NODE_DOWN = (requests.ConnectionError, requests.Timeout)


def split_urls(url: str) -> list[str]:
    """The endpoints of a `QLEDGER_CHAIN_URL` value: one URL, or several separated by commas."""
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls or any(not u.startswith(("http://", "https://")) for u in urls):
        raise ChainError(f"unsupported chain URL {url!r}: use http(s)://host:port, several separated by commas")
    return urls


class FailoverHTTPProvider(HTTPProvider):
    """JSON-RPC over HTTP to the first of `urls` that answers. After a failover the preferred (first) node is
    tried again every `retry_preferred_s`, so a service goes back to its own node once it is up and synced
    (its head caught up with the current node's). When no node
    answers, the whole list is tried `rounds` times with a growing pause, then the last error is raised (a
    ChainUnavailable for the client)."""

    def __init__(
        self,
        urls: Sequence[str],
        timeout_s: float = 30.0,
        retry_preferred_s: float = 5.0,
        rounds: int = 3,
        **kwargs: Any,
    ) -> None:
        if not urls:
            raise ChainError("no chain endpoint")
        super().__init__(urls[0], request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None, **kwargs)
        self.urls = tuple(urls)
        self.retry_preferred_s = retry_preferred_s
        self.rounds = rounds
        self._current = 0
        self._left_preferred_at = 0.0
        self._lock = threading.Lock()
        self.switches = 0  # how many times requests moved to another node (for status and tests)

    @property
    def current_url(self) -> str:
        return self.urls[self._current]

    def _order(self) -> list[int]:
        with self._lock:
            start = self._current
            due = start != 0 and time.monotonic() - self._left_preferred_at >= self.retry_preferred_s
        if due:
            if self._caught_up(0, start):
                start = 0
            else:  # not yet: a node restarted after a crash answers from old state until it has synced
                with self._lock:
                    self._left_preferred_at = time.monotonic()
        n = len(self.urls)
        return [(start + i) % n for i in range(n)]

    def _head(self, i: int) -> int | None:
        request = b'{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber","params":[]}'
        try:
            raw = self._request_session_manager.make_post_request(
                URI(self.urls[i]), request, **self.get_request_kwargs()
            )
            return int(json.loads(raw)["result"], 16)
        except (*_NODE_DOWN, ValueError, KeyError, TypeError):
            return None

    def _caught_up(self, preferred: int, current: int) -> bool:
        """Whether the preferred node answers with a head no more than a block behind the current node's: a
        node that was down answers, once restarted, from the state it had written (geth: possibly blocks or
        minutes old) until it has synced from its peers, and must not be read from before then."""
        head = self._head(preferred)
        other = self._head(current)
        return head is not None and (other is None or head + 1 >= other)

    def spread(self, method: str, params: list[Any], timeout_s: float = 1.0) -> int:
        """Send one request to every node but the current one, best effort (a node down or refusing is
        skipped); returns how many answered without an error."""
        body = json.dumps({"jsonrpc": "2.0", "id": 0, "method": method, "params": params}).encode()
        answered = 0
        for i, url in enumerate(self.urls):
            if i == self._current:
                continue
            try:
                kwargs = {**self.get_request_kwargs(), "timeout": timeout_s}
                raw = self._request_session_manager.make_post_request(URI(url), body, **kwargs)
                answered += "error" not in json.loads(raw)
            except (*_NODE_DOWN, requests.HTTPError, ValueError, TypeError):
                continue
        return answered

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        error: Exception | None = None
        for attempt in range(self.rounds):
            for i in self._order():
                try:
                    raw = self._request_session_manager.make_post_request(
                        URI(self.urls[i]), request_data, **self.get_request_kwargs()
                    )
                except _NODE_DOWN as failed:
                    error = failed
                    continue
                with self._lock:
                    if i != self._current:
                        log.warning("chain endpoint %s answers now (was %s)", self.urls[i], self.urls[self._current])
                        if self._current == 0:
                            self._left_preferred_at = time.monotonic()
                        self._current = i
                        self.endpoint_uri = URI(self.urls[i])
                        self.switches += 1
                return bytes(raw)
            time.sleep(0.25 * 2**attempt)
        assert error is not None
        raise error


class JsonRpcChainClient(Web3ChainClient):
    """ChainClient over HTTP JSON-RPC. `faucet_key`, on development chains, pays for `fund()`. `url` may name
    several endpoints of one chain, separated by commas (failover in that order)."""

    def __init__(self, url: str, timeout_s: float = 30.0, faucet_key: str | None = None) -> None:
        # web3's validation asks the node for its chain id before every eth_call and eth_estimateGas; a node's
        # chain id never changes, so it is asked once (the other cacheable requests stay uncached).
        cached = {RPCEndpoint("eth_chainId")}
        urls = split_urls(url)
        provider: HTTPProvider
        if len(urls) == 1:
            provider = HTTPProvider(
                urls[0], request_kwargs={"timeout": timeout_s}, cache_allowed_requests=True, cacheable_requests=cached
            )
        else:
            provider = FailoverHTTPProvider(
                urls, timeout_s=timeout_s, cache_allowed_requests=True, cacheable_requests=cached
            )
        w3 = Web3(provider)
        # PoA chains (clique, QBFT) carry signers and seals in extraData, longer than the 32 bytes web3's
        # validation allows: the middleware moves it aside (to proofOfAuthorityData), which nothing here reads.
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
        super().__init__(w3)
        self.url = url
        self._faucet = self.add_account(faucet_key) if faucet_key else None

    def submit_prepared(self, prepared: PreparedTx) -> Receipt | None:
        """Send a signed transaction to the node answering, then hand the same bytes to every other node this
        client names (best effort, errors ignored): a node gossips a large transaction (an anchoring batch,
        over geth's 4 KiB) by announcing its hash, which the other nodes fetch half a second or more later, so
        the signer in turn to seal the next block may not have it yet. Held by every node, it goes into the
        next block whoever seals it (docs/architecture.md section 10). One signed transaction is mined once at
        most, however many nodes hold it."""
        receipt = super().submit_prepared(prepared)
        provider = self.w3.provider
        if receipt is None and isinstance(provider, FailoverHTTPProvider):
            provider.spread("eth_sendRawTransaction", ["0x" + prepared.raw.hex()])
        return receipt

    def fund(self, address: str, wei: int) -> None:
        if self._faucet is None:
            super().fund(address, wei)
            return
        tx = {"to": Web3.to_checksum_address(address), "value": wei, "gas": 21_000}
        tx.update(self._fees())
        self._send(self._signer(self._faucet), tx)

    def _fees(self) -> dict[str, int]:
        base = self._rpc(lambda: self.w3.eth.get_block("latest")).get("baseFeePerGas", 0)
        return {"maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}
