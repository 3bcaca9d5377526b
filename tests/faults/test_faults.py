"""Faults under load: 2,000 records posted to `qledger serve` while the chain node is stopped and restarted, the
IPFS daemon is stopped and restarted, and the service itself is SIGKILLed mid-batch and restarted. Afterwards
every acknowledged record is anchored exactly once (index and chain), its content is pinned on the IPFS node,
and every one verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.index.models import AnchorRow, AttemptRow, RecordRow
from ledger_service.localnode import anvil
from ledger_service.runtime import load_deployment, open_runtime
from ledger_service.serving import WORKER_ARG
from ledger_service.store.ipfs_rpc import IpfsRpcStore
from ledger_service.verification import is_valid, verify_bundles
from tests.utils.anvil import free_port
from tests.utils.ipfs import ipfs_node

N = 2000
QLEDGER = str(Path(sys.executable).parent / "qledger")


@contextmanager
def service(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [QLEDGER, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "qledger serve did not start"
        time.sleep(0.2)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def worker_processes(parent: int) -> list[int]:
    """The pin and anchor worker processes that serve `parent` started (ledger_service/serving.py)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    found = []
    for pid in map(int, out.split()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WORKER_ARG.encode() in argv:
            found.append(pid)
    return found


def gauge(port: int, name: str) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return next(float(line.split()[1]) for line in metrics.splitlines() if line.startswith(f"{name} "))


def test_nothing_lost_nothing_twice_under_faults(tmp_path: Path) -> None:
    data, repo = tmp_path / "data", tmp_path / "ipfs"
    repo.mkdir()
    chain_port, ipfs_port, api_port = free_port(), free_port(), free_port()
    state = tmp_path / "chain" / "state.json"
    state.parent.mkdir()
    chain_args = ("--hardfork", "cancun", "--gas-limit", "100000000")
    with ExitStack() as outer:
        chain = ExitStack()
        chain_url = chain.enter_context(anvil(*chain_args, state=state, port=chain_port))
        ipfs = ExitStack()
        ipfs_url = ipfs.enter_context(ipfs_node(repo, ipfs_port))
        env = {
            **os.environ,
            "QLEDGER_DATA_DIR": str(data),
            "QLEDGER_CHAIN_URL": chain_url,
            "QLEDGER_IPFS_URL": ipfs_url,
        }
        subprocess.run([QLEDGER, "init"], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [QLEDGER, "keys", "issue", LAB], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

        runtime = open_runtime(Settings(data_dir=data, chain_url=chain_url, ipfs_url=ipfs_url))
        assert load_deployment(runtime)
        demo = Demo(runtime.service, runtime.keys, seed=11)
        demo.load_calibrations(runtime.certificates)
        kinds = ["xrf_analysis", "el_image", "xrf_analysis", "tensile_test"]
        bodies = []
        for i in range(N):
            raw, files = demo.record(kinds[i % len(kinds)], 500_000 + i)
            raw["attachments"] = []
            bodies.append((json.dumps(raw), files[0] if files else None))

        server = ExitStack()
        server_proc = server.enter_context(service(env, api_port))
        acknowledged: set[str] = set()
        refusals = {"unreachable": 0, "503": 0}  # how the clients felt the faults
        lock = threading.Lock()

        # Gates: the clients hold at these counts until the fault has happened, so that every fault strikes
        # mid-load however fast the service acknowledges.
        gates = [(2 * N // 5, threading.Event()), (3 * N // 5, threading.Event())]

        def post_all(part: list[tuple[str, object]]) -> None:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as http:
                for record, attachment in part:
                    for count, gate in gates:
                        if len(acknowledged) >= count:
                            gate.wait(timeout=300)
                    while True:  # a client retries until the service acknowledges: 202, or 409 for a replay
                        try:
                            if attachment is None:
                                r = http.post(
                                    "/v1/records", content=record, headers={"content-type": "application/json"}
                                )
                            else:
                                files = [
                                    ("record", (None, record, "application/json")),
                                    ("attachments", (attachment.name, attachment.data, "image/png")),
                                ]  # type: ignore[attr-defined]
                                r = http.post("/v1/records", files=files)
                        except httpx.TransportError:
                            with lock:
                                refusals["unreachable"] += 1
                            time.sleep(0.2)
                            continue
                        if r.status_code in (202, 409):
                            record_id = r.json()["record_id"] if r.status_code == 202 else r.json()["detail"]
                            with lock:
                                acknowledged.add(record_id)
                            break
                        assert r.status_code == 503, r.text  # a dependency down: try again
                        with lock:
                            refusals["503"] += 1
                        time.sleep(0.2)

        # Daemon threads: a failed assertion in the test must not leave them retrying forever.
        clients = [threading.Thread(target=post_all, args=(bodies[i::4],), daemon=True) for i in range(4)]
        for c in clients:
            c.start()

        def when(count: int) -> None:
            deadline = time.monotonic() + 300
            while len(acknowledged) < count:
                assert time.monotonic() < deadline, f"stuck at {len(acknowledged)} acknowledged; {refusals}"
                assert any(c.is_alive() for c in clients), "every client stopped"
                time.sleep(0.05)

        when(N // 5)
        chain.close()  # the chain node stops (its state is written on the way out) ...
        time.sleep(2)
        chain = ExitStack()
        chain.enter_context(anvil(*chain_args, state=state, port=chain_port))  # ... and comes back
        when(2 * N // 5)
        ipfs.close()
        gates[0][1].set()
        deadline = time.monotonic() + 60
        while gauge(api_port, "qledger_pin_outbox_depth") == 0:  # submissions go on; their content waits
            assert time.monotonic() < deadline, "nothing waited in the spool while IPFS was down"
            time.sleep(0.1)
        ipfs = ExitStack()
        ipfs.enter_context(ipfs_node(repo, ipfs_port))
        when(3 * N // 5)
        workers = worker_processes(server_proc.pid)
        assert len(workers) == 1, "no pin and anchor worker process"
        server_proc.send_signal(signal.SIGKILL)  # the service dies mid-batch, no clean-up
        server_proc.wait(timeout=30)
        deadline = time.monotonic() + 30  # its worker process, mid-pass or waiting, stops with it
        while any(Path(f"/proc/{pid}").exists() for pid in workers):
            assert time.monotonic() < deadline, "the worker process outlived its SIGKILLed serve"
            time.sleep(0.1)
        gates[1][1].set()
        server.close()
        server = ExitStack()
        server.enter_context(service(env, api_port))
        when(N)
        for c in clients:
            c.join(timeout=60)
        assert len(acknowledged) == N
        assert refusals["unreachable"] > 0, refusals  # the SIGKILL was felt

        deadline = time.monotonic() + 180
        while True:  # both outboxes drain
            depths = [gauge(api_port, name) for name in ("qledger_outbox_depth", "qledger_pin_outbox_depth")]
            if depths == [0, 0]:
                break
            assert time.monotonic() < deadline, f"outboxes still hold {depths} records"
            time.sleep(0.5)
        server.close()

        with runtime.service.sessions() as session:
            statuses = dict(session.query(RecordRow.id, RecordRow.status).filter(RecordRow.id.in_(acknowledged)).all())
            anchors = [
                a for (a,) in session.query(AnchorRow.record_id).filter(AnchorRow.record_id.in_(acknowledged)).all()
            ]
            attempts = session.query(AttemptRow.state, AttemptRow.record_ids).all()
        assert len(statuses) == N and set(statuses.values()) == {"anchored"}  # nothing lost
        assert sorted(anchors) == sorted(acknowledged)  # one anchor row each
        done = [r for state_, ids in attempts if state_ == "done" for r in ids]
        assert len(done) == len(set(done))  # no record went out in two mined transactions: nothing twice
        assert "sending" not in {s for s, _ in attempts}
        with runtime.service.sessions() as session:
            rows = session.query(RecordRow).filter(RecordRow.id.in_(acknowledged)).all()
            assert all(r.pinned_at is not None for r in rows)
            content = [c for r in rows[::10] for c in [r.cid, *(a.cid for a in r.attachments)]]
        node = IpfsRpcStore(ipfs_url)  # the node itself holds the content, not only our spool
        assert all(node.has(c) for c in content)
        node.close()
        bundles = [runtime.service.proof_bundle(r) for r in sorted(acknowledged)]
        assert runtime.service.chain.deployment is not None
        results = verify_bundles(bundles, chain_url, runtime.service.chain.deployment)
        assert sum(is_valid(f) for f in results) == N
        ipfs.close()
        chain.close()
        outer.close()
