"""A throwaway anvil node (npm @foundry-rs/anvil-linux-amd64, installed by .ci/install.sh) on loopback."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "hardhat/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
# anvil's first development key: public knowledge, used only on throwaway local chains.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def anvil_node(*extra: str) -> Iterator[str]:
    """Start anvil, yield its URL, stop it. Its state lives in a temporary home, removed afterwards."""
    if not ANVIL.exists():
        raise RuntimeError(f"{ANVIL} missing: run bash .ci/install.sh")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="qledger-anvil-") as home:
        # --prune-history: without it anvil keeps every state and grows without bound.
        cmd = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--prune-history", "--silent", *extra]
        proc = subprocess.Popen(cmd, env={"HOME": home}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    httpx.post(
                        url,
                        json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                        timeout=1,
                    )
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("anvil did not start") from None
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
