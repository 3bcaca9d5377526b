"""The data directory's local anvil: its state is written every few seconds (a kill loses seconds, not the
session), and a state file damaged by a kill during that write is replaced by the last good copy."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger_service.errors import ChainUnavailable
from ledger_service.localnode import LAST_GOOD_FILE, STATE_FILE, STATE_INTERVAL_S, local_chain

FUNDED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first development account (unlocked)
PAYEE = "0x000000000000000000000000000000000000bEEF"


def rpc(url: str, method: str, *params: Any) -> Any:
    body = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
    assert "error" not in body, body
    return body["result"]


def anvil_pids(state: Path) -> list[int]:
    """Live anvil processes whose command line names this state file."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:  # gone meanwhile
            continue
        zombie = "\nState:\tZ" in status
        if not zombie and any(a.endswith(b"anvil") for a in argv[:1]) and str(state).encode() in argv:
            pids.append(int(entry.name))
    return pids


def state_block(state: Path) -> int | None:
    """The block number in the state file, or None while it does not parse (or is not there)."""
    try:
        return int(json.loads(state.read_bytes())["block"]["number"], 16)
    except (OSError, ValueError, KeyError):
        return None


def pay(url: str, wei: int) -> int:
    """A value transfer, mined at once; its block number."""
    tx = rpc(url, "eth_sendTransaction", {"from": FUNDED, "to": PAYEE, "value": hex(wei)})
    return int(rpc(url, "eth_getTransactionReceipt", tx)["blockNumber"], 16)


def test_state_is_written_periodically_and_survives_a_kill(tmp_path: Path) -> None:
    state = tmp_path / "chain" / STATE_FILE
    with local_chain(tmp_path) as url:
        block = pay(url, 12345)
        (pid,) = anvil_pids(state)
        # The periodic write, not the one on exit: wait for it to hold the block, then kill without warning.
        deadline = time.monotonic() + 3 * STATE_INTERVAL_S
        while (state_block(state) or 0) < block:
            assert time.monotonic() < deadline, "anvil did not write its state in time"
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        while anvil_pids(state):
            time.sleep(0.05)
    assert not (tmp_path / "chain" / "node.url").exists()
    with local_chain(tmp_path) as url:
        assert int(rpc(url, "eth_blockNumber"), 16) >= block
        assert int(rpc(url, "eth_getBalance", PAYEE, "latest"), 16) == 12345


def test_a_damaged_state_is_replaced_by_the_last_good_copy(tmp_path: Path) -> None:
    chain = tmp_path / "chain"
    with local_chain(tmp_path) as url:
        block = pay(url, 777)
    assert state_block(chain / LAST_GOOD_FILE) == block  # copied after the clean stop
    (chain / STATE_FILE).write_text('{"block":{"number":"0x')  # as a kill during anvil's write leaves it
    with local_chain(tmp_path) as url:
        assert int(rpc(url, "eth_getBalance", PAYEE, "latest"), 16) == 777
    (broken,) = chain.glob("anvil-state.broken-*.json")
    assert broken.read_text() == '{"block":{"number":"0x'


def test_a_damaged_state_without_a_copy_is_left_alone(tmp_path: Path) -> None:
    chain = tmp_path / "chain"
    chain.mkdir()
    (chain / STATE_FILE).write_text("{")
    with pytest.raises(ChainUnavailable, match="damaged"), local_chain(tmp_path):
        pass
    assert (chain / STATE_FILE).read_text() == "{" and not anvil_pids(chain / STATE_FILE)
