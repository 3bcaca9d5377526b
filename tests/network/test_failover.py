"""Several chain endpoints for one service (QLEDGER_CHAIN_URL=url1,url2): requests move to the next node when
one dies, and back to the preferred one once it answers again. Real nodes: two anvil processes."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
from web3.types import RPCEndpoint

from ledger_service.chain import chain_from_url
from ledger_service.chain.jsonrpc import FailoverHTTPProvider, JsonRpcChainClient, split_urls
from ledger_service.errors import ChainError, ChainUnavailable
from ledger_service.localnode import anvil_process
from tests.utils.anvil import free_port


def test_urls_are_split_and_checked() -> None:
    assert split_urls("http://a:1, http://b:2,") == ["http://a:1", "http://b:2"]
    with pytest.raises(ChainError, match="several separated by commas"):
        split_urls("http://a:1,ws://b:2")
    with pytest.raises(ChainError):
        chain_from_url("http://a:1,ftp://b")


def test_requests_fail_over_and_come_back() -> None:
    own_port, other_port = free_port(), free_port()
    other_url = f"http://127.0.0.1:{other_port}"
    with anvil_process("--chain-id", "4242", port=other_port), ExitStack() as own_node:
        proc, own_url = own_node.enter_context(anvil_process("--chain-id", "4242", port=own_port))
        client = JsonRpcChainClient(f"{own_url},{other_url}")
        provider = client.w3.provider
        assert isinstance(provider, FailoverHTTPProvider)
        provider.retry_preferred_s = 0.5
        assert client.chain_id() == 4242 and provider.current_url == own_url
        proc.kill()
        proc.wait()
        # Its own node is dead: the same client answers from the other one.
        provider.make_request(RPCEndpoint("evm_mine"), [])
        assert provider.current_url == other_url
        assert client.block_number() == 1  # the other node's chain: one block mined there
        own_node.close()
        # The preferred node back on its port (a fresh chain): requests return to it after retry_preferred_s.
        with anvil_process("--chain-id", "4242", port=own_port):
            time.sleep(0.6)
            assert client.block_number() == 0
            assert provider.current_url == own_url


def test_no_node_answering_is_chain_unavailable() -> None:
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()},http://127.0.0.1:{free_port()}")
    with pytest.raises(ChainUnavailable):
        client.block_number()
