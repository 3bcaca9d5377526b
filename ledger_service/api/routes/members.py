"""Members of the consortium, as the registry says."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ledger_service import directory
from ledger_service.api.deps import MemberDep, ServiceDep

router = APIRouter(prefix="/v1/members", tags=["members"])
MemberId = Annotated[str, Path(min_length=1, max_length=80)]


@router.get("")
def list_members(member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """Every member: chain account, roles, standing, strikes and accreditation."""
    data = directory.members(service)
    return {"data": data, "count": len(data)}


@router.get("/me")
def whoami(member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """The authenticated member."""
    return directory.member(service, member.id)


@router.get("/{member_id}")
def get_member(member_id: MemberId, member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """One member."""
    return directory.member(service, member_id)
