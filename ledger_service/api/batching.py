"""Group commit for the API: concurrent submissions are validated, pinned and indexed together, one index
transaction and one store request per batch, and each request is answered 202 only once its batch is durable.
Access-audit entries are appended the same way, in batches.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from ledger_service.index import crud
from ledger_service.records import RecordInvalid
from ledger_service.service import AttachmentFile, LedgerService, Submitted

log = logging.getLogger("qledger.batching")
Item = TypeVar("Item")


class Batcher(Generic[Item]):
    """Collects items from many threads; a worker hands them to `flush` at most `max_batch` at a time, waiting
    at most `max_wait_s` for a batch to fill."""

    def __init__(self, flush: Callable[[list[Item]], None], max_batch: int, max_wait_s: float, name: str) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            closing = False
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            self._flush(batch)
            if closing:
                return


Submission = tuple[Mapping[str, Any], Sequence[AttachmentFile], str, "Future[Submitted]"]


class SubmissionBatcher:
    """Submissions in, one `Future[Submitted]` out each (or its RecordInvalid / error)."""

    def __init__(self, service: LedgerService, max_batch: int = 256, max_wait_s: float = 0.005) -> None:
        self.service = service
        self._batcher: Batcher[Submission] = Batcher(self._flush, max_batch, max_wait_s, "group-commit")

    def submit(self, raw: Mapping[str, Any], files: Sequence[AttachmentFile], actor: str) -> Future[Submitted]:
        future: Future[Submitted] = Future()
        self._batcher.put((raw, files, actor, future))
        return future

    def close(self) -> None:
        self._batcher.close()

    def _flush(self, batch: list[Submission]) -> None:
        try:
            results = self.service.submit_batch([(raw, files, actor) for raw, files, actor, _ in batch])
        except Exception as error:  # the whole batch failed (store or database down): every caller hears it
            for *_, future in batch:
                future.set_exception(error)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if isinstance(result, RecordInvalid):
                future.set_exception(result)
            else:
                future.set_result(result)


class AuditSink:
    """Access-audit entries appended to the hash chain in batches (one transaction per batch); each caller gets a
    future that completes once its entry is durable (or fails with the reason it could not be written)."""

    def __init__(self, service: LedgerService, max_batch: int = 500, max_wait_s: float = 0.002) -> None:
        self.service = service
        self._batcher: Batcher[tuple[dict[str, Any], Future[None]]] = Batcher(
            self._flush, max_batch, max_wait_s, "audit-sink"
        )

    def record(self, **entry: Any) -> Future[None]:
        written: Future[None] = Future()
        self._batcher.put((entry, written))
        return written

    def close(self) -> None:
        self._batcher.close()

    def _flush(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        try:
            with self.service.sessions.begin() as session:
                crud.audit_many(session=session, entries=[entry for entry, _ in batch])
        except Exception as error:
            log.exception("could not append %d audit entries", len(batch))
            for _, written in batch:
                written.set_exception(error)
            return
        for _, written in batch:
            written.set_result(None)
