"""The human-review queue of AI decisions: list what waits for a person; confirm or override with a reason,
which becomes a `human_review` record linked to the decision (the reviewer's lab is the caller), signed by the
reviewer with their enrolled key (docs/formats.md section 2.1): an override of an AI decision carries the
electronic signature of the person who made it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from inference_bridge import pipeline
from ledger_service import signatures
from ledger_service.api.deps import ActiveMemberDep, MemberDep, ServiceDep
from ledger_service.api.problems import Problem
from ledger_service.api.routes.records import RecordId, readable
from ledger_service.station import Profile, Station

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])


class ReviewIn(BaseModel):
    verdict: Literal["confirm", "override"]
    decision: Literal["pass", "fail"]
    reason: str = Field(min_length=1, max_length=1000)
    reviewer: str | None = Field(
        default=None, min_length=1, max_length=120, description="who decides (default: the station's reviewer)"
    )


@router.get("")
def list_reviews(
    member: MemberDep, service: ServiceDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    """The caller's own AI decisions waiting for a person, oldest first."""
    data = pipeline.pending_reviews(service, limit, lab=member.id)
    return {"data": data, "count": len(data)}


@router.post("/{record_id}", status_code=201)
async def review_decision(
    record_id: RecordId,
    body: ReviewIn,
    request: Request,
    member: ActiveMemberDep,
    service: ServiceDep,
) -> dict[str, Any]:
    """Confirm or override an AI decision of the caller's own lab."""
    owner = readable(service, member, record_id).lab_member  # 404 for what the caller may not see
    if owner != member.id:
        raise Problem(403, "FORBIDDEN", "A lab reviews its own AI decisions only", record_id)
    profile: Profile | None = request.app.state.profile
    setup = profile.stations[member.id].inspection if profile and member.id in profile.stations else None
    if profile is None or setup is None:
        raise Problem(503, "STATION_UNAVAILABLE", f"No inspection station of {member.id} is configured")
    station = Station(profile.station(member.id)).load_calibrations(service, request.app.state.certificates or {})
    if setup.instrument not in station.certificates:
        raise Problem(503, "STATION_UNAVAILABLE", f"The inspection camera {setup.instrument} has no calibration")
    reviewer = body.reviewer or setup.reviewer
    keys = request.app.state.keys
    if keys is None or not keys.holds_signer(member.id, reviewer):
        raise Problem(
            409, "SIGNER_NOT_ENROLLED", f"{reviewer} of {member.id} holds no enrolled signing key on this service",
            errors=[{"field": "reviewer", "code": "SIGNER_NOT_ENROLLED", "message": "enrol the reviewer first"}],
        )  # fmt: skip
    review_id = await run_in_threadpool(
        pipeline.review,
        service,
        record_id,
        verdict=body.verdict,
        decision=body.decision,
        reason=body.reason,
        envelope=lambda *a: {**station.inspection_envelope(*a), "operator": {"id": reviewer}},
        actor=member.id,
        sign=lambda raw: signatures.sign_with(keys, raw, [(reviewer, "performed")]),
    )
    return {"record_id": record_id, "review_record_id": review_id, "verdict": body.verdict}
