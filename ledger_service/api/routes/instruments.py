"""Instruments and their calibrations: read by anyone authenticated, registered by their owner (the contracts
check ownership, standing and that a calibration certificate is anchored and in force)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from ledger_service import directory
from ledger_service.api.deps import ActiveMemberDep, MemberDep, ServiceDep

router = APIRouter(prefix="/v1/instruments", tags=["instruments"])
InstrumentId = Annotated[str, Path(min_length=1, max_length=120)]


class InstrumentIn(BaseModel):
    instrument_id: str = Field(min_length=1, max_length=120)
    model: str = Field(min_length=1, max_length=2000, description="master data: maker, model, serial, firmware")


class CalibrationIn(BaseModel):
    certificate_record_id: str = Field(pattern=r"^[0-9a-f]{64}$")


@router.get("")
def list_instruments(
    member: MemberDep,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    """Instruments with their calibration certificates and whether each is in force now."""
    data = directory.instruments(service, limit, offset)
    return {"data": data, "count": len(data)}


@router.get("/{instrument_id}")
def get_instrument(instrument_id: InstrumentId, member: MemberDep, service: ServiceDep) -> dict[str, Any]:
    """An instrument: owner and model digest on chain, its calibrations on chain and in the index."""
    return directory.instrument(service, instrument_id)


@router.post("", status_code=201)
def register_instrument(body: InstrumentIn, member: ActiveMemberDep, service: ServiceDep) -> dict[str, Any]:
    """Register an instrument owned by the caller."""
    service.register_instrument(member=member.id, instrument_id=body.instrument_id, model=body.model)
    return directory.instrument(service, body.instrument_id)


@router.post("/{instrument_id}/calibrations", status_code=201)
def register_calibration(
    instrument_id: InstrumentId, body: CalibrationIn, member: ActiveMemberDep, service: ServiceDep
) -> dict[str, Any]:
    """Register the calibration an anchored calibration certificate grants the caller's instrument."""
    service.register_calibration(
        member=member.id, certificate_record_id=body.certificate_record_id, instrument_id=instrument_id
    )
    return directory.instrument(service, instrument_id)
