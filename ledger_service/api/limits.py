"""Request limits enforced before any work is done, on every route and for anonymous callers first: a body's
size while it streams in (a declared Content-Length, chunked or not), and a JSON body's nesting, strings and
numbers before anything parses it (ledger_service/safejson.py). Pure ASGI: nothing is read twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger_service import safejson
from ledger_service.api.problems import BodyTooLarge, problem_response, too_large_response

MAX_JSON_BYTES: Final = 1 << 20  # a record, a recall, a review: far below this
MAX_PDF_BYTES: Final = 16 << 20  # a certificate is a few hundred KiB
MAX_BATCH_BYTES: Final = 64 << 20  # a batch of them, each part at most MAX_PDF_BYTES
MAX_BATCH_FILES: Final = 200


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int = MAX_JSON_BYTES
    upload_bytes: int = 64 << 20  # a multipart submission with its attachments
    pdf_bytes: int = MAX_PDF_BYTES
    batch_bytes: int = MAX_BATCH_BYTES  # several certificates or bundles in one multipart request

    def for_request(self, method: str, path: str, media: str) -> int:
        if method == "POST" and path == "/v1/records" and media == "multipart/form-data":
            return self.upload_bytes
        if method == "POST" and path == "/v1/certificates/verify":
            return self.batch_bytes if media == "multipart/form-data" else self.pdf_bytes
        return self.json_bytes


def _media(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1")).split(";")[0].strip().lower()
    return ""


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


class RequestLimits:
    """Refuses a body over its route's limit with 413 as soon as the limit is passed (declared or counted),
    and a JSON body past the parsing limits with 400, before authentication, routing or parsing."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        media = _media(scope)
        limit = self.limits.for_request(scope["method"], scope["path"], media)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await too_large_response(limit)(scope, receive, send)
            return
        if _is_json(media):
            try:
                body = await _read_all(receive, limit)
                safejson.check(body)
            except BodyTooLarge:
                await too_large_response(limit)(scope, receive, send)
                return
            except safejson.JsonRefused as refused:
                await _json_refused(refused)(scope, receive, send)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        await self.app(scope, _counting(receive, limit), send)


async def _read_all(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes

    return replayed


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


def _json_refused(refused: safejson.JsonRefused) -> ASGIApp:
    errors = [{"field": "body", "code": refused.code, "message": str(refused)}]
    return problem_response(400, refused.code, "The JSON body is refused", str(refused), errors)
