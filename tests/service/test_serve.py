"""`qledger serve` under the signals systemd and containers send: SIGTERM (or SIGINT) stops the API, its worker
and the local anvil, whose state is written, and the process exits 0; a SIGKILLed server takes anvil with it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from ledger_service.api.arrivals import NO_ANSWER_VALUE
from ledger_service.cli import app
from ledger_service.index.models import AuditRow
from ledger_service.localnode import STATE_FILE, free_port
from ledger_service.serving import ARRIVALS_FILE, WORKER_ARG
from tests.service.test_localnode import anvil_pids, rpc, state_block

QLEDGER = str(Path(sys.executable).with_name("qledger"))
# The serving function itself, as the CLI's serve command calls it.
SERVE_FUNCTION = (
    "import sys; from ledger_service.cli import _runtime; from ledger_service.serving import serve; "
    "serve(_runtime, '127.0.0.1', int(sys.argv[1]))"
)


@pytest.fixture(scope="module")
def founded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory after `qledger init` (done once; each test serves a copy)."""
    data = tmp_path_factory.mktemp("serve") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QLEDGER_DATA_DIR", str(data))
        for name in ("QLEDGER_CHAIN_URL", "QLEDGER_IPFS_URL", "QLEDGER_DATABASE_URL"):
            mp.delenv(name, raising=False)
        result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    yield data


