"""The ChainClient suite on the embedded in-process EVM (the default chain)."""

from __future__ import annotations

import pytest

from ledger_service.chain import chain_from_url
from ledger_service.chain.inprocess import InProcessEvmClient
from tests.chain.contract_suite import ChainClientContract, World, build_world


@pytest.fixture(scope="module")
def world() -> World:
    client = chain_from_url(None)
    assert isinstance(client, InProcessEvmClient)
    return build_world(client)


class TestInProcessEvm(ChainClientContract):
    pass
