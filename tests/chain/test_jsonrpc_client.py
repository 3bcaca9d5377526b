"""The ChainClient suite against a real JSON-RPC node: anvil, started here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger_service.chain import chain_from_url
from ledger_service.chain.jsonrpc import JsonRpcChainClient
from ledger_service.errors import ChainUnavailable
from tests.chain.contract_suite import ChainClientContract, World, build_world
from tests.utils.anvil import DEV_KEY, anvil_node, free_port


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with anvil_node("--hardfork", "cancun") as url:
        client = chain_from_url(url, faucet_key=DEV_KEY)
        assert isinstance(client, JsonRpcChainClient)
        yield build_world(client)


class TestJsonRpcAnvil(ChainClientContract):
    pass


def test_a_dead_node_is_unavailable_not_a_refusal() -> None:
    client = JsonRpcChainClient(f"http://127.0.0.1:{free_port()}", timeout_s=2, faucet_key=DEV_KEY)
    assert client.is_connected() is False
    with pytest.raises(ChainUnavailable):
        client.chain_id()
    with pytest.raises(ChainUnavailable):
        client.fund("0x" + "11" * 20, 1)


def test_a_node_that_cannot_answer_for_a_block_yet_is_unavailable(world: World) -> None:
    # anvil restarted from its state answered "BlockOutOfRangeError: block height is 185 but requested was
    # 184" for a while: the API must say 503 (retry), not 400.
    client = world.client
    future = client.w3.eth.block_number + 1000
    with pytest.raises(Exception) as raised:
        client.w3.eth.call({"to": client.ledger.address, "data": "0x"}, block_identifier=future)
    assert isinstance(client._refusal(raised.value), ChainUnavailable), raised.value
    refused = client._refusal(ValueError({"code": 3, "message": "execution reverted"}))
    assert not isinstance(refused, ChainUnavailable)
