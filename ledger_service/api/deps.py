"""What route handlers get injected: the service, the authenticated member, role guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger_service.api.problems import Problem
from ledger_service.chain.types import Role
from ledger_service.index import crud
from ledger_service.service import LedgerService

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Member:
    """The caller, as its API key and the consortium registry say."""

    id: str
    account: str
    roles: int
    active: bool


def get_service(request: Request) -> LedgerService:
    service: LedgerService = request.app.state.service
    return service


ServiceDep = Annotated[LedgerService, Depends(get_service)]


def get_member(
    request: Request, service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Member:
    if credentials is None:
        raise Problem(401, "UNAUTHENTICATED", "An API key is required", "send Authorization: Bearer <key>")
    with service.sessions() as session:
        row = crud.member_of_key(session=session, key=credentials.credentials)
        if row is None:
            raise Problem(401, "UNAUTHENTICATED", "Unknown or revoked API key")
        member_id, account = row.member, row.account
    request.state.member = member_id  # for the audit entry of this access
    standing = service.chain.registry.functions.memberOf(account).call()
    return Member(member_id, account, roles=standing[0], active=standing[1] == 1)


MemberDep = Annotated[Member, Depends(get_member)]


def require_active(member: MemberDep) -> Member:
    if not member.active:
        raise Problem(403, "MEMBER_NOT_ACTIVE", "The member is not active in the consortium", member.id)
    return member


ActiveMemberDep = Annotated[Member, Depends(require_active)]


def require_regulator_or_auditor(member: ActiveMemberDep) -> Member:
    if not member.roles & (Role.REGULATOR | Role.AUDITOR):
        raise Problem(403, "FORBIDDEN", "Only a regulator or an auditor may do this", member.id)
    return member
