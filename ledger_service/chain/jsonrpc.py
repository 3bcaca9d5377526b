"""Any EVM JSON-RPC node: anvil or a Hardhat node in development, a Besu QBFT validator in production."""

from __future__ import annotations

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from ledger_service.chain.web3_client import Web3ChainClient


class JsonRpcChainClient(Web3ChainClient):
    """ChainClient over HTTP JSON-RPC. `faucet_key`, on development chains, pays for `fund()`."""

    def __init__(self, url: str, timeout_s: float = 30.0, faucet_key: str | None = None) -> None:
        # web3's validation asks the node for its chain id before every eth_call and eth_estimateGas; a node's
        # chain id never changes, so it is asked once (the other cacheable requests stay uncached).
        provider = HTTPProvider(
            url,
            request_kwargs={"timeout": timeout_s},
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
        super().__init__(Web3(provider))
        self.url = url
        self._faucet = self.add_account(faucet_key) if faucet_key else None

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
