"""`qledger serve`: the HTTP API and its anchoring worker until SIGTERM (systemd, containers) or SIGINT.

The pin and anchor worker runs in a process of its own (`WorkerProcess`, `python -m ledger_service.serving
anchor-worker`), never in an API process: its thread competed with the API's event loop for the interpreter's
lock (bench/RESULTS.md, API ingest, run 7w). The API processes wake it through a FIFO and read its counts from
a state file (api/worker.py); one that dies is started again (docs/architecture.md section 4, "Worker
process"). Only an in-process chain (no chain URL), which cannot be shared, keeps the worker as a thread.

On either signal the server stops accepting, finishes what it holds (bounded), stops the anchoring worker,
then the runtime is closed, which stops the local chain node (if this process started it) and waits for it to
write its state; the process then exits 0. A signal while the runtime is still starting unwinds the start the
same way. uvicorn's own signal handling is kept while it serves: it restores the handlers found on entry and
re-raises the signal it caught, which lands in the handler here instead of killing the process before the
runtime is closed.

With `workers` > 1 (`qledger serve --workers N`), the API runs in N processes sharing one listening socket, so
that the per-request work (parsing, validation, canonical JSON, hashing, the index write) uses N cores instead
of one interpreter's lock. This process owns the runtime's start (the local chain node), the worker process
and the socket; the others (`python -m ledger_service.serving`) serve the same app, each with its own arrival
journal, and commit to the same index: SQLite serialises the writers, and the
audit chain's head is moved under that one write lock, so the trail stays one chain (docs/architecture.md,
section 4, "Several API processes"). A stop signal stops this process's server, then the other processes (each
answers what it holds), then the worker process, then the runtime; the kernel stops them if this process is
killed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType

from ledger_service.runtime import Runtime, file_lock

log = logging.getLogger("qledger.serve")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Open requests get this long to finish after a stop signal; systemd's default stop timeout is 90 s, and the
# worker and the chain node still need their turn after it.
GRACEFUL_S = 10
ARRIVALS_FILE = "api-arrivals.jsonl"  # requests in flight (api/arrivals.py), in the data directory
# The other API processes' journals: api-arrivals.1.jsonl, ... (one per process; the first is ARRIVALS_FILE).
WORKER_ARRIVALS = "api-arrivals.{}.jsonl"
MAX_WORKERS = 16
READY_S = 120  # an API process imports the whole service and opens its runtime before it answers


def default_workers() -> int:
    """One API process per two cores this process may run on (at least 1, at most MAX_WORKERS): the chain node,
    IPFS and the clients share the machine, and on 2 cores a second API process did not clearly pay
    (bench/RESULTS.md, API ingest)."""
    return max(1, min(len(os.sched_getaffinity(0)) // 2, MAX_WORKERS))


def worker_arrivals(data_dir: Path, index: int) -> Path:
    return data_dir / (ARRIVALS_FILE if index == 0 else WORKER_ARRIVALS.format(index))


class _Stopped(BaseException):
    """A stop signal before the server was up (a BaseException, like KeyboardInterrupt: nothing catches it on
    the way out, and every context on the way is closed)."""


def serve(
    open_runtime: Callable[[], AbstractContextManager[Runtime]],
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    graceful_s: int = GRACEFUL_S,
    workers: int = 1,
) -> None:
    """Open the runtime, serve the API on host:port until SIGTERM or SIGINT, then close everything in order.
    With `workers` > 1, in that many processes (this one and workers - 1 others; see the module's doc).

    Call it from the main thread (signal handlers can only be set there). Startup failures propagate: uvicorn
    exits with SystemExit when it cannot bind or the app fails to start, after the runtime has been closed."""
    import uvicorn

    from ledger_service.api.main import create_app, recover_journal
    from ledger_service.api.observability import json_logging
    from ledger_service.api.worker import RemoteWorker
    from ledger_service.station import load_profile

    json_logging()
    server: uvicorn.Server | None = None
    others: list[subprocess.Popen[bytes]] = []
    unwinding = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal unwinding
        name = signal.Signals(signum).name
        if server is not None:  # serving, or stopping after uvicorn re-raised the signal it caught
            server.should_exit = True
            return
        if unwinding:  # the start is already being undone: let the node write its state
            log.info("%s again while stopping; still stopping", name)
            return
        unwinding = True
        log.info("%s while starting; stopping", name)
        raise _Stopped(name)

    in_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS} if in_main else {}
    try:
        with open_runtime() as rt:
            data_dir = rt.settings.data_dir
            if workers > 1 and rt.settings.chain_url is None:  # an in-process EVM cannot be shared
                log.warning("an in-process chain serves one process only: serving with 1 worker, not %d", workers)
                workers = 1
            for path in _stale_journals(data_dir, workers):  # a last run with more processes left these
                recover_journal(rt.service, path)
                path.unlink()
            profile = load_profile(rt.settings.data_dir)
            # The pin and anchor worker in a process of its own, unless the chain is in this process (it cannot
            # be shared; the app then runs the worker as a thread): docs/architecture.md section 4.
            remote = rt.settings.chain_url is not None
            anchoring = WorkerProcess(data_dir, _child_env(rt), graceful_s) if remote else None
            app = create_app(
                rt.service,
                keys=rt.keys,
                certificates=rt.certificates,
                profile=profile,
                arrivals=worker_arrivals(data_dir, 0),
                remote_worker=RemoteWorker(data_dir) if remote else None,
            )
            sockets = None
            try:
                if anchoring is not None:
                    anchoring.start()
                if workers > 1:
                    rt.service.write_gate = functools.partial(file_lock, data_dir / WRITE_GATE_FILE)
                    sockets = [_listen(host, port)]
                    others = _start_others(sockets[0], workers, _child_env(rt), graceful_s)
                config = uvicorn.Config(
                    app,
                    host=host,
                    port=port,
                    log_config=None,
                    access_log=False,
                    timeout_graceful_shutdown=graceful_s,
                )
                server = uvicorn.Server(config)
                server.run(sockets=sockets)
            finally:
                _stop_others(others, graceful_s)
                if anchoring is not None:
                    anchoring.stop()
                if sockets:
                    sockets[0].close()
            log.info("the API and its worker have stopped; closing the runtime")
        log.info("stopped")
    except _Stopped:
        log.info("stopped before serving")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


WRITE_GATE_FILE = "index.write.lock"


def _stale_journals(data_dir: Path, workers: int) -> list[Path]:
    """The journals of API processes this run will not have (index >= workers)."""
    stale = []
    for path in data_dir.glob(WORKER_ARRIVALS.format("*")):
        index = path.name.split(".")[1]
        if not index.isdigit() or int(index) >= workers:
            stale.append(path)
    return sorted(stale)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket all API processes accept on (the kernel hands each connection to one of them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def _child_env(rt: Runtime) -> dict[str, str]:
    """The environment of an API process: this one's, with the runtime's settings as resolved (the URL of the
    chain node this process started, among them)."""
    env = dict(os.environ)
    for name, value in rt.settings.model_dump().items():
        if value is not None:
            env[f"QLEDGER_{name.upper()}"] = str(value)
    return env


def _start_others(
    sock: socket.socket, workers: int, env: dict[str, str], graceful_s: int
) -> list[subprocess.Popen[bytes]]:
    """Start API processes 1 .. workers - 1 on `sock` and wait until each answers (or fail)."""
    from ledger_service.localnode import _die_with_parent

    started: list[subprocess.Popen[bytes]] = []
    waiting: dict[int, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for index in range(1, workers):
            ready_r, ready_w = os.pipe()
            argv = [sys.executable, "-m", "ledger_service.serving", str(index), str(sock.fileno()), str(ready_w)]
            argv.append(str(graceful_s))
            proc = subprocess.Popen(
                argv,
                env=env,
                pass_fds=(sock.fileno(), ready_w),
                preexec_fn=_die_with_parent(),  # a SIGKILLed parent takes its API processes with it
                process_group=0,  # a terminal's Ctrl-C reaches this process, which stops the others in order
            )
            os.close(ready_w)
            started.append(proc)
            waiting[ready_r] = (index, proc)
        deadline = time.monotonic() + READY_S
        while waiting:
            readable, _, _ = select.select(list(waiting), [], [], 0.5)
            for fd in readable:
                index, proc = waiting.pop(fd)
                got = os.read(fd, 1)
                os.close(fd)
                if got != b"1":
                    raise RuntimeError(f"API process {index} stopped before serving (exit {proc.wait()})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"API processes {sorted(i for i, _ in waiting.values())} not up in {READY_S} s")
        log.info("serving in %d processes", workers)
        return started
    except BaseException:
        for fd in waiting:
            os.close(fd)
        _stop_others(started, graceful_s)
        raise


def _stop_others(others: Sequence[subprocess.Popen[bytes]], graceful_s: int) -> None:
    """SIGTERM to every other API process (each answers what it holds), then wait; kill one that overstays."""
    for proc in others:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + graceful_s + 10
    for proc in others:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("API process %d did not stop in time: killed", proc.pid)
            proc.kill()
            proc.wait()


def _serve_other(index: int, fd: int, ready_fd: int, graceful_s: int) -> None:
    """API process `index` (>= 1): the app without the worker on the inherited socket, settings from the
    environment the first process gave it; writes one byte to `ready_fd` once it serves."""
    import uvicorn

    from ledger_service.api.main import create_app
    from ledger_service.api.observability import json_logging
    from ledger_service.api.worker import RemoteWorker
    from ledger_service.config import Settings
    from ledger_service.runtime import load_deployment, open_runtime
    from ledger_service.station import load_profile

    json_logging()
    # uvicorn re-raises the stop signal it caught once it has stopped: here it ends nothing more.
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: None)
    sock = socket.socket(fileno=fd)
    rt = open_runtime(Settings())
    try:
        load_deployment(rt)
        rt.service.write_gate = functools.partial(file_lock, rt.settings.data_dir / WRITE_GATE_FILE)
        app = create_app(
            rt.service,
            worker=False,
            keys=rt.keys,
            certificates=rt.certificates,
            profile=load_profile(rt.settings.data_dir),
            arrivals=worker_arrivals(rt.settings.data_dir, index),
            remote_worker=RemoteWorker(rt.settings.data_dir),  # several processes: the chain is not in-process
        )
        config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=graceful_s)
        server = uvicorn.Server(config)

        async def run() -> None:
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:
                os.write(ready_fd, b"1")
            os.close(ready_fd)
            await serving

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(run())
    finally:
        sock.close()
        rt.engine.dispose()


WORKER_ARG = "anchor-worker"  # argv[1] of the worker process
RESTART_MAX_S = 30.0  # the longest wait before a worker process that died is started again
STEADY_S = 60.0  # a worker process that ran this long before it died is started again at once
# The worker process yields the CPU to the API processes where the cores are oversubscribed: a record's anchor
# may wait seconds, a 202 has 100 ms (bench/RESULTS.md, API ingest, runs 9 and 10).
WORKER_NICE = 10


class WorkerProcess:
    """The pin and anchor worker's process (`python -m ledger_service.serving anchor-worker`), started with the
    first API process's resolved settings, and kept running: one that dies (a crash, the OOM killer, a SIGKILL)
    is logged and started again, after a wait that doubles while it keeps dying (up to RESTART_MAX_S). What a
    dead worker held is in the index (each transaction is written before it is sent), so the next one's first
    pass resends or adopts it: nothing is lost or anchored twice (docs/architecture.md section 4)."""

    def __init__(self, data_dir: Path, env: dict[str, str], graceful_s: int) -> None:
        from ledger_service.api.worker import STATE_FILE, make_wake_fifo

        self.data_dir = data_dir
        self.env = env
        self.graceful_s = graceful_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watch: threading.Thread | None = None
        (data_dir / STATE_FILE).unlink(missing_ok=True)  # its counts start with this run of serve
        make_wake_fifo(data_dir)

    def start(self) -> None:
        """Start the worker process and watch it. Its start-up (imports, the runtime) overlaps the API's: the
        API does not wait for it, since what it accepts waits in the index until the worker's first pass."""
        ready_r, ready_w = os.pipe()
        try:
            self._spawn(ready_w)
        finally:
            os.close(ready_w)
        # Restarts are started from the watching thread, which lives as long as they do (the parent-death
        # signal is tied to the thread that starts a child: localnode._die_with_parent).
        self._watch = threading.Thread(target=self._keep_running, args=(ready_r,), name="worker-watch", daemon=True)
        self._watch.start()

    def _spawn(self, ready_fd: int | None) -> subprocess.Popen[bytes]:
        from ledger_service.localnode import _die_with_parent

        argv = [sys.executable, "-m", "ledger_service.serving", WORKER_ARG, str(-1 if ready_fd is None else ready_fd)]
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("stopping")
            self.proc = subprocess.Popen(
                argv,
                env=self.env,
                pass_fds=() if ready_fd is None else (ready_fd,),
                preexec_fn=_die_with_parent(),  # a SIGKILLed serve takes its worker with it
                process_group=0,  # a terminal's Ctrl-C reaches serve, which stops the worker after the API
            )
            return self.proc

    def _keep_running(self, ready_fd: int) -> None:
        proc = self.proc
        assert proc is not None
        try:
            readable, _, _ = select.select([ready_fd], [], [], READY_S)
            if readable and os.read(ready_fd, 1) == b"1":
                log.info("pin and anchor worker: process %d", proc.pid)
        finally:
            os.close(ready_fd)
        wait_s = 1.0
        while True:
            proc = self.proc
            assert proc is not None
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            wait_s = 1.0 if ran > STEADY_S else wait_s
            log.error(
                "the anchoring worker process %d exited with %s; starting another in %.0f s", proc.pid, code, wait_s
            )
            if self._stopping.wait(wait_s):
                return
            try:
                self._spawn(None)
            except RuntimeError:
                return
            self.restarts += 1
            wait_s = min(wait_s * 2, RESTART_MAX_S)

    def stop(self) -> None:
        """SIGTERM (it ends its pass), then wait; kill it if it overstays."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.graceful_s + 10)
        except subprocess.TimeoutExpired:
            log.warning("the anchoring worker process %d did not stop in time: killed", proc.pid)
            proc.kill()
            proc.wait()
        if self._watch is not None:
            self._watch.join(timeout=5)


def _run_worker(ready_fd: int) -> None:
    """The worker process: the AnchorWorker loop over the same runtime (settings from the environment serve gave
    it), woken through the FIFO, its counts in the state file (api/worker.py); stops after its pass on SIGTERM.

    The loop runs in a thread, and this one takes the stop signals with sigwait: a signal handler that stopped
    the loop would take the lock of an Event that the interrupted thread may hold (a deadlock, seen once: the
    worker outlived its killed serve). Blocked before any thread starts, so that every thread inherits it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    from ledger_service.api.observability import json_logging
    from ledger_service.api.worker import STATE_FILE, AnchorWorker, WakeListener, WorkerState, make_wake_fifo
    from ledger_service.config import Settings
    from ledger_service.runtime import load_deployment, open_runtime
    from ledger_service.station import load_profile

    json_logging()
    os.nice(WORKER_NICE)
    rt = open_runtime(Settings())
    try:
        load_deployment(rt)
        data_dir = rt.settings.data_dir
        profile = load_profile(data_dir)
        state = WorkerState(data_dir / STATE_FILE)
        before = state.read()  # a worker process before this one, in this run of serve
        worker = AnchorWorker(rt.service, audit_member=next(iter(profile.stations), None) if profile else None)
        worker.anchored, worker.failures = int(before.get("anchored", 0)), int(before.get("failures", 0))
        worker.on_pass = lambda: state.write(anchored=worker.anchored, failures=worker.failures)
        WakeListener(make_wake_fifo(data_dir), worker.wake)
        state.write(anchored=worker.anchored, failures=worker.failures)
        worker.start()
        if ready_fd >= 0:
            os.write(ready_fd, b"1")
            os.close(ready_fd)
        while worker.running():
            if signal.sigtimedwait(STOP_SIGNALS, 1.0) is not None:
                worker.stop()  # ends its pass
                log.info("the anchoring worker has stopped")
                return
        raise RuntimeError("the anchoring worker's loop ended")  # exit 1: serve starts another
    finally:
        rt.engine.dispose()


if __name__ == "__main__":
    if sys.argv[1] == WORKER_ARG:  # the pin and anchor worker of `serve`
        _run_worker(int(sys.argv[2]))
    else:  # API process 1 .. N-1 of `serve(workers=N)`
        _serve_other(*(int(a) for a in sys.argv[1:5]))
