"""The outbox worker: pins spooled content and anchors accepted records, with retries and backoff.

A record (and its content, in the local spool) is durable before the API answers 202; the worker pins and
anchors whatever is accepted, so a crash, a dead chain node or a dead IPFS node delays records, never loses
them; the record id is the idempotency key on chain and in SQL. Pinning and anchoring fail independently: a
dead IPFS node does not hold anchoring back, nor a dead chain node pinning. Every anchoring pass, the first
at start-up, compares the anchors not final yet with the chain and anchors again what the chain lost
(docs/architecture.md section 4).
"""

from __future__ import annotations

import json
import logging
import math
import os
import select
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledger_service.errors import ChainUnavailable, StoreUnavailable
from ledger_service.service import LedgerService

log = logging.getLogger("qledger.worker")


class AnchorWorker:
    def __init__(
        self,
        service: LedgerService,
        interval_s: float = 1.0,
        max_backoff_s: float = 5.0,
        on_anchored: Callable[[int], object] | None = None,
        audit_member: str | None = None,
        audit_every_s: float = 60.0,
        on_pass: Callable[[], object] | None = None,
    ) -> None:
        self.service = service
        self.audit_member = audit_member  # who anchors the audit trail's head (None: nobody here does)
        self.audit_every_s = audit_every_s
        self._audit_due = time.monotonic() + audit_every_s
        self.on_anchored = on_anchored
        self.on_pass = on_pass  # after every pass, whatever its outcome (the worker process writes its state)
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.anchored = 0
        self.failures = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="anchor-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        self._wake.set()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self, wait: bool = True) -> int:
        """Pin, then anchor, what is pending; returns records anchored. Raises the first failure after both
        steps have had their try. `wait`: for the transactions this pass sends (a pass on its own); the
        worker's loop does not wait, its next pass indexes them."""
        failure: Exception | None = None
        try:
            self.service.pin_pending()
            self.service.check_replication()  # a store replicating over members' nodes: how far it got
        except Exception as error:
            failure = error
        # Pipelined: batches are sent without waiting for the previous one's receipt, and the next passes find
        # them mined (docs/architecture.md section 4); each pass also looks for anchors gone final.
        n = self.service.anchor_pending(wait=wait)
        self.anchored += n
        if n and self.on_anchored:
            self.on_anchored(n)
        if self.audit_member is not None and time.monotonic() >= self._audit_due:
            self.service.anchor_audit_head(self.audit_member)  # the head of the trail, on chain at intervals
            self._audit_due = time.monotonic() + self.audit_every_s
        if failure is not None:
            raise failure
        return n

    def _run(self) -> None:
        backoff = self.interval_s
        first = True  # the first pass runs at once: it finds what a crash or a chain gone back left behind
        while not self._stop.is_set():
            if not first and self._wake.wait(backoff):
                # Coalesce: let a burst of submissions gather so that they share a batch, a root, a transaction.
                self._stop.wait(self.interval_s / 2)
            first = False
            self._wake.clear()
            try:
                self.run_once(wait=False)
                backoff = self.interval_s
            except (ChainUnavailable, StoreUnavailable) as error:
                self.failures += 1
                backoff = min(self.max_backoff_s, backoff * 2)
                log.warning("pinning or anchoring deferred: %s; retrying in %.1f s", error, backoff)
            except Exception:
                self.failures += 1
                backoff = min(self.max_backoff_s, backoff * 2)
                log.exception("pinning or anchoring failed; retrying in %.1f s", backoff)
            if self.on_pass is not None:
                self.on_pass()


# ---------------------------------------------------------------- the worker in a process of its own (`serve`)
# docs/architecture.md section 4, "Worker process": the API processes wake it through a FIFO in the data
# directory and read its counts from a state file it rewrites; neither side ever waits on the other.
WAKE_FILE = "worker.wake"  # a FIFO, 0600: one byte per wake-up
STATE_FILE = "worker.state.json"  # 0600, rewritten atomically after every pass


def make_wake_fifo(data_dir: Path) -> Path:
    """The wake-up FIFO of `data_dir` (made 0600 if missing; a file of that name that is not a FIFO is replaced)."""
    path = data_dir / WAKE_FILE
    try:
        if stat.S_ISFIFO(path.lstat().st_mode):
            os.chmod(path, 0o600)
            return path
        path.unlink()
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)
    return path


class WakeListener:
    """In the worker process: a daemon thread that calls `wake` whenever an API process wrote to the FIFO. It
    holds a write end of its own, so that the FIFO never reads end-of-file while no API process has it open."""

    def __init__(self, path: Path, wake: Callable[[], object]) -> None:
        self._read = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._keep = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        self._wake = wake
        threading.Thread(target=self._listen, name="worker-wake", daemon=True).start()

    def _listen(self) -> None:
        while True:
            select.select([self._read], [], [])
            try:
                if os.read(self._read, 4096):
                    self._wake()
            except BlockingIOError:
                continue


class WorkerState:
    """The worker process's counts (records anchored, failures) and the time of its last pass, in the state
    file: written by the worker, read by every API process for /metrics."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, *, anchored: int, failures: int) -> None:
        doc = {"pid": os.getpid(), "anchored": anchored, "failures": failures, "at": time.time()}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        # A file of its name left by a killed worker with this pid, or a link planted there, is removed first:
        # the counts go into a file of this process's own, never into what a link names.
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out)
        os.replace(tmp, self.path)

    def read(self) -> dict[str, float]:
        """The counts, {} for a state file that is not the worker's: not a regular file (a FIFO would block the
        API process), a link, not a JSON object; members that are not finite numbers are left out (/metrics
        never fails on them)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError:
            return {}
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            doc = json.loads(os.read(fd, 1 << 16))
        except (OSError, ValueError):
            return {}
        finally:
            os.close(fd)
        if not isinstance(doc, dict):
            return {}
        return {
            k: float(v)
            for k, v in doc.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }


class RemoteWorker:
    """In an API process of `serve`: the worker process as the routes and /metrics see it. `wake` never blocks:
    a FIFO without a reader (the worker is restarting) or a full one (it has wake-ups pending) drops the byte;
    the worker also runs every second, and its first pass after a restart takes everything pending."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / WAKE_FILE
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.state = WorkerState(data_dir / STATE_FILE)

    def wake(self) -> None:
        with self._lock:
            try:
                if self._fd is None:
                    # The FIFO itself, never what a link in its place names, nor a file of its name.
                    fd = os.open(self._path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
                    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                        os.close(fd)
                        return
                    self._fd = fd
                os.write(self._fd, b"w")
            except BlockingIOError:
                pass  # full: the worker has wake-ups enough
            except OSError:  # no reader (ENXIO), a reader gone (EPIPE), no FIFO yet: open again next time
                self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def counts(self) -> tuple[int, int]:
        """Records anchored and failed passes since `serve` started (a restarted worker process counts on)."""
        state = self.state.read()
        return int(state.get("anchored", 0)), int(state.get("failures", 0))
