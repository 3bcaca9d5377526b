"""A local IPFS peer set for a consortium's members: per member one Kubo node and one IPFS Cluster peer (CRDT
consensus, one shared secret, every member's peer trusted, a replication factor per pin), all on loopback, in
directories of their own under `root/ipfs/<member>` (docs/architecture.md section 11).

The processes are detached (their own session, logs in their directories) so that they outlive the command
that started them; each is known by its pid file, which `stop_ipfs_peers` and `ipfs_peers_status` read.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from ledger_service.errors import LedgerError
from ledger_service.network.engines import cluster_service_binary, ipfs_binary
from ledger_service.network.processes import alive, kill_and_wait

START_TIMEOUT_S: Final = 90.0
STOP_TIMEOUT_S: Final = 20.0
PEERS_FILE: Final = "peers.json"


class IpfsNetworkError(LedgerError, RuntimeError):
    """The peer set could not be started, or its directory is not one."""


@dataclass(frozen=True)
class IpfsPeer:
    """One member's Kubo node and IPFS Cluster peer, as started."""

    member: str
    kubo_api_url: str  # Kubo RPC API (/api/v0/...)
    cluster_api_url: str  # IPFS Cluster REST API (/id, /pins, ...)
    pids: tuple[int, ...]  # (Kubo daemon, cluster peer)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "pids": list(self.pids)}


@dataclass(frozen=True)
class _Ports:
    kubo_api: int
    kubo_gateway: int
    kubo_swarm: int
    cluster_api: int
    cluster_listen: int
    cluster_proxy: int
    cluster_pinsvc: int


def _free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _private(path: Path) -> None:
    """Keys and configuration at rest are the owner's only (docs/threat-model.md)."""
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if p.is_symlink():
            continue
        p.chmod(0o700 if p.is_dir() else 0o600)


def _member_dir(root: Path, member: str) -> Path:
    if not member or "/" in member or member.startswith("."):
        raise IpfsNetworkError(f"member name {member!r} cannot name a directory")
    return root / "ipfs" / member


def _kubo_env(repo: Path) -> dict[str, str]:
    return {**os.environ, "IPFS_PATH": str(repo), "GOLOG_LOG_LEVEL": "error", "IPFS_TELEMETRY": "off"}


def _init_kubo(repo: Path, ports: _Ports) -> str:
    """A Kubo repository: test profile (loopback, no bootstrap, no discovery), no routing beyond the members'
    own peering; returns the node's peer id."""
    env = _kubo_env(repo)
    subprocess.run(
        [str(ipfs_binary()), "init", "--profile", "test", "--empty-repo"], env=env, check=True, capture_output=True
    )
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Addresses"].update(
        API=f"/ip4/127.0.0.1/tcp/{ports.kubo_api}",
        Gateway=f"/ip4/127.0.0.1/tcp/{ports.kubo_gateway}",
        Swarm=[f"/ip4/127.0.0.1/tcp/{ports.kubo_swarm}"],
    )
    config["Bootstrap"] = []
    config.setdefault("Routing", {})["Type"] = "none"
    config.setdefault("AutoConf", {})["Enabled"] = False
    # Kubo's telemetry plugin reports usage to its makers: off (nothing leaves the members' network).
    plugins = config.setdefault("Plugins", {})
    plugins["Plugins"] = {**(plugins.get("Plugins") or {}), "telemetry": {"Config": {"Mode": "off"}}}
    config_path.write_text(json.dumps(config, indent=2))
    return str(config["Identity"]["PeerID"])


def _set_kubo_peering(repo: Path, others: list[tuple[str, int]]) -> None:
    """Every other member's node as a permanent peer (Kubo reconnects to them when a connection drops)."""
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Peering"] = {"Peers": [{"ID": pid, "Addrs": [f"/ip4/127.0.0.1/tcp/{port}"]} for pid, port in others]}
    config_path.write_text(json.dumps(config, indent=2))


