"""The anchoring worker: drains the outbox (records accepted but not yet anchored) with retries and backoff.

A record is durable in the index before the API answers 202; the worker anchors whatever is accepted, so a
crash, a dead chain node or a dead IPFS node delays records, never loses them; the record id is the
idempotency key on chain and in SQL.
"""

from __future__ import annotations

import logging
import threading
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
    ) -> None:
        self.service = service
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

    def run_once(self) -> int:
        n = self.service.anchor_pending()
        self.anchored += n
        if n and self.on_anchored:
            self.on_anchored(n)
        return n

    def _run(self) -> None:
        backoff = self.interval_s
        while not self._stop.is_set():
            self._wake.wait(backoff)
            # Coalesce: let a burst of submissions gather so that they share a batch, a root, a transaction.
            self._stop.wait(self.interval_s / 2)
            self._wake.clear()
            try:
                self.run_once()
                backoff = self.interval_s
            except (ChainUnavailable, StoreUnavailable) as error:
                self.failures += 1
                backoff = min(self.max_backoff_s, backoff * 2)
                log.warning("anchoring deferred: %s; retrying in %.1f s", error, backoff)
            except Exception:
                self.failures += 1
                backoff = min(self.max_backoff_s, backoff * 2)
                log.exception("anchoring failed; retrying in %.1f s", backoff)
