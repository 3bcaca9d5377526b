"""What route handlers get injected: the service, the authenticated member, role guards."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger_service.api.problems import Problem
from ledger_service.chain.types import Role
from ledger_service.index import crud
from ledger_service.service import LedgerService

_bearer = HTTPBearer(auto_error=False)
STANDING_TTL_S = 5.0  # the contracts check standing again on every anchor; the API may lag it by seconds


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
    roles, active = _standing(request, service, account)
    return Member(member_id, account, roles=roles, active=active)


def _standing(request: Request, service: LedgerService, account: str) -> tuple[int, bool]:
    """(roles, active) from the registry, cached per account for STANDING_TTL_S."""
    cache: dict[str, tuple[float, tuple[int, bool]]] = request.app.state.standing_cache
    now = time.monotonic()
    hit = cache.get(account)
    if hit is None or now - hit[0] > STANDING_TTL_S:
        m = service.chain._call(service.chain.registry.functions.memberOf(account))
        hit = (now, (int(m[0]), m[1] == 1))
        cache[account] = hit
    return hit[1]


def is_accredited(request: Request, service: LedgerService, account: str, record_type: int) -> bool:
    """The registry's isAccredited, cached like the standing."""
    cache: dict[tuple[str, int], tuple[float, bool]] = request.app.state.accreditation_cache
    now = time.monotonic()
    hit = cache.get((account, record_type))
    if hit is None or now - hit[0] > STANDING_TTL_S:
        hit = (now, bool(service.chain._call(service.chain.registry.functions.isAccredited(account, record_type))))
        cache[(account, record_type)] = hit
    return hit[1]


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
