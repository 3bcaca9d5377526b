"""What the verification service says of a certificate, for anyone (docs/formats.md section 9.1): the certified
record's state now (valid, revoked, superseded, suspended by a recall in force, with the recall's notice), the
issuer's DID document, and its Bitstring Status List credentials, each built from the chain (the index only
says which records a member certified at which index) and the list's digest anchored by the issuer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from esg_reports import certificates, vc
from ledger_service import confidential, merkle
from ledger_service.canonical import canonical_json
from ledger_service.chain.types import OnChainStatus
from ledger_service.chain.web3_client import ChainReader
from ledger_service.digests import sm3
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.index import crud
from ledger_service.index.models import AuditRow, RecallScopeRow
from ledger_service.keys import KeyStore
from ledger_service.service import LedgerService

STATUS_LIST_KIND = "status-list"  # tier C schema SM3("schema:status-list/1")
IN_FORCE = 2  # a recall confirmed and not closed (RecallRegistry)


@dataclass(frozen=True)
class Recall:
    recall_id: int
    regulator: str
    opened_at: int
    notice: str | None  # the regulator's reason as the audit trail holds it (the chain holds its SM3)


def recalls_in_force(service: LedgerService, record: dict[str, Any], record_id: str) -> list[Recall]:
    """The recalls in force on chain whose scope covers the record: its lot, its product, or a list naming it."""
    subject = record.get("subject", {})
    lot = confidential.scope_digest(confidential.LOT, subject["lot"]) if subject.get("lot") else None
    product = confidential.scope_digest(confidential.PRODUCT, subject["product"]) if subject.get("product") else None
    members = {a.lower(): m for m, a in service.accounts.items()}
    out = []
    for recall_id in range(service.chain.recall_count(), 0, -1):
        view = service.chain.recall_of(recall_id)
        if view.status != IN_FORCE:
            continue
        if view.scope_kind == confidential.LOT:
            covered = lot == view.scope
        elif view.scope_kind == confidential.PRODUCT:
            covered = product == view.scope
        else:
            with service.sessions() as session:
                listed = session.get(RecallScopeRow, view.scope.hex())
                ids = list(listed.record_ids) if listed else []
            covered = record_id in ids and merkle.root([bytes.fromhex(i) for i in ids]) == view.scope
        if covered:
            out.append(Recall(recall_id, members.get(view.regulator.lower(), view.regulator), view.opened_at,
                              _notice(service, recall_id, view.reason)))  # fmt: skip
    return out


def _notice(service: LedgerService, recall_id: int, reason_sm3: bytes) -> str | None:
    """The recall's reason text from the audit trail, only if it is the one whose SM3 the chain holds."""
    from sqlalchemy import select

    with service.sessions() as session:
        rows = session.scalars(
            select(AuditRow).where(AuditRow.action == "recall_open", AuditRow.new_value == str(recall_id))
        )
        for row in rows:
            if row.reason is not None and sm3(row.reason.encode()) == reason_sm3:
                return str(row.reason)
    return None


def state(service: LedgerService, record_id: str) -> dict[str, Any]:
    """The certified record's state for the page at the QR code and its JSON: what it is (item, lot, lab and
    its accreditation, verdict), where it is anchored, and whether to trust it now: `state` is `valid`,
    `revoked`, `superseded` (with its replacement), `suspended` (a recall in force covers it, with the
    notice) or `not_valid` (in force, but a check of the record fails: `failed_checks`). Unknown,
    unanchored and confidential records are not found."""
    public = certificates.public_status(service, record_id)
    with service.sessions() as session:
        row = crud.get_record(session=session, record_id=record_id)
        assert row is not None
        record = json.loads(crud.canonical(session=session, row=row))
        lab_member = row.lab_member
    chain_status = public["status"]
    recalls = recalls_in_force(service, record, record_id) if chain_status == "anchored" else []
    superseded_by = None
    if chain_status == OnChainStatus.SUPERSEDED.name.lower():
        superseded_by = service.chain.superseded_by(bytes.fromhex(record_id), service.submitter_of(record_id)).hex()
    verdict = "suspended" if recalls else {"anchored": "valid"}.get(chain_status, chain_status)
    failed = _failed_checks(service, record_id) if verdict == "valid" else []
    if failed:
        verdict = "not_valid"
    from ledger_service import directory

    entry = directory.member(service, lab_member)
    subject = record.get("subject", {})
    return {
        **public,
        "state": verdict,
        "superseded_by": superseded_by,
        "failed_checks": failed,
        "recalls": [
            {"recall_id": r.recall_id, "regulator": r.regulator, "opened_at": _iso(r.opened_at), "notice": r.notice}
            for r in recalls
        ],
        "certified": {
            "title": record.get("title"),
            "report_id": record.get("report_id"),
            "record_type": record.get("record_type"),
            "item": subject.get("description"),
            "unambiguous_id": subject.get("unambiguous_id"),
            "product": subject.get("product"),
            "lot": subject.get("lot"),
            "measured_at": record.get("measured_at"),
            "date_issued": record.get("date_issued"),
            "method": record.get("method"),
            "conformity": certificates.overall_verdict(record),
        },
        "lab": {
            "member_id": lab_member,
            "name": record.get("lab", {}).get("name"),
            "address": record.get("lab", {}).get("address"),
            "accreditation": entry.get("accreditation"),
        },
    }