def _init_cluster(path: Path, member: str, ports: _Ports, secret: str, rmin: int, rmax: int) -> str:
    """An IPFS Cluster peer's configuration (CRDT consensus); returns its peer id."""
    env = {**os.environ, "IPFS_CLUSTER_PATH": str(path), "CLUSTER_SECRET": secret}
    subprocess.run(
        [str(cluster_service_binary()), "--config", str(path), "init", "--consensus", "crdt", "--force"],
        env=env,
        check=True,
        capture_output=True,
    )
    service_path = path / "service.json"
    service = json.loads(service_path.read_text())
    cluster = service["cluster"]
    cluster.update(
        peername=member,
        secret=secret,
        listen_multiaddress=[f"/ip4/127.0.0.1/tcp/{ports.cluster_listen}"],
        replication_factor_min=rmin,
        replication_factor_max=rmax,
        mdns_interval="0s",
        enable_relay_hop=False,
        monitor_ping_interval="2s",
        peer_watch_interval="5s",
        state_sync_interval="1m0s",
        pin_recover_interval="30s",
        disable_repinning=False,
    )
    api = service["api"]
    api["restapi"]["http_listen_multiaddress"] = f"/ip4/127.0.0.1/tcp/{ports.cluster_api}"
    api["ipfsproxy"]["listen_multiaddress"] = f"/ip4/127.0.0.1/tcp/{ports.cluster_proxy}"
    api["ipfsproxy"]["node_multiaddress"] = f"/ip4/127.0.0.1/tcp/{ports.kubo_api}"
    if "pinsvcapi" in api:
        api["pinsvcapi"]["http_listen_multiaddress"] = f"/ip4/127.0.0.1/tcp/{ports.cluster_pinsvc}"
    service["ipfs_connector"]["ipfshttp"]["node_multiaddress"] = f"/ip4/127.0.0.1/tcp/{ports.kubo_api}"
    # Metrics every few seconds: the allocator learns of every peer soon after start, and of a dead one soon.
    for informer in service["informer"].values():
        informer["metric_ttl"] = "4s"
    service["monitor"]["pubsubmon"]["check_interval"] = "2s"
    service["ipfs_connector"]["ipfshttp"].update(pin_timeout="1m0s", connect_swarms_delay="1s")
    crdt = service["consensus"]["crdt"]
    crdt["cluster_name"] = "qledger"
    # Pins are committed in small batches: many records' pins per CRDT update.
    crdt["batching"] = {"max_batch_size": 64, "max_batch_age": "50ms", "max_queue_size": 50000}
    service_path.write_text(json.dumps(service, indent=2))
    identity = json.loads((path / "identity.json").read_text())
    return str(identity["id"])


def _spawn(args: list[str], env: dict[str, str], log: Path, pid_file: Path) -> int:
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
        proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the caller, and its signals
        )
    pid_file.write_text(f"{proc.pid}\n")
    pid_file.chmod(0o600)
    return proc.pid


