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
