"""Group commit for the API: concurrent submissions are validated, pinned and indexed together, one index
transaction and one store request per batch, and each request is answered 202 only once its batch is durable.
Access-audit entries are appended by the same writer, in the same transactions.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from ledger_service.errors import ChainUnavailable
from ledger_service.index import crud
from ledger_service.records import RecordInvalid
from ledger_service.service import AttachmentFile, LedgerService, Outcome, Submitted

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


Submission = tuple[Mapping[str, Any], Sequence[AttachmentFile], str, Mapping[str, Any] | None, "Future[Submitted]"]
AuditEntry = tuple[dict[str, Any], "Future[None]"]


def submission_status(result: Outcome) -> int:
    """The HTTP status a submission is answered with: 202 accepted, 409 submitted before, 422 refused, 503
    when its signers' standing could not be read from the chain (sent again later)."""
    if isinstance(result, RecordInvalid):
        return 422
    if isinstance(result, ChainUnavailable):
        return 503
    return 202 if result.created else 409


class IndexWriter:
    """The API's one writer of the index: submissions and access-audit entries from many threads, committed
    together, one transaction per batch. SQLite has one writer at a time: two writers (a submission batcher
    and an audit sink) spent their time waiting for each other's lock (bench/RESULTS.md, API ingest)."""

    # No wait for a batch to fill: what arrives while one batch is written forms the next (classic group
    # commit). Waiting 5 ms cost more than it saved: writer-only, 8 clients, 182 against 344 records/s.
    def __init__(self, service: LedgerService, max_batch: int = 256, max_wait_s: float = 0.0) -> None:
        self.service = service
        self._batcher: Batcher[Submission | AuditEntry] = Batcher(self._flush, max_batch, max_wait_s, "index-writer")

    def submit(
        self,
        raw: Mapping[str, Any],
        files: Sequence[AttachmentFile],
        actor: str,
        access: Mapping[str, Any] | None = None,
    ) -> Future[Submitted]:
        """A record in; a future that is its Submitted (or its RecordInvalid) once its batch is durable. With
        `access` (the request's access-audit entry but its answer), the entry is written in the same
        transaction with the answer `submission_status` gives: one durable write per request, not two."""
        future: Future[Submitted] = Future()
        self._batcher.put((raw, files, actor, access, future))
        return future

    def record(self, **entry: Any) -> Future[None]:
        """An access-audit entry in; a future that completes once it is durable (or fails with why not)."""
        written: Future[None] = Future()
        self._batcher.put((entry, written))
        return written

    def close(self) -> None:
        self._batcher.close()

    def _flush(self, batch: list[Submission | AuditEntry]) -> None:
        submissions = [item for item in batch if len(item) == 5]
        entries = [item for item in batch if len(item) == 2]

        def answered(results: Sequence[Outcome]) -> list[dict[str, Any]]:
            return [
                {**access, "new_value": str(submission_status(result))}
                for (*_, access, _), result in zip(submissions, results, strict=True)
                if access is not None
            ]

        try:
            if submissions:
                results = self.service.submit_batch(
                    [(raw, files, actor) for raw, files, actor, _, _ in submissions],
                    audit_entries=[entry for entry, _ in entries],
                    audit_of_outcomes=answered,
                )
            else:
                with self.service.sessions.begin() as session:
                    crud.audit_many(session=session, entries=[entry for entry, _ in entries])
        except Exception as error:  # the whole batch failed (store or database down): every caller hears it
            log.exception("could not write a batch of %d submissions, %d audit entries", len(submissions), len(entries))
            for item in batch:
                item[-1].set_exception(error)
            return
        for _, written in entries:
            written.set_result(None)
        if submissions:
            for (*_, future), result in zip(submissions, results, strict=True):
                if isinstance(result, Submitted):
                    future.set_result(result)
                else:
                    future.set_exception(result)
