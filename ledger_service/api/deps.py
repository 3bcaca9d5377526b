"""What route handlers get injected: the service, the authenticated member, role guards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger_service.api.problems import Problem
from ledger_service.chain.types import Role
from ledger_service.digests import sm3
from ledger_service.index import crud
from ledger_service.service import LedgerService

_bearer = HTTPBearer(auto_error=False)
K = TypeVar("K")
V = TypeVar("V")
STANDING_TTL_S = 5.0  # the contracts check standing again on every anchor; the API may lag it by seconds


@dataclass(frozen=True)
class Member:
    """The caller, as its API key and the consortium registry say."""

    id: str
    account: str
    roles: int
    active: bool


async def get_service(request: Request) -> LedgerService:
    service: LedgerService = request.app.state.service
    return service


ServiceDep = Annotated[LedgerService, Depends(get_service)]


class RefreshingCache(Generic[K, V]):
    """Values looked up off the event loop (a slow or dead node never stalls other requests) and kept for
    `ttl_s`. One lookup per key at a time, however many requests miss together; a value past `refresh_at` of
    its life is refreshed in the background while still served, so that steady traffic never waits."""

    def __init__(self, ttl_s: float, refresh_at: float = 0.6, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.refresh_after_s = ttl_s * refresh_at
        self.max_entries = max_entries  # anyone can send unknown keys: the cache must not grow with them
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._values)

    def forget(self, which: Callable[[K], bool]) -> None:
        """Drop the values whose keys `which` selects (a revoked key, say), so the next request looks again."""
        for key in [k for k in self._values if which(k)]:
            del self._values[key]

    async def get(self, key: K, lookup: Callable[[], V]) -> V:
        hit = self._values.get(key)
        age = time.monotonic() - hit[0] if hit is not None else None
        if hit is not None and age is not None and age <= self.ttl_s:
            if age > self.refresh_after_s and key not in self._loading:
                self._load(key, lookup).add_done_callback(_ignore_failure)  # the next miss will raise it
            return hit[1]
        return await asyncio.shield(self._loading.get(key) or self._load(key, lookup))

    def _load(self, key: K, lookup: Callable[[], V]) -> asyncio.Future[V]:
        async def load() -> V:
            started = time.monotonic()  # the value is as old as the question, not the answer
            try:
                value = await run_in_threadpool(lookup)
                self._values.pop(key, None)
                while len(self._values) >= self.max_entries:  # the oldest entry goes first
                    del self._values[next(iter(self._values))]
                self._values[key] = (started, value)
                return value
            finally:
                self._loading.pop(key, None)

        future = self._loading[key] = asyncio.ensure_future(load())
        return future


def _ignore_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def get_member(
    request: Request, service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Member:
    if credentials is None:
        raise Problem(401, "UNAUTHENTICATED", "An API key is required", "send Authorization: Bearer <key>")
    key = credentials.credentials
    members: RefreshingCache[str, Member | None] = request.app.state.member_cache
    member = await members.get(sm3(key.encode()).hex(), lambda: _lookup_member(service, key))
    if member is None:
        raise Problem(401, "UNAUTHENTICATED", "Unknown or revoked API key")
    request.state.member = member.id  # for the audit entry of this access
    return member


def _lookup_member(service: LedgerService, key: str) -> Member | None:
    """The key's member with its standing from the registry (None for a key that is not valid). Cached for
    STANDING_TTL_S: a revoked key or a changed standing takes effect within that time."""
    with service.sessions() as session:
        row = crud.member_of_key(session=session, key=key)
        found = None if row is None else (row.member, row.account)
    if found is None:
        return None
    m = service.chain._call(service.chain.registry.functions.memberOf(found[1]))
    return Member(found[0], found[1], roles=int(m[0]), active=m[1] == 1)


async def is_accredited(request: Request, service: LedgerService, account: str, record_type: int) -> bool:
    """The registry's isAccredited, cached like the standing."""
    cache: RefreshingCache[tuple[str, int], bool] = request.app.state.accreditation_cache
    registry = service.chain.registry.functions
    return await cache.get(
        (account, record_type), lambda: bool(service.chain._call(registry.isAccredited(account, record_type)))
    )


MemberDep = Annotated[Member, Depends(get_member)]


async def require_active(member: MemberDep) -> Member:
    if not member.active:
        raise Problem(403, "MEMBER_NOT_ACTIVE", "The member is not active in the consortium", member.id)
    return member


ActiveMemberDep = Annotated[Member, Depends(require_active)]


async def require_regulator_or_auditor(member: ActiveMemberDep) -> Member:
    if not member.roles & (Role.REGULATOR | Role.AUDITOR):
        raise Problem(403, "FORBIDDEN", "Only a regulator or an auditor may do this", member.id)
    return member


async def require_regulator(member: ActiveMemberDep) -> Member:
    if not member.roles & Role.REGULATOR:
        raise Problem(403, "FORBIDDEN", "Only a regulator may do this", member.id)
    return member


RegulatorDep = Annotated[Member, Depends(require_regulator)]
