"""Records: submit (with attachments), read, status, verification, proof bundle, revoke, supersede."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from consortium.recall import recall_access
from ledger_service import rules, safejson
from ledger_service.api.batching import submission_status
from ledger_service.api.deps import ActiveMemberDep, Member, MemberDep, ServiceDep, is_accredited
from ledger_service.api.observability import AUDITED_WITH, access_entry
from ledger_service.api.problems import Problem
from ledger_service.index import crud
from ledger_service.index.models import RecordRow
from ledger_service.records import RECORD_TYPE_CODES, RecordInvalid
from ledger_service.service import AttachmentFile, LedgerService
from ledger_service.verification import is_valid

router = APIRouter(prefix="/v1/records", tags=["records"])
RecordId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SM3 record id, 64 hex characters")]


# Where a record can be followed after it is accepted.
class Links(BaseModel):
    self: str
    status: str
    verification: str
    proof: str


# The answer to a submission: accepted for anchoring.
class Accepted(BaseModel):
    record_id: str
    status: str
    links: Links


# A record as the API shows it.
class RecordPublic(BaseModel):
    record_id: str
    record_type: str
    status: str
    lab_member: str
    measured_at: datetime
    cid: str | None
    record: dict[str, Any]
    anchor: dict[str, Any] | None
    superseded_by: str | None


class RecordsPublic(BaseModel):
    data: list[RecordPublic]
    count: int


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class SupersedeIn(BaseModel):
    replacement_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(min_length=1, max_length=500)


def _instant(moment: datetime | None) -> datetime | None:
    """A filter's time as a UTC instant (no offset: UTC); one that has none (year 9999 at -23:59) is refused."""
    if moment is None:
        return None
    try:
        return crud.utc_instant(moment)
    except OverflowError:
        raise ValueError("not a representable instant") from None


def _links(record_id: str) -> Links:
    base = f"/v1/records/{record_id}"
    return Links(self=base, status=f"{base}/status", verification=f"{base}/verification", proof=f"{base}/proof")


def _public(service: LedgerService, row: RecordRow) -> RecordPublic:
    a = row.anchor
    anchor = None
    if a is not None:
        anchor = {
            "tier": a.tier,
            "chain_id": a.chain_id,
            "contract": a.contract,
            "tx_hash": a.tx_hash,
            "block_number": a.block_number,
            "root": a.root,
            "leaf_index": a.leaf_index,
            "proof": a.proof,
        }
    return RecordPublic(
        record_id=row.id,
        record_type=row.record_type,
        status=row.status,
        lab_member=row.lab_member,
        measured_at=row.measured_at,
        cid=row.cid,
        record=service.document_of(row),
        anchor=anchor,
        superseded_by=row.superseded_by,
    )


def readable(service: LedgerService, member: Member, record_id: str) -> RecordRow:
    """The record, if it exists and `member` may read it (confidential records: their owner, and a regulator
    once a recall unlocked it). A record the caller may not read is as unknown as one that does not exist:
    the answer must not tell anyone that a confidential record is there."""
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        if row is None or not rules.may_read(
            member.id,
            row.lab_member,
            row.confidentiality,
            lambda: recall_access(service, member.id, record_id) is not None,
        ):
            raise Problem(404, "NOT_FOUND", "No such record", record_id)
        row.attachments, row.anchor  # noqa: B018 - load before the session closes
        return row


async def _read_submission(request: Request, max_bytes: int) -> tuple[dict[str, Any], list[AttachmentFile]]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise Problem(413, "TOO_LARGE", "The upload is too large", f"at most {max_bytes} bytes")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    files: list[AttachmentFile] = []
    if media == "application/json":
        text = await request.body()
    elif media == "multipart/form-data":
        form = await request.form(max_files=1000, max_fields=10, max_part_size=max_bytes)
        part = form.get("record")
        if part is None:
            raise Problem(
                422,
                "REQUEST_INVALID",
                "The multipart body needs a `record` part",
                errors=[{"field": "record", "code": "MISSING_FIELD", "message": "missing"}],
            )
        text = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else await part.read()
        for upload in form.getlist("attachments"):
            if isinstance(upload, str):
                raise Problem(
                    422,
                    "REQUEST_INVALID",
                    "Attachments must be files",
                    errors=[{"field": "attachments", "code": "INVALID_VALUE", "message": "not a file"}],
                )
            data = await upload.read()
            files.append(
                AttachmentFile(
                    upload.filename or "attachment", upload.content_type or "application/octet-stream", data=data
                )
            )
    else:
        raise Problem(415, "UNSUPPORTED_MEDIA_TYPE", "Send application/json or multipart/form-data", media or "none")
    raw = safejson.loads(text)  # JsonRefused: 400 with its code (problems.py)
    if not isinstance(raw, dict):
        raise Problem(
            422,
            "RECORD_INVALID",
            "The record must be a JSON object",
            errors=[{"field": "", "code": "INVALID_VALUE", "message": "not an object"}],
        )
    return raw, files


