"""The outbox worker: pins spooled content and anchors accepted records, with retries and backoff.

A record (and its content, in the local spool) is durable before the API answers 202; the worker pins and
anchors whatever is accepted, so a crash, a dead chain node or a dead IPFS node delays records, never loses
them; the record id is the idempotency key on chain and in SQL. Pinning and anchoring fail independently: a
dead IPFS node does not hold anchoring back, nor a dead chain node pinning. Every anchoring pass, the first
at start-up, compares the anchors not final yet with the chain and anchors again what the chain lost
(docs/architecture.md section 4).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

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
    ) -> None:
        self.service = service
        self.audit_member = audit_member  # who anchors the audit trail's head (None: nobody here does)
        self.audit_every_s = audit_every_s
        self._audit_due = time.monotonic() + audit_every_s
        self.on_anchored = on_anchored
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
