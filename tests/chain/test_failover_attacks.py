"""An attacker's tries against chain endpoint failover (issue 15): with several endpoints in
QLEDGER_CHAIN_URL, a node of another chain, or one answering from older state, must not be read from after the
member's own node dies. Both were (web3 asks the chain id once, of the first node; the failover looked at
nothing but whether a node answers): a revocation the stale node had not seen, or another chain's state, was
what verification read. Real anvil nodes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from ledger_service.chain.jsonrpc import FailoverHTTPProvider, JsonRpcChainClient
from ledger_service.errors import ChainUnavailable
from ledger_service.localnode import anvil_process
from tests.utils.chain import rpc


@pytest.fixture
def nodes() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def _client(own: str, other: str) -> tuple[JsonRpcChainClient, FailoverHTTPProvider]:
    client = JsonRpcChainClient(f"{own},{other}", timeout_s=5)
    provider = client.w3.provider
    assert isinstance(provider, FailoverHTTPProvider)
    return client, provider


def test_no_failover_to_a_node_of_another_chain(nodes: ExitStack) -> None:
    own, own_url = nodes.enter_context(anvil_process())
    _, other_url = nodes.enter_context(anvil_process("--chain-id", "4242"))
    client, provider = _client(own_url, other_url)
    assert client.w3.eth.chain_id == 31337
    rpc(client, "anvil_mine", 3)
    assert client.block_number() == 3
    own.kill()
    own.wait()
    with pytest.raises(ChainUnavailable, match="refused"):
        client.block_number()
    assert any("chain 4242" in r for r in provider.refused) and provider.switches == 0


def test_no_failover_to_a_node_behind_the_head_seen(nodes: ExitStack) -> None:
    own, own_url = nodes.enter_context(anvil_process())
    _, other_url = nodes.enter_context(anvil_process())  # the same chain id, its state from long ago
    client, provider = _client(own_url, other_url)
    rpc(client, "anvil_mine", 20)
    assert client.block_number() == 20
    own.kill()
    own.wait()
    with pytest.raises(ChainUnavailable, match="refused"):
        client.block_number()
    assert any("behind block 20" in r for r in provider.refused) and provider.switches == 0


def test_failover_to_a_node_of_the_same_chain_that_is_caught_up(nodes: ExitStack) -> None:
    own, own_url = nodes.enter_context(anvil_process())
    _, other_url = nodes.enter_context(anvil_process())
    client, provider = _client(own_url, other_url)
    rpc(client, "anvil_mine", 5)
    assert client.block_number() == 5
    JsonRpcChainClient(other_url).w3.provider.make_request("anvil_mine", [6])  # type: ignore[arg-type]
    own.kill()
    own.wait()
    assert client.block_number() == 6
    assert provider.switches == 1 and provider.current_url == other_url
