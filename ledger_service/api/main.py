"""The HTTP API: wiring only (routers, problem handlers, the anchoring worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger_service import __version__
from ledger_service.api import observability, problems
from ledger_service.api.batching import AuditSink, SubmissionBatcher
from ledger_service.api.deps import STANDING_TTL_S, Member, RefreshingCache
from ledger_service.api.observability import Metrics
from ledger_service.api.routes import health, instruments, members, recalls, records, reports, reviews
from ledger_service.api.worker import AnchorWorker
from ledger_service.keys import KeyStore
from ledger_service.service import LedgerService


def create_app(
    service: LedgerService,
    *,
    max_upload_bytes: int = 64 << 20,
    worker: bool = True,
    keys: KeyStore | None = None,
    certificates: dict[str, str] | None = None,
) -> FastAPI:
    metrics = Metrics()
    anchor_worker = AnchorWorker(service, on_anchored=metrics.anchored.inc)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.submissions = SubmissionBatcher(service)
        app.state.audit = AuditSink(service)
        if worker:
            anchor_worker.start()
        yield
        anchor_worker.stop()
        app.state.submissions.close()
        app.state.audit.close()

    app = FastAPI(title="qledger", version=__version__, openapi_url="/openapi.json", lifespan=lifespan)
    app.state.service = service
    app.state.worker = anchor_worker
    app.state.max_upload_bytes = max_upload_bytes
    app.state.keys = keys  # members' SM2 keys held by this service (a regulator's, for recall unlocks)
    app.state.certificates = certificates  # instrument -> calibration certificate (the inspection station)
    app.state.metrics = metrics
    app.state.member_cache = RefreshingCache[str, Member | None](STANDING_TTL_S)
    app.state.accreditation_cache = RefreshingCache[tuple[str, int], bool](STANDING_TTL_S)
    problems.install(app)
    observability.install(app, service, metrics)
    routers = (
        records.router,
        instruments.router,
        members.router,
        recalls.router,
        reports.router,
        reviews.router,
        health.router,
    )
    for router in routers:
        app.include_router(router)
    return app
