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


def test_a_sent_transaction_is_handed_to_every_node_named() -> None:
    """The same signed bytes go to the node answering and to the others (a large transaction would otherwise
    reach the signer in turn only after gossip); a node that is down is skipped. Real nodes: two anvils with
    automining off (the transaction waits in each pool) and a third port where nothing listens."""
    ports = [free_port(), free_port()]
    args = ("--chain-id", "4242", "--no-mining")
    with anvil_process(*args, port=ports[0]) as (_, own), anvil_process(*args, port=ports[1]) as (_, other):
        client = JsonRpcChainClient(f"{own},http://127.0.0.1:{free_port()},{other}")
        sender = client.add_account("0x" + "11" * 32)
        for url in (own, other):  # the same balance on both chains
            JsonRpcChainClient(url).w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [sender, hex(10**18)])
        tx = {"to": sender, "value": 1, "gas": 21_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
        prepared = client._sign(client._signer(sender), tx)
        assert client.submit_prepared(prepared) is None  # in the pool, not mined
        for url in (own, other):
            assert JsonRpcChainClient(url).knows_transaction(prepared.tx_hash), url
