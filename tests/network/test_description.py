"""network.json: written and read back, refused with the file named when it is not one (the network it
describes is started for real in test_network_faults.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger_service.errors import LedgerError
from ledger_service.network.clique import clique_extra_data, clique_genesis
from ledger_service.network.local import load_network, network_down, plan


def test_the_description_round_trips(tmp_path: Path) -> None:
    net, keys = plan(tmp_path, members=4, period_s=2)
    net.save()
    assert (tmp_path / "network.json").stat().st_mode & 0o777 == 0o600
    back = load_network(tmp_path)
    assert back == net
    assert [n.member for n in back.nodes] == ["LAB-SZ", "CAL-NIM", "MFR-DM", "REG-CN"]
    assert back.chain_urls("MFR-DM")[0] == back.node("MFR-DM").rpc_url and len(back.chain_urls("MFR-DM")) == 4
    assert {n.address for n in back.nodes} == {k.address for k in keys.values()}
    ports = [p for n in back.nodes for p in (n.rpc_port, n.p2p_port, n.auth_port)]
    assert len(set(ports)) == len(ports)
    assert all(n.enode.endswith(f"@127.0.0.1:{n.p2p_port}") for n in back.nodes)


@pytest.mark.parametrize("members", [0, 11])
def test_member_counts_outside_the_consortium_are_refused(tmp_path: Path, members: int) -> None:
    with pytest.raises(LedgerError, match="--members must be 1 to 10"):
        plan(tmp_path, members=members, period_s=1)


def test_a_file_that_is_not_a_description_is_named(tmp_path: Path) -> None:
    (tmp_path / "network.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(LedgerError, match=r"network\.json: not a qledger network description"):
        load_network(tmp_path)
    with pytest.raises(LedgerError, match="no network here"):
        network_down(tmp_path / "empty")


def test_clique_genesis_names_the_signers_in_order() -> None:
    signers = ["0x" + "bb" * 20, "0x" + "aa" * 20]
    extra = bytes.fromhex(clique_extra_data(signers)[2:])
    assert extra[:32] == b"\0" * 32 and extra[-65:] == b"\0" * 65
    assert extra[32:-65] == bytes.fromhex("aa" * 20 + "bb" * 20)  # ascending, as clique requires
    genesis = clique_genesis(777, 1, signers, {"0x" + "cc" * 20: 5})
    assert genesis["config"]["clique"] == {"period": 1, "epoch": 30000}
    assert genesis["config"]["londonBlock"] == 0 and "shanghaiTime" not in genesis["config"]
    assert genesis["alloc"] == {"cc" * 20: {"balance": "0x5"}}