class Served:
    def __init__(self, founded: Path, tmp_path: Path, how: str) -> None:
        self.data = tmp_path / "data"
        shutil.copytree(founded, self.data)
        self.state = self.data / "chain" / STATE_FILE
        self.marker = self.data / "chain" / "node.url"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QLEDGER_")}
        env["QLEDGER_DATA_DIR"] = str(self.data)
        if os.environ.get("QLEDGER_ANVIL"):
            env["QLEDGER_ANVIL"] = os.environ["QLEDGER_ANVIL"]
        argv = (
            [QLEDGER, "serve", "--port", str(self.port)]
            if how == "cli"
            else [QLEDGER, "serve", "--port", str(self.port), "--workers", "2"]
            if how == "workers"
            else [sys.executable, "-c", SERVE_FUNCTION, str(self.port)]
        )
        self.log = tmp_path / "serve.log"
        self._argv, self._env = argv, env
        self.start()

    def start(self) -> None:
        """Start serve (again) on this data directory."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self._argv, env=self._env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no /healthz within {timeout} s:\n{self.output()}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)

    def mine(self, blocks: int) -> int:
        """Blocks that only a state write after this moment can hold; the new block number."""
        url = self.marker.read_text().strip()
        rpc(url, "anvil_mine", hex(blocks))
        return int(rpc(url, "eth_blockNumber"), 16)

    def stop(self, sig: signal.Signals, within: float = 15) -> int:
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"serve did not stop within {within} s of {sig.name}:\n{self.output()}")
        assert time.monotonic() - started < within
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in anvil_pids(self.state):  # whatever a failed test left
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serving(founded: Path, tmp_path: Path) -> Iterator[Callable[[str], Served]]:
    """Start serve on a copy of the founded data directory: "cli" (`qledger serve`), "workers" (two API
    processes) or "function"."""
    started: list[Served] = []

    def start(how: str) -> Served:
        started.append(Served(founded, tmp_path, how))
        return started[-1]

    yield start
    for s in started:
        s.close()


@pytest.mark.parametrize(
    ("how", "sig"),
    [("cli", signal.SIGTERM), ("function", signal.SIGTERM), ("function", signal.SIGINT), ("workers", signal.SIGTERM)],
)
def test_a_stop_signal_stops_api_worker_and_anvil_and_exits_0(
    serving: Callable[[str], Served], how: str, sig: signal.Signals
) -> None:
    s = serving(how)
    s.wait_healthy()
    assert s.marker.exists() and len(anvil_pids(s.state)) == 1
    block = s.mine(5)
    code = s.stop(sig)
    assert code == 0, s.output()
    assert anvil_pids(s.state) == [], "anvil outlived serve"
    assert not s.marker.exists()
    assert state_block(s.state) == block  # written by anvil on its way out
    assert '"stopped"' in s.output()


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # gone
        return []


def _is_api_process(pid: int) -> bool:
    argv = _cmdline(pid)
    return b"ledger_service.serving" in argv and WORKER_ARG.encode() not in argv


def _is_worker_process(pid: int) -> bool:
    argv = _cmdline(pid)
    return b"ledger_service.serving" in argv and WORKER_ARG.encode() in argv


def _children(s: Served) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(s.proc.pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def api_processes(s: Served) -> list[int]:
    """The API processes `serve --workers` started (python -m ledger_service.serving), by their parent."""
    return [pid for pid in _children(s) if _is_api_process(pid)]


def worker_processes(s: Served) -> list[int]:
    """The pin and anchor worker processes of serve (python -m ledger_service.serving anchor-worker)."""
    return [pid for pid in _children(s) if _is_worker_process(pid)]


def lab_key_and_records(data: Path, seed: int, n: int) -> tuple[str, list[bytes]]:
    """An API key of the demo lab issued by the CLI, and `n` tier C records of its, as request bodies."""
    from ledger_service.cli import _runtime
    from ledger_service.demo import LAB, Demo

    env = {"QLEDGER_DATA_DIR": str(data)}
    key = CliRunner().invoke(app, ["keys", "issue", LAB], env=env).output.strip()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QLEDGER_DATA_DIR", str(data))
        with _runtime() as rt:
            demo = Demo(rt.service, rt.keys, seed=seed)
            demo.load_calibrations(rt.certificates)
            return key, [json.dumps(demo.record("xrf_analysis", i)[0]).encode() for i in range(n)]


def test_two_api_processes_write_one_audit_chain_and_lose_nothing(serving: Callable[[str], Served]) -> None:
    """Records sent over many connections reach both API processes (each journals its own arrivals); each is
    indexed once, a record sent to both at once is created once (the other answer is 409), and the audit trail
    written by both processes is one chain that `qledger audit verify` accepts."""
    from concurrent.futures import ThreadPoolExecutor

    s = serving("workers")
    s.wait_healthy()
    assert len(api_processes(s)) == 1
    env = {"QLEDGER_DATA_DIR": str(s.data)}
    key, records = lab_key_and_records(s.data, seed=3, n=64)
    url = f"http://127.0.0.1:{s.port}/v1/records"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    accepted: list[str] = []

    def post(body: bytes) -> int:  # a connection of its own: the kernel hands it to either process
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
        if answer.status_code == 202:
            accepted.append(answer.json()["record_id"])
        return answer.status_code

    twice = [body for body in records[:24] for body in (body, body)]  # sent twice, at about the same time
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, twice + records[24:]))
    assert statuses[48:] == [202] * 40, statuses
    assert all(sorted(statuses[i : i + 2]) == [202, 409] for i in range(0, 48, 2)), statuses
    journals = [s.data / ARRIVALS_FILE, s.data / "api-arrivals.1.jsonl"]
    assert all(b"/v1/records" in j.read_bytes() for j in journals), "one process served every request"
    assert s.stop(signal.SIGTERM) == 0, s.output()

    engine = create_engine(f"sqlite:///{s.data / 'index.db'}")
    with engine.connect() as db:
        created = db.execute(select(AuditRow.record_id).where(AuditRow.action == "create")).scalars().all()
        answers = (
            db.execute(select(AuditRow.new_value).where(AuditRow.action == "api", AuditRow.field == "POST /v1/records"))
            .scalars()
            .all()
        )
    engine.dispose()
    assert len(accepted) == len(set(accepted)) == 64
    assert len(created) == len(set(created)) and set(accepted) <= set(created)  # each created once
    assert sorted(a or "" for a in answers) == sorted(str(c) for c in statuses)  # every request's access entry, once
    verdict = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert verdict.exit_code == 0, verdict.output


def test_a_killed_server_takes_its_api_and_worker_processes_with_it(serving: Callable[[str], Served]) -> None:
    s = serving("workers")
    s.wait_healthy()
    others = api_processes(s)
    workers = worker_processes(s)
    assert len(others) == 1 and len(workers) == 1
    s.proc.kill()
    s.proc.wait()
    deadline = time.monotonic() + 20
    while any(_is_api_process(p) or _is_worker_process(p) for p in others + workers):
        assert time.monotonic() < deadline, "an API or worker process outlived its killed parent"
        time.sleep(0.05)


def test_a_stop_signal_while_starting_still_stops_anvil(serving: Callable[[str], Served]) -> None:
    s = serving("function")
    deadline = time.monotonic() + 30
    while not anvil_pids(s.state):  # anvil is up; the API is not yet, most likely
        assert s.proc.poll() is None and time.monotonic() < deadline, s.output()
        time.sleep(0.01)
    assert s.stop(signal.SIGTERM) == 0, s.output()
    assert anvil_pids(s.state) == [] and not s.marker.exists()
    assert state_block(s.state) is not None


def test_a_killed_server_takes_anvil_with_it(serving: Callable[[str], Served]) -> None:
    s = serving("function")
    s.wait_healthy()
    block = s.mine(3)
    s.proc.kill()  # SIGKILL: no handler runs; the kernel's parent-death signal (SIGTERM) reaches anvil
    s.proc.wait()
    deadline = time.monotonic() + 15
    while anvil_pids(s.state):
        assert time.monotonic() < deadline, "anvil outlived its killed parent"
        time.sleep(0.05)
    assert state_block(s.state) == block  # anvil wrote its state on that SIGTERM


def test_a_request_the_server_never_answered_reaches_the_audit_trail_once(serving: Callable[[str], Served]) -> None:
    """A request that the process dies under (here: SIGKILL while its body is still arriving, as the crashes of
    issue 14 did) has no answer, so no access entry of its own; its arrival was journalled, and the next start
    enters it in the hash-chained trail, once, however often the service starts again."""
    s = serving("function")
    s.wait_healthy()
    assert httpx.get(f"http://127.0.0.1:{s.port}/v1/members/me", timeout=5).status_code == 401  # answered
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(
            b"POST /v1/recalls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n" + b'{"lot": ' + b"[" * 1000
        )
        journal = s.data / ARRIVALS_FILE
        deadline = time.monotonic() + 10
        while b"/v1/recalls" not in journal.read_bytes():
            assert time.monotonic() < deadline, "the arrival was not journalled"
            time.sleep(0.02)
        assert journal.stat().st_mode & 0o777 == 0o600
        s.proc.kill()  # no handler runs: the request is never answered
        s.proc.wait()
    for _ in range(2):  # started twice: the entry is made once
        deadline = time.monotonic() + 15
        while anvil_pids(s.state):
            assert time.monotonic() < deadline, "anvil outlived its killed parent"
            time.sleep(0.05)
        s.start()
        s.wait_healthy()
        assert s.stop(signal.SIGTERM) == 0, s.output()

    engine = create_engine(f"sqlite:///{s.data / 'index.db'}")
    with engine.connect() as db:
        rows = db.execute(select(AuditRow.actor, AuditRow.field, AuditRow.new_value).where(AuditRow.action == "api"))
        entries = [tuple(r) for r in rows]
    engine.dispose()
    assert entries.count(("unknown", "POST /v1/recalls", NO_ANSWER_VALUE)) == 1, entries
    assert ("anonymous", "GET /v1/members/me", "401") in entries
    assert not any(e[1] == "GET /v1/members/me" and e[2] == NO_ANSWER_VALUE for e in entries)  # answered ones: none
    verdict = CliRunner().invoke(app, ["audit", "verify"], env={"QLEDGER_DATA_DIR": str(s.data)})
    assert verdict.exit_code == 0, verdict.output  # the chain still fits


def _metric(s: Served, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{s.port}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def _wait_anchored(s: Served, headers: dict[str, str], ids: list[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    waiting = list(ids)
    while waiting:
        answer = httpx.get(f"http://127.0.0.1:{s.port}/v1/records/{waiting[0]}/status", headers=headers, timeout=5)
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] == "anchored":
            waiting.pop(0)
            continue
        assert time.monotonic() < deadline, f"{len(waiting)} records not anchored in {within} s:\n{s.output()}"
        time.sleep(0.2)


def test_the_worker_runs_in_a_process_of_its_own_and_a_sigkilled_one_is_replaced_losing_nothing(
    serving: Callable[[str], Served],
) -> None:
    """`serve` runs the pin and anchor worker in a process that no API process is; what HTTP accepted, that
    process anchors (status anchored, counted in /metrics of the API process). Killed (SIGKILL) while records
    are arriving and being anchored, it is replaced by a new process, and every record is anchored exactly
    once: one anchor each, in one transaction that went through, none in two."""
    import threading

    from ledger_service.index.models import AnchorRow, AttemptRow

    s = serving("cli")
    s.wait_healthy()
    (worker,) = worker_processes(s)
    assert worker != s.proc.pid and worker not in api_processes(s)
    env = {"QLEDGER_DATA_DIR": str(s.data)}
    key, records = lab_key_and_records(s.data, seed=5, n=36)
    url = f"http://127.0.0.1:{s.port}/v1/records"
    headers = {"Authorization": f"Bearer {key}"}
    posting = {**headers, "Content-Type": "application/json"}

    def post(body: bytes) -> str:
        answer = httpx.post(url, content=body, headers=posting, timeout=30)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["record_id"])

    first = [post(body) for body in records[:6]]
    _wait_anchored(s, headers, first, within=30)  # woken by the API process (it would also run within 1 s)
    assert _metric(s, "qledger_records_anchored_total") >= len(first)

    # Killed mid-run: records keep arriving while the worker anchors the ones before them.
    later: list[str] = []
    sender = threading.Thread(target=lambda: later.extend(post(body) for body in records[6:]))
    sender.start()
    deadline = time.monotonic() + 30
    while len(later) < 12:
        assert time.monotonic() < deadline and sender.is_alive(), "records stopped arriving"
        time.sleep(0.01)
    os.kill(worker, signal.SIGKILL)
    sender.join(timeout=60)
    assert len(later) == 30
    deadline = time.monotonic() + 30
    while not (replaced := [p for p in worker_processes(s) if p != worker]):
        assert time.monotonic() < deadline, f"no new worker process:\n{s.output()}"
        time.sleep(0.1)
    assert replaced[0] not in [s.proc.pid, *api_processes(s)]
    _wait_anchored(s, headers, first + later)
    assert _metric(s, "qledger_outbox_depth") == 0
    assert f"the anchoring worker process {worker} exited with -9" in s.log.read_text()  # its death is logged
    assert s.stop(signal.SIGTERM) == 0, s.output()
    assert not worker_processes(s)

    engine = create_engine(f"sqlite:///{s.data / 'index.db'}")
    with engine.connect() as db:
        anchors = {row[0]: row[1] for row in db.execute(select(AnchorRow.record_id, AnchorRow.tx_hash))}
        done = db.execute(select(AttemptRow.tx_hash, AttemptRow.record_ids).where(AttemptRow.state == "done")).all()
    engine.dispose()
    ours = first + later
    assert len(set(ours)) == 36 and all(r in anchors for r in ours)
    in_done = [r for _, ids in done for r in ids if r in set(ours)]
    assert sorted(in_done) == sorted(ours), "a record anchored in no transaction, or in two"
    done_tx = {tx for tx, _ in done}
    assert all(anchors[r] in done_tx for r in ours)
    verdict = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert verdict.exit_code == 0, verdict.output
