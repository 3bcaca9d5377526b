"""The Besu QBFT production configuration generated from a network description, checked structurally (no Besu
binary runs here): the genesis extraData decoded back to the validators, the TOML files parsed, every enode
URL the one of its member's node key."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from eth_account import Account
from eth_keys.datatypes import PublicKey

from ledger_service.network.besu import decode_qbft_extra_data, qbft_extra_data, write_config
from ledger_service.network.clique import NodeKey
from ledger_service.network.local import Network, plan

Generated = tuple[Path, Network, dict[str, NodeKey]]

# Besu's documentation's QBFT genesis (block header validator selection): its extraData and its 4 validators.
BESU_DOCS_EXTRA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b7297a96638cac6ae"
    "65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5b6b212a6d62f6370c2f69294c7eeb9a4"
    "e00ce683cf93039b212648e01c6c6b78c080c0"
)
BESU_DOCS_VALIDATORS = [
    "0x64a702e6263b7297a96638cac6ae65e6541f4169",
    "0x3923390ad55e90c237593b3b0e401f3b08a03185",
    "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]


def test_extra_data_is_byte_for_byte_besus_own() -> None:
    assert qbft_extra_data(BESU_DOCS_VALIDATORS) == BESU_DOCS_EXTRA
    decoded = decode_qbft_extra_data(BESU_DOCS_EXTRA)
    assert decoded == {
        "vanity": b"\0" * 32,
        "validators": BESU_DOCS_VALIDATORS,
        "vote": [],
        "round": 0,
        "seals": [],
    }


def test_a_validator_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="20-byte"):
        qbft_extra_data(["0x1234"])


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("net")
    net, keys = plan(root, members=4, period_s=3)  # not the default: the configuration must take the description's
    write_config(net, root / "besu", keys, accounts=["0x00000000000000000000000000000000000000aa"])
    return root / "besu", net, dict(keys)


def test_genesis_names_the_members_validators(generated: Generated) -> None:
    out, net, keys = generated
    genesis = json.loads((out / "genesis.json").read_text())
    assert genesis["config"]["chainId"] == net.chain_id
    assert set(genesis["config"]["qbft"]) == {"blockperiodseconds", "epochlength", "requesttimeoutseconds"}
    assert genesis["config"]["qbft"]["blockperiodseconds"] == net.period_s == 3  # one description, one period
    assert bytes.fromhex(genesis["mixHash"][2:]) == b"ctical byzantine fault tolerance"  # Besu's fixed one
    decoded = decode_qbft_extra_data(genesis["extraData"])
    addresses = [n.address.lower() for n in net.nodes]
    assert decoded["validators"] == addresses
    # A validator's address is its node key's.
    assert addresses == [Account.from_key(k.private).address.lower() for k in keys.values()]


def test_permissions_allow_the_members_nodes_and_accounts(generated: Generated) -> None:
    out, net, keys = generated
    perms = tomllib.loads((out / "permissions_config.toml").read_text())
    assert set(perms) == {"nodes-allowlist", "accounts-allowlist"}
    enodes = perms["nodes-allowlist"]
    assert len(enodes) == len(keys) == 4
    for enode, node in zip(enodes, net.nodes, strict=True):
        node_id, _, where = enode.removeprefix("enode://").partition("@")
        public = PublicKey(bytes.fromhex(node_id))
        assert public.to_checksum_address() == node.address  # the enode is the node key's
        assert where.endswith(f":{node.p2p_port}")
    allowed = {a.lower() for a in perms["accounts-allowlist"]}
    assert {n.address.lower() for n in net.nodes} | {"0x" + "00" * 19 + "aa"} <= allowed


def test_one_node_config_per_member_peers_with_the_others(generated: Generated) -> None:
    out, net, keys = generated
    enodes = tomllib.loads((out / "permissions_config.toml").read_text())["nodes-allowlist"]
    for i, node in enumerate(net.nodes):
        config = tomllib.loads((out / node.member / "config.toml").read_text())
        assert config["p2p-port"] == node.p2p_port
        assert config["discovery-enabled"] is False
        assert sorted(config["bootnodes"]) == sorted(e for j, e in enumerate(enodes) if j != i)
        assert config["permissions-nodes-config-file-enabled"] is True
        assert (out / node.member / config["permissions-nodes-config-file"]).resolve() == (
            out / "permissions_config.toml"
        ).resolve()
        key_file = out / node.member / config["node-private-key-file"]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert bytes.fromhex(key_file.read_text().removeprefix("0x")) == keys[node.member].private