SUBMISSION_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "description": "the record (docs/formats.md)"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["record"],
                "properties": {
                    "record": {"type": "string", "description": "the record, as JSON"},
                    "attachments": {"type": "array", "items": {"type": "string", "format": "binary"}},
                },
            }
        },
    },
}


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses={202: {"description": "Accepted for anchoring"}},
    openapi_extra={"requestBody": SUBMISSION_BODY},
)
async def submit_record(request: Request, service: ServiceDep, member: ActiveMemberDep) -> JSONResponse:
    """Submit a record (JSON, or multipart with `record` and `attachments` parts)."""
    raw, files = await _read_submission(request, request.app.state.max_upload_bytes)
    code = RECORD_TYPE_CODES.get(str(raw.get("record_type")))
    accredited = code is not None and await is_accredited(request, service, member.account, code)
    profile = request.app.state.profile
    signed_types = profile.signed_record_types(member.id) if profile is not None else frozenset[str]()
    # Forbidden: 403 with its code (problems.py)
    rules.check_submission(member.id, raw, lambda _: accredited, signed_types)
    writing = request.app.state.submissions.submit(raw, files, member.id, access=access_entry(request.scope))
    try:
        submitted = await asyncio.wrap_future(writing)
    except RecordInvalid as refused:
        setattr(request.state, AUDITED_WITH, submission_status(refused))
        raise
    setattr(request.state, AUDITED_WITH, submission_status(submitted))
    if not submitted.created:
        raise Problem(409, "ALREADY_SUBMITTED", "This record was submitted before", submitted.record_id)
    request.app.state.metrics.accepted.inc()
    request.app.state.worker.wake()
    body = Accepted(record_id=submitted.record_id, status="accepted", links=_links(submitted.record_id))
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": body.links.status})


@router.get("", response_model=RecordsPublic)
def list_records(
    service: ServiceDep,
    member: MemberDep,
    record_type: Annotated[str | None, Query(max_length=40)] = None,
    lot: Annotated[str | None, Query(max_length=120)] = None,
    product: Annotated[str | None, Query(max_length=120)] = None,
    status: Annotated[str | None, Query(pattern="^(accepted|anchored|revoked|superseded)$")] = None,
    measured_from: Annotated[datetime | None, AfterValidator(_instant)] = None,
    measured_until: Annotated[datetime | None, AfterValidator(_instant)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> RecordsPublic:
    """List records, filtered; confidential records of other members are left out."""
    with service.sessions() as session:
        rows = crud.list_records(
            session=session,
            record_type=record_type,
            lot=lot,
            product=product,
            status=status,
            measured_from=measured_from,
            measured_until=measured_until,
            limit=limit,
            offset=offset,
            visible_to=member.id,
        )
        data = [_public(service, r) for r in rows]
    return RecordsPublic(data=data, count=len(data))


@router.get("/{record_id}", response_model=RecordPublic)
def get_record(record_id: RecordId, service: ServiceDep, member: MemberDep) -> RecordPublic:
    """Retrieve a record."""
    return _public(service, readable(service, member, record_id))


@router.get("/{record_id}/status")
def get_status(record_id: RecordId, service: ServiceDep, member: MemberDep) -> dict[str, Any]:
    """Where a record stands: accepted (queued for anchoring), anchored, revoked or superseded."""
    row = readable(service, member, record_id)
    public = _public(service, row)
    return {"record_id": row.id, "status": row.status, "anchor": public.anchor, "superseded_by": row.superseded_by}


@router.get("/{record_id}/verification")
def get_verification(record_id: RecordId, service: ServiceDep, member: MemberDep) -> dict[str, Any]:
    """Verify a record: one fragment per check, with reason codes."""
    readable(service, member, record_id)
    fragments = service.verify(record_id)
    return {"record_id": record_id, "valid": is_valid(fragments), "fragments": [f.to_json() for f in fragments]}


@router.get("/{record_id}/proof")
def get_proof(record_id: RecordId, service: ServiceDep, member: MemberDep, content: bool = True) -> dict[str, Any]:
    """A self-contained proof bundle, verifiable against any node of the chain; with the attachments' content
    (base64) unless `content=false` (then a verifier fetches it by CID)."""
    row = readable(service, member, record_id)
    if row.anchor is None:
        raise Problem(409, "NOT_ANCHORED", "The record is not anchored yet", f"status {row.status}")
    return service.proof_bundle(record_id, with_content=content)


@router.post("/{record_id}/revoke")
def revoke_record(record_id: RecordId, body: RevokeIn, service: ServiceDep, member: ActiveMemberDep) -> dict[str, Any]:
    """Revoke a record: its owner, or a regulator or auditor."""
    row = readable(service, member, record_id)
    rules.check_revoke(member.id, member.roles, row.lab_member)
    if row.anchor is None:
        raise Problem(409, "NOT_ANCHORED", "The record is not anchored yet", f"status {row.status}")
    service.revoke(record_id, member=member.id, reason=body.reason)
    return {"record_id": record_id, "status": "revoked"}


@router.post("/{record_id}/supersede")
def supersede_record(
    record_id: RecordId, body: SupersedeIn, service: ServiceDep, member: ActiveMemberDep
) -> dict[str, Any]:
    """Supersede a record by an amended one of the same owner (ISO/IEC 17025 7.8.8)."""
    row = readable(service, member, record_id)
    rules.check_supersede(member.id, row.lab_member)
    rules.check_supersede(member.id, readable(service, member, body.replacement_id).lab_member)
    service.supersede(record_id, body.replacement_id, member=member.id, reason=body.reason)
    return {"record_id": record_id, "status": "superseded", "superseded_by": body.replacement_id}
