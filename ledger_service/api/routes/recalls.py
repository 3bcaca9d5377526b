"""Recalls over the API: a regulator opens one, members approve it (member-quorum policy), anyone authenticated
follows it, and its regulator unlocks the confidential records it covers (with the regulator's SM2 key held in
this service's data directory)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field, model_validator

from consortium import recall
from ledger_service.api.deps import ActiveMemberDep, MemberDep, RegulatorDep, ServiceDep
from ledger_service.api.problems import Problem

router = APIRouter(prefix="/v1/recalls", tags=["recalls"])
RecallId = Annotated[int, Path(ge=1, le=2**63)]


class RecallIn(BaseModel):
    scope_kind: Literal["lot", "product", "records"]
    lot: str | None = Field(default=None, min_length=1, max_length=120)
    product: str | None = Field(default=None, min_length=1, max_length=120)
    record_ids: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] | None = Field(default=None, max_length=100_000)
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _scope_given(self) -> RecallIn:
        given = {"lot": self.lot, "product": self.product, "records": self.record_ids}[self.scope_kind]
        if not given:
            raise ValueError(f"scope_kind {self.scope_kind} needs its value")
        return self


@router.post("", status_code=201)
def open_recall(body: RecallIn, member: RegulatorDep, service: ServiceDep) -> dict[str, Any]:
    """Open a recall (regulators only; the contract checks the role again)."""
    scope = {"lot": body.lot, "product": body.product, "records": body.record_ids}[body.scope_kind]
    assert scope is not None
    recall_id = recall.open_recall(service, regulator=member.id, kind=body.scope_kind, scope=scope, reason=body.reason)
    return recall.recall_status(service, recall_id)


@router.get("/{recall_id}")
def get_recall(recall_id: RecallId, member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """A recall: status, scope, approvals, and every key-share release posted for it."""
    return recall.recall_status(service, recall_id)


@router.post("/{recall_id}/approve")
def approve_recall(recall_id: RecallId, member: ActiveMemberDep, service: ServiceDep) -> dict[str, Any]:
    """Approve a proposed recall (member-quorum policy)."""
    recall.approve_recall(service, member=member.id, recall_id=recall_id)
    return recall.recall_status(service, recall_id)


@router.post("/{recall_id}/decrypt")
def decrypt_recall(recall_id: RecallId, request: Request, member: RegulatorDep, service: ServiceDep) -> dict[str, Any]:
    """Unlock the recall as its regulator: the records that k releases open, decrypted and verified."""
    keys = request.app.state.keys
    if keys is None:
        raise Problem(503, "KEYS_UNAVAILABLE", "This service holds no regulator keys")
    unlock = recall.decrypt_recall(service, recall_id=recall_id, regulator=member.id, key=keys.sm2(member.id))
    return {
        "recall_id": recall_id,
        "releases": unlock.releases,
        "decrypted": sorted(unlock.decrypted),
        "verified": sorted(unlock.verified),
        "refused": unlock.refused,
    }


class CloseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/{recall_id}/close")
def close_recall(recall_id: RecallId, body: CloseIn, member: RegulatorDep, service: ServiceDep) -> dict[str, Any]:
    """Close a recall as its regulator: no release is accepted after this, and its access to records ends."""
    recall.close_recall(service, regulator=member.id, recall_id=recall_id, reason=body.reason)
    return recall.recall_status(service, recall_id)
