"""Operations: the audit entry of every API access, Prometheus metrics, JSON logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from ledger_service.index.models import RecordRow
from ledger_service.service import LedgerService

log = logging.getLogger("qledger.api")


class Metrics:
    """The service's Prometheus metrics, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qledger_http_requests_total", "HTTP requests", ["method", "status"], registry=self.registry
        )
        self.accepted = Counter(
            "qledger_records_accepted_total", "Records accepted for anchoring", registry=self.registry
        )
        self.anchored = Counter("qledger_records_anchored_total", "Records anchored", registry=self.registry)
        self.queue = Gauge("qledger_outbox_depth", "Records accepted but not yet anchored", registry=self.registry)
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


def install(app: FastAPI, service: LedgerService, metrics: Metrics) -> None:
    @app.middleware("http")
    async def audit_and_measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - start
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, str(response.status_code)).inc()
        metrics.latency.labels(template).observe(elapsed)
        member = getattr(request.state, "member", None)
        if request.url.path.startswith("/v1/"):
            # 21 CFR 11.10(e): every access, granted or refused, with who, when, what and the outcome.
            request.app.state.audit.record(
                actor=member or "anonymous",
                action="api",
                record_id=request.path_params.get("record_id"),
                field=f"{request.method} {template}",
                new_value=str(response.status_code),
            )
        log.info(
            "%s %s -> %s",
            request.method,
            request.url.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "member": member,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint() -> Response:
        with service.sessions() as session:
            depth = session.scalar(select(func.count()).select_from(RecordRow).where(RecordRow.status == "accepted"))
        metrics.queue.set(depth or 0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
