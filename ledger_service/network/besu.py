"""The production configuration of the same network for Hyperledger Besu QBFT (docs/architecture.md section 10):
a genesis whose extraData names the validators, `permissions_config.toml` with the node and account allowlists,
and one node configuration per member. No Besu binary runs on these machines: tests check the files
structurally (the extraData decoded, the TOML parsed, each enode matching its node key).

QBFT's genesis extraData is RLP([32-byte vanity, [validator addresses], vote (an empty list: none), round
(the integer 0), seals (an empty list)]), as Besu's `rlp encode --type=QBFT_EXTRA_DATA` writes it. A QBFT
validator's address is its node key's, so each member's one key is its enode and its validator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rlp

from ledger_service.network.clique import NodeKey, private_dir, private_file

if TYPE_CHECKING:
    from ledger_service.network.local import Network

REQUEST_TIMEOUT_S = 10
EPOCH = 30_000
GAS_LIMIT = 0x1FFFFFFFFFFFFF  # QBFT networks usually run free gas (min-gas-price 0) and a large gas limit


def qbft_extra_data(validators: Sequence[str]) -> str:
    """The QBFT genesis extraData for `validators` (in the order given: Besu keeps it)."""
    addresses = [bytes.fromhex(v.removeprefix("0x")) for v in validators]
    if any(len(a) != 20 for a in addresses):
        raise ValueError("validators are 20-byte addresses")
    encoded: bytes = rlp.encode([b"\x00" * 32, addresses, [], 0, []])
    return "0x" + encoded.hex()


def decode_qbft_extra_data(extra: str) -> dict[str, Any]:
    """The fields of a QBFT extraData (for checks): vanity, validators, vote, round, seals."""
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(extra.removeprefix("0x")))
    return {
        "vanity": bytes(vanity),
        "validators": ["0x" + bytes(v).hex() for v in validators],
        "vote": list(vote),
        "round": int.from_bytes(bytes(round_), "big"),
        "seals": list(seals),
    }


def qbft_genesis(chain_id: int, period_s: int, validators: Sequence[str], alloc: Mapping[str, int]) -> dict[str, Any]:
    """QBFT seals a final block every `period_s` (the network description's block period)."""
    return {
        "config": {
            "chainId": chain_id,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": period_s,
                "epochlength": EPOCH,
                "requesttimeoutseconds": REQUEST_TIMEOUT_S,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(GAS_LIMIT),
        "difficulty": "0x1",
        # QBFT's (and IBFT 2.0's) fixed mix hash: "Istanbul byzantine fault tolerance" in Besu's genesis files.
        "mixHash": "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
        "coinbase": "0x" + "00" * 20,
        "extraData": qbft_extra_data(validators),
        "alloc": {a.removeprefix("0x").lower(): {"balance": hex(wei)} for a, wei in alloc.items()},
    }


def _toml_list(values: Sequence[str]) -> str:
    return "[\n" + "".join(f"  {json.dumps(v)},\n" for v in values) + "]"


def permissions_toml(enodes: Sequence[str], accounts: Sequence[str]) -> str:
    """Besu's local permissioning file: only the members' nodes may connect, only the members' accounts send."""
    return f"nodes-allowlist={_toml_list(enodes)}\naccounts-allowlist={_toml_list(accounts)}\n"


def node_toml(member: str, p2p_host: str, p2p_port: int, rpc_port: int, bootnodes: Sequence[str]) -> str:
    """One member's Besu node configuration (`besu --config-file=...`)."""
    lines = [
        f"# {member}'s Besu QBFT validator",
        'data-path="data"',
        'genesis-file="../genesis.json"',
        'node-private-key-file="key"',
        f'p2p-host="{p2p_host}"',
        f"p2p-port={p2p_port}",
        "discovery-enabled=false",
        f"bootnodes={_toml_list(bootnodes)}",
        "rpc-http-enabled=true",
        'rpc-http-host="127.0.0.1"',
        f"rpc-http-port={rpc_port}",
        'rpc-http-api=["ETH","NET","QBFT","WEB3"]',
        "permissions-nodes-config-file-enabled=true",
        "permissions-accounts-config-file-enabled=true",
        'permissions-nodes-config-file="../permissions_config.toml"',
        'permissions-accounts-config-file="../permissions_config.toml"',
        "min-gas-price=0",
        'sync-mode="FULL"',
    ]
    return "\n".join(lines) + "\n"


def write_config(net: Network, out: Path, keys: Mapping[str, NodeKey], accounts: Sequence[str] = ()) -> None:
    """Write `out/genesis.json`, `out/permissions_config.toml` and `out/<member>/config.toml` (and the member's
    node key, 0600, as Besu's `key` file) for the network's members. Each member's host is a placeholder from
    the documentation range (192.0.2.x, RFC 5737) to replace with its own: Besu's node allowlist takes IP
    addresses (host names need its DNS option); ports follow the local network's."""
    private_dir(out)
    validators = [n.address for n in net.nodes]
    hosts = [placeholder_host(i) for i in range(len(net.nodes))]
    enodes = [f"enode://{keys[n.member].public_hex}@{h}:{n.p2p_port}" for n, h in zip(net.nodes, hosts, strict=True)]
    members_accounts = _member_accounts(net)
    allowed = sorted({*validators, *members_accounts, *accounts}, key=str.lower)
    genesis = qbft_genesis(net.chain_id, net.period_s, validators, {})
    private_file(out / "genesis.json", json.dumps(genesis, indent=2) + "\n")
    private_file(out / "permissions_config.toml", permissions_toml(enodes, allowed))
    for node, enode, host in zip(net.nodes, enodes, hosts, strict=True):
        folder = private_dir(out / node.member)
        others = [e for e in enodes if e != enode]
        private_file(folder / "config.toml", node_toml(node.member, host, node.p2p_port, node.rpc_port, others))
        private_file(folder / "key", "0x" + keys[node.member].private.hex())


def placeholder_host(i: int) -> str:
    return f"192.0.2.{i + 1}"


def _member_accounts(net: Network) -> list[str]:
    """The consortium's accounts (its members' and the deployer's) from the data directory, when founded."""
    path = net.data_dir / "keys"
    if not path.is_dir():
        return []
    from eth_account import Account

    return [str(Account.from_key(bytes.fromhex(p.read_text().strip())).address) for p in sorted(path.glob("*.key"))]
