"""Every API error as an RFC 9457 problem document (`application/problem+json`) with a stable `type`, a
title, and the fields at fault. Domain errors are mapped here, in one place.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger_service.errors import (
    ChainUnavailable,
    LedgerError,
    StoreUnavailable,
    TransactionReverted,
    UnknownEntry,
)
from ledger_service.records import RecordInvalid
from ledger_service.rules import Forbidden
from ledger_service.safejson import JsonRefused

MEDIA_TYPE = "application/problem+json"


def problem_type(code: str) -> str:
    """Stable problem type URI of a code. NOTE: public API, never changed once published."""
    return f"urn:qledger:problem:{code.lower().replace('_', '-')}"


class Problem(Exception):
    """Raised by routes and dependencies for a refusal with a known code."""

    def __init__(
        self, status: int, code: str, title: str, detail: str = "", errors: list[dict[str, str]] | None = None
    ) -> None:
        self.status, self.code, self.title, self.detail, self.errors = status, code, title, detail, errors or []
        super().__init__(f"{code}: {detail or title}")


def problem_response(
    status: int, code: str, title: str, detail: str = "", errors: list[dict[str, str]] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": problem_type(code), "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body["errors"] = errors or []
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="qledger"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# Contract refusals -> HTTP status (the code itself is the same one the chain client reports).
_CHAIN_STATUS = {
    "FORBIDDEN": 403,
    "NOT_ACCREDITED": 403,
    "MEMBER_NOT_ACTIVE": 403,
    "ALREADY_ANCHORED": 409,
    "ALREADY_REGISTERED": 409,
    "UNKNOWN_INSTRUMENT": 404,
    "UNKNOWN_PROPOSAL": 404,
    "UNKNOWN_RECALL": 404,
    "ALREADY_VOTED": 409,
    "RECALL_CONFIRMED": 409,
    "PROPOSAL_CLOSED": 409,
    "PROPOSAL_EXPIRED": 409,
}


class BodyTooLarge(LedgerError):
    """A request body passed its route's limit while it was being read (ledger_service/api/limits.py)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body passed {limit} bytes")
        self.limit = limit


def too_large_response(limit: int) -> JSONResponse:
    errors = [{"field": "body", "code": "TOO_LARGE", "message": f"at most {limit} bytes"}]
    response = problem_response(413, "TOO_LARGE", "The request body is too large", f"at most {limit} bytes", errors)
    response.headers["connection"] = "close"  # the rest of the body is not read
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, e: BodyTooLarge) -> JSONResponse:
        return too_large_response(e.limit)

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, e: Forbidden) -> JSONResponse:
        errors = [{"field": e.field, "code": e.code, "message": str(e)}]
        return problem_response(403, e.code, "Refused by the consortium's rules", str(e), errors)

    @app.exception_handler(JsonRefused)
    async def _json_refused(_: Request, e: JsonRefused) -> JSONResponse:
        errors = [{"field": "body", "code": e.code, "message": str(e)}]
        return problem_response(400, e.code, "The JSON is refused", str(e), errors)

    @app.exception_handler(Problem)
    async def _problem(_: Request, p: Problem) -> JSONResponse:
        return problem_response(p.status, p.code, p.title, p.detail, p.errors)

    @app.exception_handler(RecordInvalid)
    async def _invalid(_: Request, e: RecordInvalid) -> JSONResponse:
        errors = [{"field": f.path, "code": str(f.code), "message": f.message} for f in e.faults]
        return problem_response(422, "RECORD_INVALID", "The record was refused", f"{len(errors)} fault(s)", errors)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "code": "INVALID_VALUE", "message": str(err["msg"])}
            for err in e.errors()
        ]
        return problem_response(422, "REQUEST_INVALID", "The request is malformed", errors=errors)

    @app.exception_handler(TransactionReverted)
    async def _reverted(_: Request, e: TransactionReverted) -> JSONResponse:
        status = _CHAIN_STATUS.get(e.code, 422)
        return problem_response(status, e.code, "The consortium contracts refused it", str(e), contract_error=e.name)

    @app.exception_handler(ChainUnavailable)
    async def _chain_down(_: Request, e: ChainUnavailable) -> JSONResponse:
        return problem_response(503, "CHAIN_UNAVAILABLE", "The chain node is unreachable", str(e))

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, e: StoreUnavailable) -> JSONResponse:
        return problem_response(503, "STORE_UNAVAILABLE", "The IPFS node is unreachable", str(e))

    @app.exception_handler(UnknownEntry)
    async def _unknown(_: Request, e: UnknownEntry) -> JSONResponse:
        return problem_response(404, "NOT_FOUND", "No such entry", str(e))

    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, e: LedgerError) -> JSONResponse:
        return problem_response(400, "REQUEST_REFUSED", "The request was refused", str(e))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}
        code = codes.get(e.status_code, "HTTP_ERROR")
        return problem_response(e.status_code, code, str(e.detail), "")

    @app.exception_handler(OSError)
    async def _dependency_down(_: Request, e: OSError) -> JSONResponse:
        # A connection to a dependency broke somewhere not wrapped above: the client may retry.
        return problem_response(503, "DEPENDENCY_UNAVAILABLE", "A dependency is unreachable", type(e).__name__)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        return problem_response(500, "INTERNAL", "Internal error", type(e).__name__)
