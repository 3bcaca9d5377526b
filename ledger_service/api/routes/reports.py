"""Disclosures and certificates over the API: the year's ESRS/GRI/SASB/IFRS S2 report in any output format,
certificates issued by the lab that owns the records, and certificate verification (open to anyone holding
the PDF: it reveals nothing the holder does not have)."""

from __future__ import annotations

import io
import zipfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.formparsers import MultiPartException

from esg_reports import certificate_status as certificate_status_
from esg_reports import certificates, i18n, mapping, render, verify_page
from esg_reports.i18n import LANGUAGES
from esg_reports.mapping import FRAMEWORKS
from esg_reports.metrics import Inputs, Period, Scope
from esg_reports.report import Entity, build, recalls_on_chain
from ledger_service.api.deps import ActiveMemberDep, MemberDep, ServiceDep
from ledger_service.api.limits import MAX_BATCH_FILES
from ledger_service.api.problems import Problem
from ledger_service.api.routes.records import RecordId, readable
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.service import DocumentInvalid

router = APIRouter(tags=["reports"])
MEDIA = {"json": "application/json", "html": "text/html", "pdf": "application/pdf", "ixbrl": "application/zip",
         "csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip


@router.get("/v1/reports", responses={200: {"content": {m: {} for m in MEDIA.values()}}})
def get_report(
    request: Request,
    member: MemberDep,
    service: ServiceDep,
    period: Annotated[int, Query(ge=2000, le=2100)],
    framework: Annotated[list[Literal["esrs", "gri", "sasb", "ifrs_s2"]] | None, Query()] = None,
    format: Annotated[Literal["json", "html", "pdf", "ixbrl", "csv", "xlsx"], Query()] = "json",
    product: Annotated[list[Annotated[str, Field(max_length=120)]] | None, Query()] = None,
    entity: Annotated[str | None, Query(max_length=200, description="default: the profile's entity")] = None,
    lei: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{18}[0-9]{2}$", description="default: the profile's")] = None,
) -> Response:
    """The period's disclosures for the chosen frameworks; `ixbrl` comes as a zip with its taxonomy schema."""
    profile = request.app.state.profile
    if (entity is None or lei is None) and profile is None:
        missing = [{"field": f, "code": "MISSING_FIELD", "message": "not configured"} for f in ("entity", "lei")]
        raise Problem(422, "ENTITY_REQUIRED", "No reporting entity is configured: give entity and lei", errors=missing)
    name = entity if entity is not None else profile.reporting_entity.name
    identifier = lei if lei is not None else profile.reporting_entity.lei
    with service.sessions.begin() as session:
        report = build(
            session,
            entity=Entity(name, identifier),
            period=Period.year(period),
            scope=Scope(products=tuple(product) if product else None, viewer=member.id),
            frameworks=list(framework or FRAMEWORKS),
            inputs=Inputs(recalls=recalls_on_chain(service.chain)),
        )
    if format == "json":
        return Response(render.to_json(report, ids_per_metric=1000), media_type=MEDIA["json"])
    if format == "csv":
        return Response(render.to_csv(report), media_type=MEDIA["csv"])
    if format == "xlsx":
        return Response(render.to_xlsx(report), media_type=MEDIA["xlsx"])
    if format == "html":
        return Response(render.to_html(report), media_type=MEDIA["html"])
    if format == "pdf":
        return Response(render.to_pdf(report), media_type=MEDIA["pdf"])
    schema = report.mapping.taxonomy["schema"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"esg-{period}.xhtml", render.to_ixbrl(report, schema))
        archive.write(mapping.HERE / "taxonomy" / schema, schema)
    return Response(buffer.getvalue(), media_type=MEDIA["ixbrl"])


class CertificateIn(BaseModel):
    target: str = Field(min_length=1, max_length=120, description="a record id, or a lot")
    languages: list[Literal[LANGUAGES]] = Field(default=["en"], min_length=1, max_length=11)  # type: ignore[valid-type]
    verify_base: str | None = Field(
        default=None, pattern=r"^https?://[^\s]{1,200}$", description="default: the profile's verification URL"
    )


@router.post("/v1/certificates", responses={200: {"content": {"application/pdf": {}, "application/zip": {}}}})
async def issue_certificates(
    body: CertificateIn, request: Request, member: ActiveMemberDep, service: ServiceDep
) -> Response:
    """Certificates for a record or a lot of the caller's own anchored public records: one PDF, or a zip."""
    ids = certificates.records_of(service, body.target)
    owners = {readable(service, member, r).lab_member for r in ids}  # 404 for what the caller may not see
    if owners != {member.id}:
        raise Problem(403, "FORBIDDEN", "A lab issues certificates for its own records only", body.target)
    profile = request.app.state.profile
    base = body.verify_base or (profile.verification_url if profile is not None else None)
    if base is None:
        missing = [{"field": "verify_base", "code": "MISSING_FIELD", "message": "no verification URL is configured"}]
        raise Problem(422, "VERIFY_BASE_REQUIRED", "No verification URL is configured", errors=missing)
    keys = request.app.state.keys
    if keys is None:
        raise Problem(503, "KEYS_UNAVAILABLE", "This service holds no key directory to sign certificates with")
    issued = await run_in_threadpool(certificates.issue, service, ids, list(body.languages), base, keys=keys)
    if len(issued) == 1:
        return Response(issued[0].pdf, media_type="application/pdf")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for cert in issued:
            archive.writestr(f"certificate-{cert.record_id[:16]}.pdf", cert.pdf)
    return Response(buffer.getvalue(), media_type="application/zip")


PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


def _wants_html(accept: str) -> bool:
    """Whether the client ranks text/html above application/json (RFC 9110 quality values); a browser does."""
    q: dict[str, float] = {}
    for part in accept.split(",")[:32]:
        media, _, params = part.strip().partition(";")
        value = 1.0
        for param in params.split(";"):
            name, _, number = param.strip().partition("=")
            if name == "q":
                try:
                    value = float(number)
                except ValueError:
                    value = 0.0
        q[media.strip().lower()] = max(value, q.get(media.strip().lower(), 0.0))
    html = q.get("text/html", 0.0)
    return html > 0 and html >= q.get("application/json", 0.0)


@router.get(
    "/v1/certificates/{record_id}",
    responses={200: {"content": {"application/json": {}, "text/html": {}}}, 404: {"content": {"text/html": {}}}},
)
async def certificate_status(
    record_id: RecordId,
    request: Request,
    service: ServiceDep,
    lang: Annotated[str | None, Query(max_length=20, description="page language (else Accept-Language)")] = None,
) -> Response:
    """Open to anyone (the certificate's QR code lands here): the certified record's state now (valid,
    revoked, superseded, suspended by a recall), what it certifies, its issuer and anchor. A browser
    (Accept: text/html) gets the page in its language (?lang= or Accept-Language); anyone else the JSON."""
    if not _wants_html(request.headers.get("accept", "")):
        return JSONResponse(await run_in_threadpool(certificate_status_.state, service, record_id))
    language = i18n.negotiate(lang, request.headers.get("accept-language"))
    try:
        state = await run_in_threadpool(certificate_status_.state, service, record_id)
    except UnknownEntry:
        state = None
    root = str(request.scope.get("root_path", "")).rstrip("/")
    page = verify_page.render(state, language, root)
    headers = {"Content-Security-Policy": PAGE_CSP, "Content-Language": language, "Vary": "Accept, Accept-Language"}
    return HTMLResponse(page, status_code=200 if state else 404, headers=headers)


@router.get("/assets/{name:path}", include_in_schema=False)
def page_asset(name: str, request: Request) -> Response:
    """The page's shipped script, style and fonts (no CDN)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    found = verify_page.asset(name, root)
    if found is None:
        raise Problem(404, "NOT_FOUND", "No such asset", name)
    data, media = found
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


PDF_BODY = {"required": True, "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


@router.post("/v1/certificates/verify", openapi_extra={"requestBody": PDF_BODY})
async def verify_certificate(request: Request, service: ServiceDep) -> JSONResponse:
    """Verify a certificate PDF (application/pdf) or a proof bundle (application/json), sent as the body: one
    fragment per check, and the verdict. Several at once: multipart/form-data with one `files` part each
    (application/pdf or application/json), answered in order as `results` (docs/formats.md section 9)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _verify_batch(request, service)
    if media not in ("application/pdf", "application/json"):
        raise Problem(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send a certificate as application/pdf, a bundle as application/json, several as multipart/form-data",
        )
    data = await request.body()
    if len(data) > request.app.state.max_upload_bytes:
        raise Problem(413, "TOO_LARGE", "The upload is too large")
    if media == "application/pdf":
        fragments = await run_in_threadpool(service.verify_certificate, data)
        valid = certificates.is_valid(fragments)
    else:
        try:
            fragments, valid = await run_in_threadpool(service.verify_bundle, data)
        except LedgerError as error:
            raise Problem(422, "BUNDLE_INVALID", "Not a proof bundle", str(error)) from None
    body: dict[str, Any] = {"valid": valid, "fragments": [f.to_json() for f in fragments]}
    return JSONResponse(body)


async def _verify_batch(request: Request, service: ServiceDep) -> JSONResponse:
    """Several certificates or bundles in one multipart request: the body's size is counted while it streams
    in (api/limits.py), each part is held to one certificate's limit, and a part that is not a PDF or a bundle
    is refused naming it (`files[i]` and its file name)."""
    limit = request.app.state.max_pdf_bytes
    try:
        form = await request.form(max_files=MAX_BATCH_FILES, max_fields=MAX_BATCH_FILES, max_part_size=limit)
    except MultiPartException as error:
        too_large = "maximum size" in str(error).lower()
        raise Problem(
            413 if too_large else 422,
            "TOO_LARGE" if too_large else "REQUEST_INVALID",
            "A part of the batch is too large" if too_large else "The multipart body is refused",
            str(error),
            errors=[{"field": "files", "code": "TOO_LARGE" if too_large else "INVALID_VALUE", "message": str(error)}],
        ) from None
    parts = form.getlist("files")
    unknown = [k for k in form if k != "files"]
    if not parts or unknown:
        field = unknown[0] if unknown else "files"
        message = f"unknown part {field!r}: send the documents as `files` parts" if unknown else "no `files` part"
        code = "UNKNOWN_FIELD" if unknown else "MISSING_FIELD"
        raise Problem(422, "REQUEST_INVALID", "The batch needs `files` parts", message,
                      errors=[{"field": field, "code": code, "message": message}])  # fmt: skip
    documents = []
    for i, part in enumerate(parts):
        name = getattr(part, "filename", None) or f"files[{i}]"
        kind = (getattr(part, "content_type", None) or "").split(";")[0].strip().lower()
        if isinstance(part, str) or kind not in ("application/pdf", "application/json"):
            message = f"{name}: send a file as application/pdf (a certificate) or application/json (a bundle)"
            raise _bad_part(415, "UNSUPPORTED_MEDIA_TYPE", "A part is neither a certificate nor a bundle", i, message)
        size = part.size if part.size is not None else 0
        if size > limit:  # the body as a whole was counted while it streamed in; each part is one certificate
            message = f"{name}: {size} bytes, over a certificate's {limit}"
            raise _bad_part(413, "TOO_LARGE", "A part of the batch is too large", i, message)
        data = await part.read(limit + 1)
        if len(data) > limit:
            raise _bad_part(413, "TOO_LARGE", "A part of the batch is too large", i, f"{name}: over {limit} bytes")
        if (kind == "application/pdf") != data.startswith(b"%PDF-"):
            message = f"{name}: a {kind} part whose content is {'a PDF' if data.startswith(b'%PDF-') else 'not a PDF'}"
            raise _bad_part(422, "REQUEST_INVALID", "A part's content is not its type", i, message, "INVALID_VALUE")
        documents.append(data)
    try:
        verdicts = await run_in_threadpool(service.verify_documents, documents)
    except DocumentInvalid as error:
        name = getattr(parts[error.index], "filename", None) or f"files[{error.index}]"
        message = f"{name}: {error}"
        raise _bad_part(422, "BUNDLE_INVALID", "Not a proof bundle", error.index, message) from None
    results = [
        {"file": getattr(part, "filename", None), "valid": valid, "fragments": [f.to_json() for f in fragments]}
        for part, (fragments, valid) in zip(parts, verdicts, strict=True)
    ]
    return JSONResponse({"valid": all(r["valid"] for r in results), "results": results})


def _bad_part(status: int, code: str, title: str, index: int, message: str, field_code: str | None = None) -> Problem:
    """The problem of one part of a batch, naming it: `files[index]` (and its file name in the message)."""
    return Problem(status, code, title, message, errors=[{"field": f"files[{index}]", "code": field_code or code,
                                                          "message": message}])  # fmt: skip
