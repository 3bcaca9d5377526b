"""`qledger network up/status/down`: a local consortium network in a directory of its own
(docs/architecture.md section 10). One geth clique node per member, signers all; the consortium founded on it
through the application layer (`local_consortium`, as `qledger init` founds one on anvil); one Kubo node and
IPFS Cluster peer per member unless asked not to; the Besu QBFT production configuration generated from the
same description. `network.json` describes it all; every process is started detached and stopped by its pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_service import local_consortium
from ledger_service.errors import ChainUnavailable, LedgerError
from ledger_service.localnode import free_port
from ledger_service.network import besu
from ledger_service.network import ipfs as ipfs_peers
from ledger_service.network.clique import (
    NodeKey,
    NodeSpec,
    clique_genesis,
    new_node_key,
    node_pid,
    prepare_node,
    private_dir,
    private_file,
    rpc,
    start_node,
    stop_node,
)

FORMAT = "qledger-network/1"
DESCRIPTION_FILE = "network.json"
TRUST_FILE = "consortium.json"
DATA_DIR = "data"  # the consortium's qledger data directory (member keys, index, profile)
MEMBERS = (
    local_consortium.LAB,
    local_consortium.CAL,
    local_consortium.MFR,
    local_consortium.REG,
    local_consortium.NIM,
    *local_consortium.AGENTS,
)
# Blocks on an anchor's block before it counts as final on this network: clique can reorganise while a signer
# is cut off and rejoins (out-of-turn blocks lose to in-turn ones); a few periods cover it.
CLIQUE_CONFIRMATIONS = 6
# The block period unless `--period` says otherwise: the production Besu QBFT configuration generated from the
# same description seals at it too, and at 1 s the finality target (depth + 2 periods) leaves the anchoring
# pipeline's own fixed delays no room on geth clique (bench/RESULTS.md, "Anchoring on a 4-signer network").
DEFAULT_PERIOD_S = 2
FAUCET_WEI = 10**27


@dataclass(frozen=True)
class Network:
    """A network as `network.json` describes it."""

    root: Path
    chain_id: int
    period_s: int
    confirmations: int
    nodes: tuple[NodeSpec, ...]
    ipfs: tuple[dict[str, Any], ...] | None = None  # each member's IPFS peer; None: the network runs none

    def node(self, member: str) -> NodeSpec:
        for n in self.nodes:
            if n.member == member:
                return n
        raise LedgerError(f"{self.root / DESCRIPTION_FILE}: no member {member!r}")

    def chain_urls(self, member: str) -> list[str]:
        """The member's chain endpoints: its own node first, then the others' (failover order)."""
        own = self.node(member)
        return [own.rpc_url, *(n.rpc_url for n in self.nodes if n is not own)]

    def endpoints(self) -> list[dict[str, Any]]:
        """Every member's endpoints, as `network up` prints them: its node's chain RPC, its Kubo API and IPFS
        Cluster API (None without IPFS), and the settings (QLEDGER_*) that run that member's service on the
        network: chain endpoints and IPFS endpoints in failover order, its own first."""
        peers = {p.get("member"): p for p in self.ipfs or ()}
        out = []
        for node in self.nodes:
            own = peers.get(node.member)
            others = [p for p in self.ipfs or () if p is not own]
            env = {
                "QLEDGER_DATA_DIR": str(self.data_dir),
                "QLEDGER_CHAIN_URL": ",".join(self.chain_urls(node.member)),
                "QLEDGER_CONFIRMATIONS": str(self.confirmations),
            }
            if own is not None:
                env["QLEDGER_IPFS_URL"] = ",".join(str(p["kubo_api_url"]) for p in [own, *others])
                env["QLEDGER_IPFS_CLUSTER_URL"] = ",".join(str(p["cluster_api_url"]) for p in [own, *others])
            out.append(
                {
                    "member": node.member,
                    "validator": node.address,
                    "chain_rpc": node.rpc_url,
                    "kubo_api": None if own is None else own["kubo_api_url"],
                    "cluster_api": None if own is None else own["cluster_api_url"],
                    "env": env,
                }
            )
        return out

    @property
    def data_dir(self) -> Path:
        return self.root / DATA_DIR

    @property
    def trust_file(self) -> Path:
        return self.root / TRUST_FILE

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "engine": "geth-clique",
            "chain_id": self.chain_id,
            "block_period_s": self.period_s,
            "confirmations": self.confirmations,
            "data_dir": DATA_DIR,
            "trust_file": TRUST_FILE,
            "members": [
                {
                    "member": n.member,
                    "validator": n.address,
                    "enode": n.enode,
                    "rpc_url": n.rpc_url,
                    "rpc_port": n.rpc_port,
                    "p2p_port": n.p2p_port,
                    "auth_port": n.auth_port,
                    "node_dir": str(n.dir.relative_to(self.root)),
                    "chain_urls": self.chain_urls(n.member),
                }
                for n in self.nodes
            ],
            "ipfs": None if self.ipfs is None else list(self.ipfs),
        }

    def save(self) -> None:
        private_file(self.root / DESCRIPTION_FILE, json.dumps(self.as_json(), indent=2) + "\n")


def load_network(root: Path) -> Network:
    """The network described in `root/network.json`; LedgerError naming the file otherwise."""
    path = root / DESCRIPTION_FILE
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a qledger network description (format {FORMAT})")
        nodes = tuple(
            NodeSpec(
                member=m["member"],
                address=m["validator"],
                enode=m["enode"],
                rpc_port=int(m["rpc_port"]),
                p2p_port=int(m["p2p_port"]),
                auth_port=int(m["auth_port"]),
                dir=root / m["node_dir"],
            )
            for m in doc["members"]
        )
        return Network(
            root, int(doc["chain_id"]), int(doc["block_period_s"]), int(doc["confirmations"]), nodes,
            None if doc.get("ipfs") is None else tuple(doc["ipfs"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LedgerError(f"{path}: {error}") from None


def plan(root: Path, members: int, period_s: int, ipfs: bool = False) -> tuple[Network, dict[str, NodeKey]]:
    """A new network's description and its members' node keys (nothing written yet)."""
    if not 1 <= members <= len(MEMBERS):
        raise LedgerError(f"--members must be 1 to {len(MEMBERS)} (the local consortium's members)")
    if period_s < 1:
        raise LedgerError("--period must be at least 1 second")
    keys = {m: new_node_key() for m in MEMBERS[:members]}
    nodes = []
    for member, key in keys.items():
        p2p = free_port()
        nodes.append(
            NodeSpec(member, key.address, key.enode(p2p), free_port(), p2p, free_port(), root / "nodes" / member)
        )
    # A chain id of its own, far from anvil's 31337 and from public chains' small ids.
    chain_id = 700_000 + secrets.randbelow(100_000)
    return Network(root, chain_id, period_s, CLIQUE_CONFIRMATIONS, tuple(nodes), () if ipfs else None), keys


def wait_for_network(net: Network, timeout_s: float = 90, blocks: int = 2) -> None:
    """Until every node is connected to all the others and each has a block `blocks` deep, the same on every
    node (with blocks=0: connected)."""
    deadline = time.monotonic() + timeout_s
    want = len(net.nodes) - 1
    while True:
        try:
            ok = all(int(rpc(n.rpc_url, "net_peerCount"), 16) >= want for n in net.nodes)
            if ok and blocks:
                heads = [int(rpc(n.rpc_url, "eth_blockNumber"), 16) for n in net.nodes]
                ok = min(heads) >= blocks and len({_block_hash(n.rpc_url, blocks) for n in net.nodes}) == 1
        except Exception:  # a node still starting
            ok = False
        if ok:
            return
        if time.monotonic() > deadline:
            raise ChainUnavailable(f"{net.root / DESCRIPTION_FILE}: the nodes did not connect and seal in time")
        time.sleep(0.3)


def _block_hash(url: str, number: int) -> str:
    return str(rpc(url, "eth_getBlockByNumber", hex(number), False)["hash"])


def start_sealing(net: Network, nodes: Sequence[NodeSpec]) -> None:
    """Let the signers of `nodes` seal, once every node is connected (see seal_first_block)."""
    wait_for_network(net, blocks=0)
    for node in nodes:
        rpc(node.rpc_url, "miner_start")


def seal_first_block(net: Network, timeout_s: float = 60) -> None:
    """Block 1, sealed by the first signer alone, which then stops sealing and keeps running: the other nodes
    start from genesis and download block 1 from it (`start_other_nodes`). geth drops the blocks its peers
    announce until it has synced once: a completed download from a peer ahead of it, or `miner_start`, marks it
    synced (go-ethereum eth/handler.go). Signers that seal while some node is not yet synced each make a block of
    their own at the same height, forks of equal difficulty on which clique stalls for good (each signer has
    "signed recently" on its own fork; go-ethereum issue 18402). A copy of block 1 in every database, tried
    before, left the nodes unsynced: the first block 2 was dropped by the nodes not yet sealing, about one
    network in five under load. Nodes that have downloaded block 1 accept whichever block 2 comes first."""
    first = net.nodes[0]
    start_node(first, net.chain_id)  # no other node runs: it seals alone
    deadline = time.monotonic() + timeout_s
    while int(rpc(first.rpc_url, "eth_blockNumber"), 16) < 1:
        if time.monotonic() > deadline:
            raise ChainUnavailable(f"{first.log_file}: the first signer sealed no block")
        time.sleep(0.1)
    rpc(first.rpc_url, "miner_stop")  # synced already (it sealed): it seals again with the others


def start_other_nodes(net: Network, say: Callable[[str], None]) -> None:
    """Start every node but the first (which holds block 1, see seal_first_block) without sealing, and wait
    until each has downloaded block 1 from it: each is then synced and accepts the blocks its peers seal."""
    for node in net.nodes[1:]:
        start_node(node, net.chain_id, mine=False)
    for node in net.nodes:
        say(f"{node.member}: geth clique signer {node.address} on {node.rpc_url}")
    wait_for_network(net, blocks=1)  # geth starts a download from fewer than 5 peers only after 10 s


def network_up(
    root: Path,
    members: int = 4,
    period_s: int = DEFAULT_PERIOD_S,
    ipfs: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> Network:
    """Create and start a network in `root`, or start again the nodes of the one described there."""
    if (root / DESCRIPTION_FILE).exists():
        net = load_network(root)
        stopped = [node for node in net.nodes if node_pid(node) is None]
        for node in stopped:
            say(f"starting {node.member}'s node")
            start_node(node, net.chain_id, mine=False)
        start_sealing(net, stopped)
        wait_for_network(net)
        if net.ipfs is not None and not all(
            p["kubo_running"] and p["cluster_running"] for p in ipfs_peers.ipfs_peers_status(root)
        ):  # some or all stopped: start the set again (one part running still is refused, naming the folder)
            ipfs_peers.launch_ipfs_peers(root, [n.member for n in net.nodes])
        return net
    if root.exists() and any(root.iterdir()):
        raise LedgerError(f"{root} is not empty and holds no {DESCRIPTION_FILE}")
    private_dir(root)
    try:
        return _create(root, members, period_s, ipfs, say)
    except BaseException:
        if (root / DESCRIPTION_FILE).exists():
            network_down(root)
        raise


def _create(root: Path, members: int, period_s: int, ipfs: bool, say: Callable[[str], None]) -> Network:
    net, keys = plan(root, members, period_s, ipfs)
    faucet = new_node_key()
    private_file(root / "faucet.key", faucet.private.hex())
    genesis = clique_genesis(net.chain_id, period_s, [n.address for n in net.nodes], {faucet.address: FAUCET_WEI})
    private_file(root / "genesis.json", json.dumps(genesis, indent=2) + "\n")
    net.save()  # first: `network down` finds the nodes by it if anything below fails
    private_dir(root / "nodes")
    for node in net.nodes:
        prepare_node(node, keys[node.member], genesis, [n.enode for n in net.nodes if n is not node])
    seal_first_block(net)
    start_other_nodes(net, say)
    start_sealing(net, net.nodes)
    wait_for_network(net)
    say("founding the consortium on the network")
    found_consortium(net, "0x" + faucet.private.hex())
    if ipfs:
        peers: Sequence[Any] = ipfs_peers.launch_ipfs_peers(root, [n.member for n in net.nodes])
        net = Network(net.root, net.chain_id, net.period_s, net.confirmations, net.nodes,
                      tuple(p.as_json() for p in peers))  # fmt: skip
    besu.write_config(net, root / "besu", keys)
    net.save()
    return net


def found_consortium(net: Network, faucet_key: str) -> None:
    """Found the local consortium on the network (every member admitted, instruments calibrated, escrow
    configured) with the application layer, as `qledger init` does on anvil; write the trust file."""
    from ledger_service.config import Settings
    from ledger_service.runtime import TRUST_FILE as DATA_TRUST_FILE
    from ledger_service.runtime import open_runtime, save_deployment
    from ledger_service.station import save_profile

    first = net.nodes[0].member
    settings = Settings(
        data_dir=net.data_dir, chain_url=",".join(net.chain_urls(first)), confirmations=net.confirmations
    )
    rt = open_runtime(settings, faucet_key=faucet_key)
    try:
        head = rt.service.chain.w3.eth.get_block("latest")
        from datetime import UTC, datetime

        now = datetime.fromtimestamp(head["timestamp"], UTC)
        profile = local_consortium.default_profile()
        local_consortium.found(rt.service, rt.keys, now)
        station = local_consortium.calibrate(rt.service, profile, now)
        local_consortium.configure_escrow(rt.service, rt.keys, profile)
        save_profile(net.data_dir, profile)
        save_deployment(rt, station.certificates)
    finally:
        rt.engine.dispose()
    shutil.copyfile(net.data_dir / DATA_TRUST_FILE, net.trust_file)
    os.chmod(net.trust_file, 0o644)  # published: verifiers read it


def network_status(root: Path) -> dict[str, Any]:
    """Each node's process, head, peers and clique signers as it sees them; the IPFS peers' own status."""
    net = load_network(root)
    nodes = []
    for node in net.nodes:
        entry: dict[str, Any] = {"member": node.member, "rpc_url": node.rpc_url, "pid": node_pid(node)}
        try:
            head = rpc(node.rpc_url, "eth_getBlockByNumber", "latest", False)
            entry.update(
                running=True,
                block=int(head["number"], 16),
                head=head["hash"],
                peers=int(rpc(node.rpc_url, "net_peerCount"), 16),
                signers=rpc(node.rpc_url, "clique_getSigners", "latest"),
            )
        except Exception:
            entry.update(running=False)
        nodes.append(entry)
    out: dict[str, Any] = {"chain_id": net.chain_id, "nodes": nodes, "trust_file": str(net.trust_file)}
    if net.ipfs is not None:
        out["ipfs"] = ipfs_peers.ipfs_peers_status(root)
    return out


def network_down(root: Path) -> list[str]:
    """Stop every process the network started (by pid); returns the members whose node was running."""
    if not (root / DESCRIPTION_FILE).exists():
        raise LedgerError(f"{root / DESCRIPTION_FILE}: no network here")
    net = load_network(root)
    stopped = [n.member for n in net.nodes if stop_node(n)]
    if net.ipfs is not None:
        ipfs_peers.stop_ipfs_peers(root)
    return stopped
