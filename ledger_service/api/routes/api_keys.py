"""A member's own API keys: list them by id and revoke one (a leaked key is stopped by its owner at once).
Another member's key is as unknown as a key that never existed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from ledger_service.api.deps import MemberDep, RefreshingCache, ServiceDep

router = APIRouter(prefix="/v1/keys", tags=["keys"])
KeyId = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[0-9a-f]+$")]


@router.get("")
def list_keys(member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """The caller's API keys: id, when issued, whether and when revoked (never the keys themselves)."""
    data = [key.to_json() for key in service.api_keys(member.id)]
    return {"data": data, "count": len(data)}


@router.post("/{key_id}/revoke")
async def revoke_key(key_id: KeyId, request: Request, member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """Revoke one of the caller's API keys; it is refused from the next request on."""
    key = await run_in_threadpool(service.revoke_api_key, key_id, member=member.id, actor=member.id)
    cache: RefreshingCache[str, Any] = request.app.state.member_cache
    cache.forget(lambda key_sm3: key_sm3.startswith(key.key_id))
    return key.to_json()
