"""Pick the chain adapter in one place."""

from __future__ import annotations

from ledger_service.chain.web3_client import Web3ChainClient
from ledger_service.errors import ChainError


def chain_from_url(url: str | None, faucet_key: str | None = None) -> Web3ChainClient:
    """`None` or "embedded" -> the in-process EVM; http(s):// -> a JSON-RPC node (several, comma-separated:
    one network's nodes, with failover)."""
    if url is None or url == "embedded":
        from ledger_service.chain.inprocess import InProcessEvmClient

        return InProcessEvmClient()
    if url.startswith(("http://", "https://")):
        from ledger_service.chain.jsonrpc import JsonRpcChainClient

        return JsonRpcChainClient(url, faucet_key=faucet_key)
    raise ChainError(f"unsupported chain URL {url!r}: use http(s)://host:port or 'embedded'")
