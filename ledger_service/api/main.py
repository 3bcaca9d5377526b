"""The HTTP API: wiring only (routers, problem handlers, the anchoring worker)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from ledger_service import __version__
from ledger_service.api import observability, problems
from ledger_service.api.arrivals import NO_ANSWER_VALUE, ArrivalJournal
from ledger_service.api.arrivals import recover as recover_arrivals
from ledger_service.api.batching import IndexWriter
from ledger_service.api.deps import STANDING_TTL_S, Member, RefreshingCache
from ledger_service.api.limits import BodyLimits, RequestLimits
from ledger_service.api.observability import Metrics
from ledger_service.api.routes import (
    api_keys,
    audit,
    dead_letters,
    health,
    instruments,
    issuers,
    members,
    recalls,
    records,
    reports,
    reviews,
)
from ledger_service.api.worker import AnchorWorker, RemoteWorker
from ledger_service.index import crud
from ledger_service.index.models import AuditRow
from ledger_service.keys import KeyStore
from ledger_service.service import LedgerService
from ledger_service.station import Profile

# Swagger UI and ReDoc, shipped in the package (README.md there): FastAPI's default pages load them from a CDN,
# and render blank where the service has no Internet access.
log = logging.getLogger("qledger.api")
STATIC_DIR = Path(__file__).parent / "static"
# The docs pages may load from this service only (their inline scripts and styles, a blob worker, data: images):
# a browser refuses whatever a future asset would fetch from elsewhere, and reports it.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'"
)

RECURSION_LIMIT = 12_288


def create_app(
    service: LedgerService,
    *,
    max_upload_bytes: int = 64 << 20,
    worker: bool = True,
    keys: KeyStore | None = None,
    certificates: dict[str, str] | None = None,
    profile: Profile | None = None,
    arrivals: Path | None = None,
    remote_worker: RemoteWorker | None = None,
) -> FastAPI:
    """The API over `service`. With `arrivals` (a file in the data directory), requests are journalled on
    arrival so that one the process never answered still reaches the audit trail (api/arrivals.py).

    The pin and anchor worker: a thread of this process when `worker` (tests, the in-process demo), none when
    not; with `remote_worker`, the worker process of `qledger serve` (api/worker.py), woken and read from here,
    and no thread here whatever `worker` says."""
    # py_ecc raises the recursion limit to 100,000 on import, beyond what the C stack honours (a deep enough
    # structure would then crash the process instead of raising); py-evm's in-process EVM needs 12,288.
    sys.setrecursionlimit(min(sys.getrecursionlimit(), RECURSION_LIMIT))
    metrics = Metrics()
    operator = next(iter(profile.stations), None) if profile is not None else None  # anchors the audit head
    anchor_worker = AnchorWorker(service, audit_member=operator)
    if remote_worker is not None:
        worker = False
        metrics.worker.source = remote_worker.counts
    else:
        metrics.worker.source = lambda: (anchor_worker.anchored, anchor_worker.failures)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if arrivals is not None:
            recovered = recover_journal(service, arrivals)
            if recovered:
                log.warning("%d requests of the last run were never answered: now in the audit trail", recovered)
            app.state.arrivals = ArrivalJournal(arrivals)
        app.state.submissions = app.state.audit = IndexWriter(service)
        if worker:
            anchor_worker.start()
        yield
        anchor_worker.stop()
        if remote_worker is not None:
            remote_worker.close()
        app.state.submissions.close()
        if arrivals is not None:
            app.state.arrivals.close()

    app = FastAPI(
        title="qledger",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.worker = remote_worker if remote_worker is not None else anchor_worker
    app.state.max_upload_bytes = max_upload_bytes
    limits = BodyLimits(upload_bytes=max_upload_bytes)
    app.state.max_pdf_bytes = limits.pdf_bytes  # each part of a batch of certificates (routes/reports.py)
    app.state.keys = keys  # members' SM2 keys held by this service (a regulator's, for recall unlocks)
    app.state.certificates = certificates  # instrument -> calibration certificate (the inspection station)
    app.state.profile = profile  # the stations, reporting entity and verification URL of profile.json
    app.state.metrics = metrics
    app.state.member_cache = RefreshingCache[str, Member | None](STANDING_TTL_S)
    app.state.accreditation_cache = RefreshingCache[tuple[str, int], bool](STANDING_TTL_S)
    problems.install(app)
    app.add_middleware(RequestLimits, limits=limits)  # inside the access audit
    observability.install(app, service, metrics)
    routers = (
        records.router,
        dead_letters.router,
        instruments.router,
        members.router,
        api_keys.router,
        audit.router,
        recalls.router,
        reports.router,
        reviews.router,
        issuers.router,
        health.router,
    )
    for router in routers:
        app.include_router(router)
    _install_docs(app)
    return app


def recover_journal(service: LedgerService, path: Path) -> int:
    """Enter the requests the arrival journal at `path` left unanswered in the audit trail (api/arrivals.py)."""
    return recover_arrivals(path, partial(_unanswered_recorded, service), partial(_append_audit, service))


def _unanswered_recorded(service: LedgerService) -> set[str]:
    with service.sessions() as session:
        rows = session.scalars(select(AuditRow.reason).where(AuditRow.new_value == NO_ANSWER_VALUE))
        return {r for r in rows if r is not None}


def _append_audit(service: LedgerService, entries: Sequence[dict[str, Any]]) -> None:
    with service.sessions.begin() as session:
        crud.audit_many(session=session, entries=list(entries))


def _install_docs(app: FastAPI) -> None:
    """/docs and /redoc from the packaged assets under /static: no request leaves the service."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    def prefix(request: Request) -> str:  # behind a proxy that mounts the service under a path
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=title,
            swagger_js_url=f"{root}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon-32x32.png",
            # Off: Swagger UI would send the document to validator.swagger.io for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=title,
            redoc_js_url=f"{root}/static/redoc.standalone.js",
            redoc_favicon_url=f"{root}/static/favicon-32x32.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page
