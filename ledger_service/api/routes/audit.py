"""The audit trail for auditors and regulators: its entries with their hash chain, and the trail checked
whole (21 CFR 11.10(e))."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from ledger_service.api.deps import ServiceDep, require_regulator_or_auditor
from ledger_service.index.models import AuditRow

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(require_regulator_or_auditor)])


@router.get("")
def list_entries(
    service: ServiceDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="entries after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Audit entries in chain order, each with its SM3 and its predecessor's."""
    with service.sessions() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.id > after).order_by(AuditRow.id).limit(limit))
        data = [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                **{k: getattr(r, k) for k in ("actor", "action", "record_id", "field", "old_value", "new_value")},
                "reason": r.reason,
                "prev_sm3": r.prev_sm3,
                "entry_sm3": r.entry_sm3,
            }
            for r in rows
        ]
    return {"data": data, "count": len(data)}


@router.get("/verification")
async def verify_trail(service: ServiceDep) -> dict[str, Any]:
    """The whole trail checked: every entry's SM3 and link, the head, the anchored heads, the triggers."""
    verdict = await run_in_threadpool(service.verify_audit_trail)
    return {
        "intact": verdict.intact,
        "entries": verdict.entries,
        "head": {"id": verdict.head_id, "sm3": verdict.head_sm3},
        "anchored_up_to": verdict.anchored_id,
        "findings": [{"entry_id": f.entry_id, "code": f.code, "message": f.message} for f in verdict.findings],
    }