def _wait_until(check: Any, what: str, pids: list[int]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        dead = [p for p in pids if not alive(p)]
        if dead:
            raise IpfsNetworkError(f"{what}: process {dead[0]} exited (see its log)")
        if time.monotonic() > deadline:
            raise IpfsNetworkError(f"{what}: not ready after {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def _ours(pid: int, directory: Path) -> bool:
    """Whether `pid` is still the engine started for `directory` (a pid file can outlive its process and the
    pid be reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(directory).encode() in cmdline and alive(pid)


def _start_kubo(directory: Path) -> int:
    repo = directory / "kubo"
    for stale in ("repo.lock", "api"):  # left by a node that was killed
        (repo / stale).unlink(missing_ok=True)
    env = _kubo_env(repo)
    argv = [str(ipfs_binary()), "--repo-dir", str(repo), "daemon"]
    return _spawn(argv, env, directory / "kubo.log", directory / "kubo.pid")


def _start_cluster(directory: Path) -> int:
    path = directory / "cluster"
    (path / "cluster.lock").unlink(missing_ok=True)
    env = {**os.environ, "IPFS_CLUSTER_PATH": str(path)}
    argv = [str(cluster_service_binary()), "--config", str(path), "daemon"]
    return _spawn(argv, env, directory / "cluster.log", directory / "cluster.pid")


def launch_ipfs_peers(
    root: Path, members: list[str], replication_min: int = 2, replication_max: int = 3
) -> list[IpfsPeer]:
    """Create and start one Kubo node and one IPFS Cluster peer per member under `root/ipfs`; returns them
    once every cluster peer sees all the others. A peer set already under `root` is started again as it was
    configured (its ports and identities kept)."""
    if not members or len(set(members)) != len(members):
        raise IpfsNetworkError("members: give each member once")
    if not 1 <= replication_min <= replication_max:
        raise IpfsNetworkError("replication: need 1 <= replication_min <= replication_max")
    base = root / "ipfs"
    described = base / PEERS_FILE
    if described.exists():
        layout = json.loads(described.read_text())
        if [m["member"] for m in layout["members"]] != members:
            raise IpfsNetworkError(f"{described} describes other members: stop and remove it first")
    else:
        layout = _create(root, members, replication_min, replication_max)
    for m in layout["members"]:
        if _running(_member_dir(root, m["member"])):
            raise IpfsNetworkError(f"the peers under {base} are running already: stop them first")
    try:
        return _start_all(root, layout)
    except BaseException:
        stop_ipfs_peers(root)  # nothing half-started is left running
        raise


def _start_all(root: Path, layout: dict[str, Any]) -> list[IpfsPeer]:
    directories = [_member_dir(root, m["member"]) for m in layout["members"]]
    kubo = [_start_kubo(d) for d in directories]
    for m in layout["members"]:
        url = f"http://127.0.0.1:{m['kubo_api']}"
        _wait_until(
            lambda u=url: httpx.post(f"{u}/api/v0/id", timeout=2).status_code == 200, f"Kubo of {m['member']}", kubo
        )
    # One cluster peer after the other, each once the previous answers: each dials the peers started before it
    # (peer_addresses), so every pair is connected however slowly they boot.
    peers: list[IpfsPeer] = []
    for m, directory, kubo_pid in zip(layout["members"], directories, kubo, strict=True):
        pid = _start_cluster(directory)
        url = f"http://127.0.0.1:{m['cluster_api']}"
        _wait_until(
            lambda u=url: httpx.get(f"{u}/id", timeout=2).status_code == 200,
            f"cluster peer of {m['member']}",
            [pid, *kubo],
        )
        peers.append(IpfsPeer(m["member"], f"http://127.0.0.1:{m['kubo_api']}", url, (kubo_pid, pid)))
    all_pids = [p for peer in peers for p in peer.pids]
    for peer in peers:
        _wait_until(
            lambda u=peer.cluster_api_url: len(cluster_peers(u)) == len(peers) and _metrics_from(u) == len(peers),
            f"IPFS Cluster peer of {peer.member} seeing every member's peer and its metrics",
            all_pids,
        )
    return peers


def _metrics_from(cluster_api_url: str) -> int:
    """From how many peers a cluster peer holds a current free-space metric (what its allocator needs)."""
    response = httpx.get(f"{cluster_api_url}/monitor/metrics/freespace", timeout=5)
    if response.status_code != 200:
        return 0
    text = response.text.strip()
    metrics = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
    return len({m.get("peer") for m in metrics if m.get("valid", True)})


def _create(root: Path, members: list[str], rmin: int, rmax: int) -> dict[str, Any]:
    base = root / "ipfs"
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o700)
    secret = secrets.token_hex(32)
    entries: list[dict[str, Any]] = []
    for member in members:
        directory = _member_dir(root, member)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        ports = _Ports(*_free_ports(7))
        kubo_id = _init_kubo(directory / "kubo", ports)
        cluster_id = _init_cluster(directory / "cluster", member, ports, secret, rmin, rmax)
        entries.append({"member": member, "kubo_id": kubo_id, "cluster_id": cluster_id, **asdict(ports)})
    for e in entries:
        directory = _member_dir(root, e["member"])
        others = [o for o in entries if o is not e]
        _set_kubo_peering(directory / "kubo", [(o["kubo_id"], o["kubo_swarm"]) for o in others])
        service_path = directory / "cluster" / "service.json"
        service = json.loads(service_path.read_text())
        service["consensus"]["crdt"]["trusted_peers"] = [o["cluster_id"] for o in entries]
        # Every other member's peer: each peer dials them at start (and after a restart).
        addresses = [f"/ip4/127.0.0.1/tcp/{o['cluster_listen']}/p2p/{o['cluster_id']}" for o in others]
        service["cluster"]["peer_addresses"] = addresses
        service_path.write_text(json.dumps(service, indent=2))
        (directory / "cluster" / "peerstore").write_text("".join(f"{a}\n" for a in addresses))
        _private(directory)
    layout = {"replication_min": rmin, "replication_max": rmax, "members": entries}
    (base / PEERS_FILE).write_text(json.dumps(layout, indent=2))
    (base / PEERS_FILE).chmod(0o600)
    return layout


def cluster_peers(cluster_api_url: str) -> list[dict[str, Any]]:
    """The peers a cluster peer knows of and reached (GET /peers answers one JSON object per line)."""
    response = httpx.get(f"{cluster_api_url}/peers", timeout=5)
    response.raise_for_status()
    peers = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return [p for p in peers if not p.get("error")]


def _pid(directory: Path, name: str) -> int | None:
    try:
        return int((directory / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _running(directory: Path) -> bool:
    for name, sub in (("kubo", "kubo"), ("cluster", "cluster")):
        pid = _pid(directory, name)
        if pid is not None and _ours(pid, directory / sub):
            return True
    return False


def _layout(root: Path) -> dict[str, Any]:
    described = root / "ipfs" / PEERS_FILE
    if not described.exists():
        raise IpfsNetworkError(f"{described} missing: no IPFS peer set was launched under {root}")
    layout: dict[str, Any] = json.loads(described.read_text())
    return layout


def stop_ipfs_peers(root: Path) -> None:
    """Stop every engine `launch_ipfs_peers` started under `root`, by its pid file (SIGTERM, then SIGKILL);
    data and configuration stay. With no peer set under `root` (a network whose start failed before its IPFS
    side), there is nothing to stop."""
    if not (root / "ipfs" / PEERS_FILE).exists():
        return
    layout = _layout(root)
    targets: list[tuple[int, Path]] = []
    for m in layout["members"]:
        directory = _member_dir(root, m["member"])
        for name in ("cluster", "kubo"):  # the cluster peer first: it talks to its Kubo
            pid = _pid(directory, name)
            if pid is not None and _ours(pid, directory / name):
                os.kill(pid, signal.SIGTERM)
                targets.append((pid, directory / name))
            (directory / f"{name}.pid").unlink(missing_ok=True)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for pid, directory in targets:
        while _ours(pid, directory) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _ours(pid, directory):
            os.kill(pid, signal.SIGKILL)
        _reap(pid)


def _reap(pid: int) -> None:
    """Collect a child's exit status (when the caller of launch is still the parent)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_member(root: Path, member: str) -> None:
    """SIGKILL one member's Kubo node and cluster peer (fault tests); their pid files stay."""
    directory = _member_dir(root, member)
    for name in ("cluster", "kubo"):
        pid = _pid(directory, name)
        if pid is not None and _ours(pid, directory / name):
            kill_and_wait(pid)


def ipfs_peers_status(root: Path) -> list[dict[str, Any]]:
    """Per member: its endpoints, whether each process runs and answers, and how many cluster peers it sees."""
    layout = _layout(root)
    out: list[dict[str, Any]] = []
    for m in layout["members"]:
        directory = _member_dir(root, m["member"])
        kubo_url, cluster_url = f"http://127.0.0.1:{m['kubo_api']}", f"http://127.0.0.1:{m['cluster_api']}"
        kubo_pid, cluster_pid = _pid(directory, "kubo"), _pid(directory, "cluster")
        entry: dict[str, Any] = {
            "member": m["member"],
            "kubo_api_url": kubo_url,
            "cluster_api_url": cluster_url,
            "kubo_running": kubo_pid is not None and _ours(kubo_pid, directory / "kubo"),
            "cluster_running": cluster_pid is not None and _ours(cluster_pid, directory / "cluster"),
            "kubo_answers": False,
            "cluster_peers": 0,
            "replication_min": layout["replication_min"],
            "replication_max": layout["replication_max"],
        }
        try:
            entry["kubo_answers"] = httpx.post(f"{kubo_url}/api/v0/id", timeout=2).status_code == 200
        except httpx.HTTPError:
            pass
        try:
            entry["cluster_peers"] = len(cluster_peers(cluster_url))
        except httpx.HTTPError:
            pass
        out.append(entry)
    return out