def _failed_checks(service: LedgerService, record_id: str) -> list[dict[str, Any]]:
    """The record checks that fail for a record in force on chain (its calibration withdrawn since, its
    signatures, its anchor): a page that read only the record's own status said "valid" for a record that
    verifies INVALID (docs/threat-model.md). Checks that cannot tell (a node down) do not turn the page."""
    from ledger_service.verification import Status

    fragments = service.verify(record_id)
    return [{"check": f.name, "code": (f.reason or {}).get("code")} for f in fragments if f.status is Status.INVALID]


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def did_document(service: LedgerService, keys: KeyStore, member: str, base_url: str) -> dict[str, Any]:
    """The DID document of a member that certifies through this service (did:web, resolved at
    `<base>/members/<member>/did.json`), with its keys' binding to the member's registry account."""
    if member not in service.accounts or vc.member_of_did(vc.did_web(base_url, member)) != member:
        raise UnknownEntry(f"no issuer {member!r} here")
    bound = certificates.issuer_binding(service, keys, member, base_url)
    return vc.did_document(str(bound["did"]), bound)


def status_list(service: LedgerService, keys: KeyStore, member: str, purpose: str, base_url: str) -> dict[str, Any]:
    """The member's BitstringStatusListCredential for `purpose` (revocation: the record revoked or superseded
    on chain; suspension: a recall in force covers it), signed like its certificates, its list's digest
    anchored by the member (once per distinct list)."""
    if purpose not in vc.PURPOSES:
        raise UnknownEntry(f"no status list {purpose!r}: revocation or suspension")
    if member not in service.accounts:
        raise UnknownEntry(f"no issuer {member!r} here")
    Anchor = tuple[bytes | None, list[bytes]]
    with service.sessions() as session:
        entries = crud.status_entries(session=session, member=member)
        records: dict[str, tuple[Anchor | None, dict[str, Any]]] = {}
        for _, record_id in entries:
            row = crud.get_record(session=session, record_id=record_id)
            if row is not None:
                a = row.anchor
                anchor = (
                    None
                    if a is None
                    else (bytes.fromhex(a.root) if a.root else None, [bytes.fromhex(x) for x in a.proof])
                )
                records[record_id] = (anchor, json.loads(crud.canonical(session=session, row=row)))
    reader = ChainReader(service.chain)
    account = service.account_of(member)
    reader.prefetch_statuses(
        [(bytes.fromhex(r), a[0], a[1], account) for r, (a, _) in records.items() if a is not None]
    )
    set_bits = []
    for index, record_id in entries:
        if record_id not in records:
            continue
        anchor, record = records[record_id]
        status = OnChainStatus.NONE
        if anchor is not None:
            status = reader.status(bytes.fromhex(record_id), anchor[0], anchor[1], account)
        if purpose == "revocation" and status in (OnChainStatus.REVOKED, OnChainStatus.SUPERSEDED):
            set_bits.append(index)
        elif purpose == "suspension" and status is OnChainStatus.ANCHORED:
            if recalls_in_force(service, record, record_id):
                set_bits.append(index)
    did = vc.did_web(base_url, member)
    moment = datetime.now(UTC).replace(microsecond=0)
    now = moment.isoformat().replace("+00:00", "Z")
    until = (moment + timedelta(seconds=vc.STATUS_LIST_TTL_S)).isoformat().replace("+00:00", "Z")
    unsigned = vc.status_list_credential(base_url, member, did, purpose, set_bits, now, until)
    digest = list_digest(unsigned)
    if not service.root_anchored(merkle.root([digest]), member):
        try:
            service.anchor_digests(member=member, digests=[digest], kind=STATUS_LIST_KIND)
        except LedgerError:
            if not service.root_anchored(merkle.root([digest]), member):  # another request anchored it first
                raise
    return vc.sign(unsigned, certificates.issuer_keys(keys, member), did, now)


def list_digest(credential: dict[str, Any]) -> bytes:
    """SM3 of the list a status list credential states (its subject): what the issuer anchors."""
    return sm3(canonical_json(credential["credentialSubject"]))
