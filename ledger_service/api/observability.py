"""Operations: the audit entry of every API access, Prometheus metrics, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger_service.api.arrivals import ArrivalJournal
from ledger_service.index.models import DeadLetterRow, RecordRow
from ledger_service.service import LedgerService

log = logging.getLogger("qledger.api")


class WorkerCounts(Collector):
    """The pin and anchor worker's counters (records anchored, failed passes), read when scraped from the worker:
    its thread in this process, or the state file of the worker process of `serve` (api/worker.py)."""

    def __init__(self) -> None:
        self.source: Callable[[], tuple[int, int]] = lambda: (0, 0)

    def collect(self) -> Iterator[Metric]:
        anchored, failures = self.source()
        yield CounterMetricFamily("qledger_records_anchored", "Records anchored", value=anchored)
        yield CounterMetricFamily(
            "qledger_anchor_failures", "Pin or anchor passes that failed (retried with backoff)", value=failures
        )


class Metrics:
    """The service's Prometheus metrics, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.worker = WorkerCounts()
        self.registry.register(self.worker)
        self.requests = Counter(
            "qledger_http_requests_total", "HTTP requests", ["method", "status"], registry=self.registry
        )
        self.accepted = Counter(
            "qledger_records_accepted_total", "Records accepted for anchoring", registry=self.registry
        )
        self.queue = Gauge("qledger_outbox_depth", "Records accepted but not yet anchored", registry=self.registry)
        self.dead_letters = Gauge(
            "qledger_dead_letters",
            "Records the contracts refused to anchor, waiting for a retry",
            registry=self.registry,
        )
        self.pin_queue = Gauge(
            "qledger_pin_outbox_depth", "Records whose content waits in the local spool", registry=self.registry
        )
        self.pins = Gauge(
            "qledger_pins",
            "Files handed to IPFS Cluster, by replication state (replicated, pinning, missing)",
            ["state"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qledger_request_seconds",
            "Time to answer a request",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.anchor_latency = Histogram(
            "qledger_anchor_latency_seconds",
            "Time from acceptance to anchor",
            registry=self.registry,
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line; messages use %-style arguments, never secrets."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("method", "path", "status", "member", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


AUDITED_WITH: Final = "access_audited_with"  # request state: the status whose access entry a route wrote itself


def _audited(scope: Scope) -> bool:
    """Whether a request is entered in the audit trail: the API's, not health checks, metrics or docs."""
    return str(scope["path"]).startswith("/v1/")


def access_entry(scope: Scope) -> dict[str, Any]:
    """The access-audit entry of a request, all but its answer (`new_value`, the HTTP status)."""
    member = scope.get("state", {}).get("member")
    return {
        "actor": member or "anonymous",
        "action": "api",
        "record_id": scope.get("path_params", {}).get("record_id"),
        "field": f"{scope['method']} {getattr(scope.get('route'), 'path', 'unmatched')}",
    }


class AuditAndMeasure:
    """Pure ASGI middleware (no per-request task or stream copy): metrics, the access audit entry and one JSON
    log line for every request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        audited = False
        # Noted before anything is read, so that a request that kills the process still leaves an entry.
        journal: ArrivalJournal | None = getattr(scope["app"].state, "arrivals", None)
        arrival = journal.arrive(scope["method"], scope["path"]) if journal and _audited(scope) else None

        async def send_and_note(message: Message) -> None:
            nonlocal status, audited
            if message["type"] == "http.response.start":
                status = message["status"]
                # 21 CFR 11.10(e): the access entry is durable before the answer leaves; none leaves without it.
                audited = True
                await self._audit(scope, status)
                if journal is not None and arrival is not None:
                    journal.answered(arrival)
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not audited:  # no answer was sent (the client left, or the app failed before answering)
                try:
                    await self._audit(scope, status)
                    if journal is not None and arrival is not None:
                        journal.answered(arrival)
                except Exception:  # the arrival stays open: the next start enters it in the trail
                    log.exception("the audit entry of %s %s could not be written", scope["method"], scope["path"])
            self._note(scope, status, time.perf_counter() - start)

    async def _audit(self, scope: Scope, status: int) -> None:
        if not _audited(scope):
            return
        if scope.get("state", {}).get(AUDITED_WITH) == status:
            return  # the route's own transaction holds this entry already (submissions: see api/batching.py)
        written = scope["app"].state.audit.record(**access_entry(scope), new_value=str(status))
        await asyncio.wrap_future(written)

    def _note(self, scope: Scope, status: int, elapsed: float) -> None:
        method, path = scope["method"], scope["path"]
        template = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(method, str(status)).inc()
        self.metrics.latency.labels(template).observe(elapsed)
        member = scope.get("state", {}).get("member")
        log.info(
            "%s %s -> %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "member": member,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )


def install(app: FastAPI, service: LedgerService, metrics: Metrics) -> None:
    app.add_middleware(AuditAndMeasure, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        with service.sessions() as session:
            depth = session.scalar(select(func.count()).select_from(RecordRow).where(RecordRow.status == "accepted"))
            unpinned = session.scalar(select(func.count()).select_from(RecordRow).where(RecordRow.pinned_at.is_(None)))
            dead = session.scalar(select(func.count()).select_from(DeadLetterRow))
        metrics.queue.set(depth or 0)
        metrics.pin_queue.set(unpinned or 0)
        metrics.dead_letters.set(dead or 0)
        if service.store.replication_min:
            counts = service.replication_counts()
            for state in ("replicated", "pinning", "missing"):
                metrics.pins.labels(state=state).set(counts.get(state, 0))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
