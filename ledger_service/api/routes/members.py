"""Members of the consortium, as the registry says."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ledger_service.api.deps import MemberDep, ServiceDep

router = APIRouter(prefix="/v1/members", tags=["members"])


@router.get("/me")
def whoami(member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """The authenticated member: id, chain account, roles and standing."""
    accreditation = service.chain._call(service.chain.registry.functions.accreditationOf(member.account))
    return {
        "member_id": member.id,
        "account": member.account,
        "roles": member.roles,
        "active": member.active,
        "accreditation": {"record_type_scope": accreditation[3], "valid_until": accreditation[4]},
    }
