"""A local chain whose state survives restarts: anvil (npm) with --state in the data directory, started for
as long as a command needs it. Used by the CLI when no chain URL is set (the in-process EVM lives only inside
one process, which suits `qledger demo` but not a ledger kept across commands), and by the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from ledger_service.errors import ChainUnavailable

_REPO_ANVIL = Path(__file__).resolve().parents[1] / "hardhat/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"


def find_anvil() -> str:
    for candidate in (os.environ.get("QLEDGER_ANVIL"), str(_REPO_ANVIL), shutil.which("anvil")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ChainUnavailable(
        "no chain: set QLEDGER_CHAIN_URL, or install anvil (npm @foundry-rs/anvil-linux-amd64; QLEDGER_ANVIL=path)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def anvil(*extra: str, state: Path | None = None, port: int | None = None) -> Iterator[str]:
    """Start anvil on `port` (default: a free loopback port), its state loaded from and written back to
    `state` if given (else kept in a temporary home); yield its URL; stop it."""
    with ExitStack() as stack:
        home = (
            state.parent if state else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qledger-anvil-")))
        )
        port = port or free_port()
        # --prune-history keeps memory bounded; without it anvil grows without limit.
        cmd = [find_anvil(), "--host", "127.0.0.1", "--port", str(port), "--prune-history", "--silent", *extra]
        if state:
            cmd += ["--state", str(state)]
        proc = subprocess.Popen(cmd, env={**os.environ, "HOME": str(home)}, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while not _answers(url):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise ChainUnavailable("anvil did not start")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()  # anvil writes its state on SIGTERM
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _answers(url: str) -> bool:
    try:
        httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
        return True
    except httpx.TransportError:
        return False


@contextmanager
def local_chain(data_dir: Path) -> Iterator[str]:
    """The data directory's own chain: anvil with its state in `data_dir/chain`. While one command runs it
    (`qledger serve`, say), `chain/node.url` names it and other commands use that node instead of starting a
    second one on the same state."""
    state_dir = data_dir / "chain"
    state_dir.mkdir(parents=True, exist_ok=True)
    marker = state_dir / "node.url"
    if marker.exists() and _answers(running := marker.read_text().strip()):
        yield running
        return
    with anvil("--hardfork", "cancun", state=state_dir / "anvil-state.json") as url:
        marker.write_text(url)
        try:
            yield url
        finally:
            marker.unlink(missing_ok=True)
