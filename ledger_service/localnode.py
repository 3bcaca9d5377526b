"""A local chain whose state survives restarts: anvil (npm) with --state in the data directory, started for
as long as a command needs it. Used by the CLI when no chain URL is set (the in-process EVM lives only inside
one process, which suits `qledger demo` but not a ledger kept across commands), and by the tests.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from ledger_service.errors import ChainUnavailable

log = logging.getLogger("qledger.localnode")

# anvil rewrites its state file this often (seconds): a crash of anvil or of the machine loses at most this
# much of the chain, instead of everything since the node started.
STATE_INTERVAL_S = 5
STATE_FILE = "anvil-state.json"
# The state as it was at the last start or clean stop. anvil rewrites its state file in place (truncate, then
# write), so a kill during a write leaves a file anvil refuses to load; this copy is what it then restarts from.
LAST_GOOD_FILE = "anvil-state.last-good.json"

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

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


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send the child SIGTERM when this process dies, even by SIGKILL, so that
    no orphan node outlives it (and anvil still writes its state on that SIGTERM). Linux only. The kernel ties
    it to the thread that starts the child: start nodes from a thread that lives as long as they do."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


@contextmanager
def anvil(*extra: str, state: Path | None = None, port: int | None = None) -> Iterator[str]:
    """Start anvil on `port` (default: a free loopback port), its state loaded from and written back to
    `state` if given (else kept in a temporary home); yield its URL; stop it."""
    with anvil_process(*extra, state=state, port=port) as (_, url):
        yield url


@contextmanager
def anvil_process(
    *extra: str, state: Path | None = None, port: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`anvil`, yielding its process too (a fault test kills it)."""
    with ExitStack() as stack:
        home = (
            state.parent if state else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qledger-anvil-")))
        )
        port = port or free_port()
        # --prune-history keeps memory bounded; without it anvil grows without limit.
        cmd = [find_anvil(), "--host", "127.0.0.1", "--port", str(port), "--prune-history", "--silent", *extra]
        if state:
            cmd += ["--state", str(state)]
        proc = subprocess.Popen(
            cmd, env={**os.environ, "HOME": str(home)}, stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent()
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while not _answers(url):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise ChainUnavailable("anvil did not start")
                time.sleep(0.05)
            yield proc, url
        finally:
            if proc.poll() is None:
                _stop_process(proc)


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then wait (anvil writes its state on the way out); SIGKILL only if it does not go in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
    state = state_dir / STATE_FILE
    _check_state(state)
    with anvil("--hardfork", "cancun", "--state-interval", str(STATE_INTERVAL_S), state=state) as url:
        marker.write_text(url)
        try:
            yield url
        finally:
            marker.unlink(missing_ok=True)
    _check_state(state)  # anvil has stopped and written its state: keep that as the last good one


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
        return True
    except (OSError, ValueError):
        return False


def _check_state(state: Path) -> None:
    """Keep a copy of a state file that parses; put back the last good copy in place of one that does not (a
    kill during anvil's periodic write), keeping the broken file beside it."""
    last_good = state.with_name(LAST_GOOD_FILE)
    if not state.exists():
        return
    if _parses(state):
        scratch = last_good.with_suffix(".tmp")
        shutil.copyfile(state, scratch)
        os.replace(scratch, last_good)  # atomic: the copy is never half written either
        return
    if not last_good.exists():  # left in place: a fresh chain must not silently replace the ledger's
        raise ChainUnavailable(f"the chain state {state} is damaged and there is no last good copy")
    broken = state.with_name(f"{state.stem}.broken-{int(time.time())}.json")
    os.replace(state, broken)
    shutil.copyfile(last_good, state)
    log.warning("the chain state %s was damaged (kept as %s); restarted from %s", state, broken.name, last_good.name)
