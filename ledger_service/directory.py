"""The consortium's directory as members' systems read it: members with their roles, standing and
accreditation (from the registry), instruments with their calibrations (the index's certificates joined with the
chain's registrations). Read-only views; registering goes through LedgerService."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ledger_service.chain.types import Role
from ledger_service.errors import UnknownEntry
from ledger_service.ids import instrument_key
from ledger_service.index.crud import as_utc
from ledger_service.index.models import CertificateRow, RecordRow
from ledger_service.service import LedgerService

STATUS = {0: "none", 1: "active", 2: "suspended"}


def _text32(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def _time(unix: int) -> str | None:
    return datetime.fromtimestamp(unix, UTC).isoformat() if unix else None


def member(service: LedgerService, member_id: str) -> dict[str, Any]:
    """A member: chain account, roles, standing, strikes and accreditation."""
    account = service.accounts.get(member_id)
    if account is None:
        raise UnknownEntry(f"no member {member_id!r}")
    registry = service.chain.registry.functions
    m = service.chain._call(registry.memberOf(account))
    a = service.chain._call(registry.accreditationOf(account))
    return {
        "member_id": member_id,
        "account": account,
        "roles": [r.name.lower() for r in Role if int(m[0]) & r],
        "status": STATUS.get(int(m[1]), "unknown"),
        "strikes": int(m[2]),
        "accreditation": None
        if not a[4]
        else {
            "body": _text32(a[0]),
            "number": _text32(a[1]),
            "scope_sm3": bytes(a[2]).hex(),
            "record_type_scope": int(a[3]),
            "valid_until": _time(int(a[4])),
        },
    }


def members(service: LedgerService) -> list[dict[str, Any]]:
    """Every member of the deployment, in id order."""
    return [member(service, member_id) for member_id in sorted(service.accounts)]


def _calibrations(service: LedgerService, rows: list[tuple[CertificateRow, str | None]]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for cert, status in rows:
        start, end = as_utc(cert.valid_from), as_utc(cert.valid_until)
        in_force = (cert.external or status == "anchored") and start <= now <= end
        out.append(
            {
                "certificate_id": cert.record_id,
                "external": cert.external,
                "valid_from": start.isoformat(),
                "valid_until": end.isoformat(),
                "certificate_status": "external" if cert.external else status,
                "in_force_now": in_force,
            }
        )
    return out


def _certificates(session: Session, where: ColumnElement[bool]) -> list[tuple[CertificateRow, str | None]]:
    """Certificate rows with the status of their record (None for external roots), oldest window first."""
    rows = session.execute(
        select(CertificateRow, RecordRow.status)
        .outerjoin(RecordRow, RecordRow.id == CertificateRow.record_id)
        .where(where)
        .order_by(CertificateRow.valid_from)
    ).all()
    return [(c, s) for c, s in rows]


def instruments(service: LedgerService, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Instruments the index knows calibrations of, in id order, each with its calibrations."""
    with service.sessions() as session:
        ids = list(
            session.scalars(
                select(CertificateRow.instrument_id)
                .distinct()
                .order_by(CertificateRow.instrument_id)
                .limit(limit)
                .offset(offset)
            )
        )
        rows = _certificates(session, CertificateRow.instrument_id.in_(ids))
    by_instrument: dict[str, list[tuple[CertificateRow, str | None]]] = defaultdict(list)
    for cert, status in rows:
        by_instrument[cert.instrument_id].append((cert, status))
    return [{"instrument_id": i, "calibrations": _calibrations(service, by_instrument[i])} for i in ids]


def instrument(service: LedgerService, instrument_id: str) -> dict[str, Any]:
    """An instrument as the chain registers it (owner, model digest, every calibration with its withdrawal),
    next to the index's certificates."""
    key = instrument_key(instrument_id)
    ledger = service.chain.ledger.functions
    # Instruments are keyed by owner on chain: this is the one a member known to this service registered.
    account = service.instrument_owner(instrument_id) or "0x" + "00" * 20
    owner, registered_at, model = service.chain._call(ledger.instrumentOf(account, key))
    history = service.chain._call(ledger.calibrationHistory(account, key))
    with service.sessions() as session:
        rows = _certificates(session, CertificateRow.instrument_id == instrument_id)
    if not registered_at and not rows:
        raise UnknownEntry(f"no instrument {instrument_id!r}")
    on_chain = []
    for certificate_id in history:
        c = service.chain._call(ledger.calibrationOf(account, key, certificate_id))
        on_chain.append(
            {
                "certificate_id": bytes(certificate_id).hex(),
                "valid_from": _time(int(c[0])),
                "valid_until": _time(int(c[1])),
                "registered_at": _time(int(c[2])),
                "withdrawn": bool(c[3]),
                "external": bool(c[4]),
            }
        )
    owner_id = next((m for m, a in service.accounts.items() if a.lower() == str(owner).lower()), None)
    return {
        "instrument_id": instrument_id,
        "registered": bool(registered_at),
        "owner": owner_id,
        "owner_account": owner if registered_at else None,
        "model_sm3": bytes(model).hex() if registered_at else None,
        "registered_at": _time(int(registered_at)),
        "calibrations_on_chain": on_chain,
        "certificates": _calibrations(service, rows),
    }
