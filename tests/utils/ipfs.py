"""A throwaway IPFS node: Kubo (built by .ci/install-engines.sh) serving its RPC API on loopback, offline (no
bootstrap peers, no network), in a repository of its own; and a throwaway peer set of several members' Kubo
nodes and IPFS Cluster peers (ledger_service/network/ipfs.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from ledger_service.network.engines import ipfs_binary
from ledger_service.network.ipfs import IpfsPeer, launch_ipfs_peers, stop_ipfs_peers
from tests.utils.anvil import free_port


def kubo_env(repo: Path | str) -> dict[str, str]:
    return {
        **os.environ,
        "IPFS_PATH": str(repo),
        "HOME": str(repo),
        "GOLOG_LOG_LEVEL": "error",
        "IPFS_TELEMETRY": "off",  # Kubo's usage reports to its makers
    }


def kubo_run(repo: Path | str, *args: str, stdin: bytes | None = None) -> bytes:
    """Run a Kubo command on the repository `repo` (offline when no daemon holds it); its stdout."""
    done = subprocess.run([str(ipfs_binary()), *args], env=kubo_env(repo), input=stdin, check=True, capture_output=True)
    return done.stdout


def init_kubo_repo(repo: Path, api: int) -> None:
    """A repository with the test profile (loopback, no bootstrap, no discovery) and its API on `api`."""
    repo.mkdir(parents=True, exist_ok=True)
    kubo_run(repo, "init", "--profile", "test", "--empty-repo")
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Addresses"]["API"] = f"/ip4/127.0.0.1/tcp/{api}"
    config["Addresses"]["Gateway"] = f"/ip4/127.0.0.1/tcp/{free_port()}"
    config["Addresses"]["Swarm"] = [f"/ip4/127.0.0.1/tcp/{free_port()}"]
    config["Bootstrap"] = []
    plugins = config.setdefault("Plugins", {})
    plugins["Plugins"] = {**(plugins.get("Plugins") or {}), "telemetry": {"Config": {"Mode": "off"}}}
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)


@contextmanager
def ipfs_node(repo_dir: Path | None = None, api: int | None = None) -> Iterator[str]:
    """Start a Kubo daemon; yield its RPC API URL; stop it. With `repo_dir` (and `api`) the repository
    persists, so the same node can be stopped and started again; else it is a removed temporary one."""
    binary = ipfs_binary()
    with contextlib.ExitStack() as stack:
        repo = repo_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qledger-ipfs-")))
        api = api or free_port()
        if not (repo / "config").exists():
            init_kubo_repo(repo, api)
        # A daemon that was killed leaves its lock and API address behind: a restart must not trip on them.
        for stale in ("repo.lock", "api"):
            (repo / stale).unlink(missing_ok=True)
        proc = subprocess.Popen(
            [str(binary), "daemon", "--offline"],
            env=kubo_env(repo),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{api}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.post(f"{url}/api/v0/id", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"Kubo daemon did not start (repository {repo})")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def ipfs_peer_set(
    root: Path, members: list[str], replication_min: int = 2, replication_max: int = 3
) -> Iterator[list[IpfsPeer]]:
    """Launch one Kubo node and one IPFS Cluster peer per member under `root`; stop them all afterwards."""
    try:
        yield launch_ipfs_peers(root, members, replication_min, replication_max)
    finally:
        if (root / "ipfs" / "peers.json").exists():
            stop_ipfs_peers(root)
