"""What the whole chain anchors, read from the ledger's events and transactions (not from the index)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from web3.types import RPCEndpoint

from ledger_service.chain import Web3ChainClient


def anchors_on_chain(client: Web3ChainClient) -> Counter[str]:
    """How many times the chain anchors each record id (hex), over every block since the deployment: tier A
    `RecordAnchored` events, and the headers of every tier B `anchorBatch` transaction (its `BatchAnchored`
    event names the root only). Tier C roots name no record: see `roots_on_chain`."""
    assert client.deployment is not None
    ledger, start = client.ledger, client.deployment.block
    counts: Counter[str] = Counter()
    for log in ledger.events.RecordAnchored().get_logs(from_block=start, to_block="latest"):
        counts[bytes(log["args"]["recordId"]).hex()] += 1
    for log in ledger.events.BatchAnchored().get_logs(from_block=start, to_block="latest"):
        tx = client.w3.eth.get_transaction(log["transactionHash"])
        _, args = ledger.decode_function_input(tx["input"])
        for header in args["headers"]:
            record_id = header["recordId"] if isinstance(header, dict) else header[0]
            counts[bytes(record_id).hex()] += 1
    return counts


def roots_on_chain(client: Web3ChainClient) -> Counter[str]:
    """How many times the chain anchors each tier C root (hex)."""
    assert client.deployment is not None
    logs = client.ledger.events.RootAnchored().get_logs(from_block=client.deployment.block, to_block="latest")
    return Counter(bytes(log["args"]["root"]).hex() for log in logs)


def rpc(client: Web3ChainClient, method: str, *params: Any) -> Any:
    """A node's own JSON-RPC method (anvil's evm_snapshot, evm_revert, evm_mine)."""
    answer = client.w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in answer, answer
    return answer["result"]
