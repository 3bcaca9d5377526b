"""A lab's dead letters: its records the contracts refused to anchor (standing changed, accreditation expired,
calibration withdrawn), with the refusal; retried once what refused them is mended."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ledger_service.api.deps import ActiveMemberDep, MemberDep, ServiceDep

router = APIRouter(prefix="/v1/dead-letters", tags=["records"])


class RetryIn(BaseModel):
    record_ids: list[str] | None = Field(default=None, max_length=10_000, description="none: every one")


@router.get("")
def list_dead_letters(member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """The caller's records that the contracts refused to anchor, with the refusal."""
    data = service.dead_letters(member.id)
    return {"data": data, "count": len(data)}


@router.post("/retry")
async def retry_dead_letters(
    body: RetryIn, request: Request, member: ActiveMemberDep, service: ServiceDep
) -> dict[str, Any]:
    """Put the caller's dead letters (or those named) back in the anchoring queue."""
    back = await run_in_threadpool(service.retry_dead_letters, body.record_ids, lab=member.id, actor=member.id)
    request.app.state.worker.wake()
    return {"retried": back}
