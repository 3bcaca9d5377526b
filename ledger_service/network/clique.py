"""geth v1.13.15 clique nodes: keys, genesis, start and stop (docs/architecture.md section 10).

Each member's node key is also its clique signer key (Besu's QBFT does the same: a validator's address is its
node key's), so one key per member names its node (enode) and its validator address. geth's keystore holds
the key for `--unlock`, encrypted under a random password kept 0600 beside it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_keys.datatypes import PrivateKey

from ledger_service.errors import ChainUnavailable, LedgerError
from ledger_service.network.engines import geth_binary
from ledger_service.network.processes import kill_and_wait

GAS_LIMIT = 30_000_000
EPOCH = 30_000


def private_file(path: Path, text: str) -> None:
    """Write `text` to a new file readable by its owner alone (0600), replacing any old one."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@dataclass(frozen=True)
class NodeKey:
    """A member's node and signer key."""

    private: bytes

    @property
    def public_hex(self) -> str:
        """The 64-byte public key in hex: the node id of its enode URL."""
        return str(PrivateKey(self.private).public_key.to_bytes().hex())

    @property
    def address(self) -> str:
        return str(Account.from_key(self.private).address)

    def enode(self, port: int, host: str = "127.0.0.1") -> str:
        return f"enode://{self.public_hex}@{host}:{port}"


def new_node_key() -> NodeKey:
    return NodeKey(secrets.token_bytes(32))


def clique_extra_data(signers: Sequence[str]) -> str:
    """Clique's genesis extraData: 32 bytes of vanity, the signers' addresses in ascending order, 65 zero bytes
    for the seal."""
    ordered = sorted(bytes.fromhex(s.removeprefix("0x")) for s in signers)
    return "0x" + (b"\x00" * 32 + b"".join(ordered) + b"\x00" * 65).hex()


# Every fork up to London at block 0: clique's highest (geth 1.13 refuses Shanghai without the merge).
_FORKS = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "muirGlacierBlock",
    "berlinBlock",
    "londonBlock",
    "arrowGlacierBlock",
    "grayGlacierBlock",
)


def clique_genesis(chain_id: int, period_s: int, signers: Sequence[str], alloc: dict[str, int]) -> dict[str, Any]:
    """A geth genesis for a clique chain sealed by `signers` every `period_s` seconds; `alloc` funds accounts."""
    return {
        "config": {"chainId": chain_id, **dict.fromkeys(_FORKS, 0), "clique": {"period": period_s, "epoch": EPOCH}},
        "difficulty": "0x1",
        "gasLimit": hex(GAS_LIMIT),
        "extradata": clique_extra_data(signers),
        "alloc": {a.removeprefix("0x").lower(): {"balance": hex(wei)} for a, wei in alloc.items()},
    }


@dataclass(frozen=True)
class NodeSpec:
    """One member's geth node as the network description records it."""

    member: str
    address: str  # its signer (and node key) address
    enode: str
    rpc_port: int
    p2p_port: int
    auth_port: int
    dir: Path  # the node's own directory: datadir, keystore, password, log, pid

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def pid_file(self) -> Path:
        return self.dir / "geth.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "geth.log"


def prepare_node(node: NodeSpec, key: NodeKey, genesis: dict[str, Any], peers: Sequence[str]) -> None:
    """Lay out a node's directory: node key, keystore and password (all 0600), static peers, initialised
    chain database."""
    private_dir(node.dir)
    data = private_dir(node.dir / "data")
    private_dir(data / "geth")
    private_file(data / "geth" / "nodekey", key.private.hex())
    password = secrets.token_urlsafe(24)
    private_file(node.dir / "password", password)
    keystore = private_dir(data / "keystore")
    # A light scrypt: the password never leaves the node's directory, which only its owner can read.
    encrypted = Account.encrypt(key.private, password, kdf="scrypt", iterations=2**14)
    private_file(keystore / f"{key.address.lower()}.json", json.dumps(encrypted))
    private_file(node.dir / "genesis.json", json.dumps(genesis, indent=2))
    static = ", ".join(json.dumps(p) for p in peers)
    private_file(node.dir / "config.toml", f"[Node.P2P]\nStaticNodes = [{static}]\n")
    out = subprocess.run(
        [str(geth_binary()), "--datadir", str(data), "init", str(node.dir / "genesis.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise LedgerError(f"{node.dir / 'genesis.json'}: geth init failed: {out.stderr.strip().splitlines()[-1:]}")


def node_command(node: NodeSpec, network_id: int, mine: bool = True) -> list[str]:
    """geth as a clique signer on loopback: no discovery (static peers only), HTTP JSON-RPC with the admin API
    (peers are managed through it), its signer key unlocked for sealing. With `mine` False it seals only once
    `miner_start` is called (a new network: see start_sealing)."""
    data = node.dir / "data"
    return [
        str(geth_binary()),
        "--config", str(node.dir / "config.toml"),
        "--datadir", str(data),
        "--networkid", str(network_id),
        "--syncmode", "full",
        "--port", str(node.p2p_port),
        "--nodiscover", "--nat", "none", "--netrestrict", "127.0.0.0/8", "--maxpeers", "50",
        "--http", "--http.addr", "127.0.0.1", "--http.port", str(node.rpc_port),
        "--http.api", "eth,net,web3,admin,clique,txpool,miner",
        "--authrpc.addr", "127.0.0.1", "--authrpc.port", str(node.auth_port),
        "--ipcdisable",
        "--unlock", node.address, "--password", str(node.dir / "password"), "--allow-insecure-unlock",
        *(["--mine"] if mine else []), "--miner.etherbase", node.address,
        # New transactions join the block being sealed at each recommit: geth's shortest (1 s; default 2 s).
        "--miner.recommit", "1s",
        "--verbosity", "2",
    ]  # fmt: skip


def start_node(node: NodeSpec, network_id: int, timeout_s: float = 60, mine: bool = True) -> int:
    """Start a node detached (its own session: it outlives the command), wait for its RPC; returns its pid."""
    private_dir(node.dir)
    log = os.open(node.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            node_command(node, network_id, mine),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        os.close(log)
    private_file(node.pid_file, str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while not answers(node.rpc_url):
        if proc.poll() is not None:
            raise ChainUnavailable(f"{node.log_file}: geth exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise ChainUnavailable(f"{node.log_file}: geth did not answer on {node.rpc_url}")
        time.sleep(0.1)
    return proc.pid


def rpc(url: str, method: str, *params: Any, timeout: float = 5) -> Any:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=timeout)
    body = reply.json()
    if "error" in body:
        raise LedgerError(f"{url} {method}: {body['error'].get('message')}")
    return body["result"]


def answers(url: str) -> bool:
    try:
        rpc(url, "eth_blockNumber", timeout=1)
        return True
    except (httpx.HTTPError, ValueError, LedgerError):
        return False


def node_pid(node: NodeSpec) -> int | None:
    """The pid of the node's running geth, None when it is not running (a stale pid file, or a pid now used
    by another program, is not the node's)."""
    try:
        pid = int(node.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if str(node.dir / "data").encode() in cmdline else None


def stop_node(node: NodeSpec, timeout_s: float = 20, sig: signal.Signals = signal.SIGTERM) -> bool:
    """Stop the node's geth by its pid (SIGTERM, then SIGKILL after `timeout_s`); False when it was not running."""
    pid = node_pid(node)
    if pid is None:
        node.pid_file.unlink(missing_ok=True)
        return False
    kill_and_wait(pid, timeout_s, sig)
    node.pid_file.unlink(missing_ok=True)
    return True
