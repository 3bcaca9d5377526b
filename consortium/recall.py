"""Recalls as regulators and members run them: open (over a lot, a product or a list of records), approve
(under the member-quorum policy), close, follow, and unlock: collect the escrow agents' releases from the chain,
rebuild each covered record's data key from k shares, decrypt, and verify every record against its anchor."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_service import confidential, merkle
from ledger_service.chain.web3_client import ChainReader
from ledger_service.crypto import sm2, sm4
from ledger_service.digests import digest_bytes, sm3
from ledger_service.errors import LedgerError, UnknownEntry
from ledger_service.index import crud
from ledger_service.index.models import RecallScopeRow
from ledger_service.service import LedgerService
from ledger_service.verification import is_valid

STATUS = {0: "none", 1: "proposed", 2: "confirmed", 3: "closed"}
IN_FORCE = 2  # confirmed and not closed
KIND = {v: k for k, v in confidential.SCOPE_KINDS.items()}


def open_recall(service: LedgerService, *, regulator: str, kind: str, scope: str | Sequence[str], reason: str) -> int:
    """Open a recall as `regulator` over a lot, a product, or a list of record ids; returns its id."""
    if kind not in confidential.SCOPE_KINDS:
        raise LedgerError(f"a recall scope is lot, product or records, not {kind!r}")
    code = confidential.SCOPE_KINDS[kind]
    if code == confidential.RECORDS:
        ids = sorted(set([scope] if isinstance(scope, str) else scope))
        if not ids:
            raise LedgerError("a recall over records names at least one record")
        digest = merkle.root([bytes.fromhex(i) for i in ids])
        with service.sessions.begin() as session:
            if session.get(RecallScopeRow, digest.hex()) is None:
                session.add(RecallScopeRow(root=digest.hex(), record_ids=ids))
    else:
        if not isinstance(scope, str):
            raise LedgerError(f"a {kind} recall names one {kind}")
        digest = confidential.scope_digest(code, scope)
    recall_id, _ = service.chain.open_recall(service.account_of(regulator), code, digest, sm3(reason.encode()))
    with service.sessions.begin() as session:
        crud.audit(
            session=session,
            actor=regulator,
            action="recall_open",
            field=kind,
            old_value=json.dumps(scope if isinstance(scope, str) else sorted(set(scope))),  # what it covers
            new_value=str(recall_id),
            reason=reason,
        )
    return recall_id


def approve_recall(service: LedgerService, *, member: str, recall_id: int) -> None:
    service.chain.approve_recall(service.account_of(member), recall_id)
    with service.sessions.begin() as session:
        crud.audit(session=session, actor=member, action="recall_approve", new_value=str(recall_id))


def close_recall(service: LedgerService, *, regulator: str, recall_id: int, reason: str) -> None:
    service.chain.close_recall(service.account_of(regulator), recall_id, sm3(reason.encode()))
    with service.sessions.begin() as session:
        crud.audit(session=session, actor=regulator, action="recall_close", new_value=str(recall_id), reason=reason)


def releases_of(service: LedgerService, recall_id: int) -> list[dict[str, Any]]:
    """The KeyShareReleased events of a recall, oldest first."""
    start = service.chain.deployment.block if service.chain.deployment else 0
    return service.chain.recall_events("KeyShareReleased", start, service.chain.block_number(), recallId=recall_id)


def recall_status(service: LedgerService, recall_id: int) -> dict[str, Any]:
    view = service.chain.recall_of(recall_id)
    if view.status == 0:
        raise UnknownEntry(f"no recall {recall_id}")
    members = {a.lower(): m for m, a in service.accounts.items()}
    return {
        "recall_id": recall_id,
        "status": STATUS[view.status],
        "regulator": members.get(view.regulator.lower(), view.regulator),
        "scope_kind": KIND[view.scope_kind],
        "scope": view.scope.hex(),
        "approvals": view.approvals,
        "releases": [
            {
                "agent": members.get(str(e["agent"]).lower(), e["agent"]),
                "digest": bytes(e["releaseDigest"]).hex(),
                "cid": e["releaseCid"],
                "block": e["blockNumber"],
            }
            for e in releases_of(service, recall_id)
        ],
    }


@dataclass
class Unlock:
    """What a regulator's unlock of a recall gave."""

    recall_id: int
    releases: int = 0
    decrypted: dict[str, bytes] = field(default_factory=dict)  # record id -> canonical JSON
    attachments: dict[str, dict[str, bytes]] = field(default_factory=dict)  # record id -> name -> content
    verified: list[str] = field(default_factory=list)  # decrypted and valid against the chain
    refused: dict[str, str] = field(default_factory=dict)  # record id -> why it did not open or verify


def decrypt_recall(
    service: LedgerService, *, recall_id: int, regulator: str, key: sm2.PrivateKey, out_dir: Path | None = None
) -> Unlock:
    """Collect the recall's releases, rebuild every data key that k shares allow, decrypt and verify."""
    view = service.chain.recall_of(recall_id)
    if view.status == 0:
        raise UnknownEntry(f"no recall {recall_id}")
    if view.regulator.lower() != service.account_of(regulator).lower():
        raise LedgerError(f"recall {recall_id} was opened by another regulator: its releases are not for {regulator}")
    if view.status != IN_FORCE:  # a closed recall unlocks nothing any more, a proposed one nothing yet
        raise LedgerError(f"recall {recall_id} is {STATUS[view.status]}, not in force: nothing is decrypted")
    report = Unlock(recall_id)
    shares: dict[str, dict[int, bytes]] = defaultdict(dict)
    for event in releases_of(service, recall_id):
        document = service.store.get(event["releaseCid"])
        if sm3(document) != bytes(event["releaseDigest"]):
            continue  # not what the agent anchored: ignore it
        report.releases += 1
        for record_id, x, y in confidential.open_release(document, recall_id, key):
            shares[record_id][x] = y
    reader = ChainReader(service.chain)  # one reader for the sweep: chain reads are shared
    for record_id, found in sorted(shares.items()):
        try:
            canonical, files = _open_record(service, record_id, found)
        except (LedgerError, sm4.Sm4Error) as error:
            report.refused[record_id] = str(error)
            continue
        report.decrypted[record_id] = canonical
        report.attachments[record_id] = files
        if is_valid(service.verify(record_id, attachment_content=files, reader=reader)):
            report.verified.append(record_id)
        else:
            report.refused[record_id] = "decrypted, but it does not verify against the chain"
        if out_dir is not None:
            _write(out_dir, record_id, canonical, files)
    with service.sessions.begin() as session:
        for record_id in report.decrypted:
            crud.audit(
                session=session, actor=regulator, action="recall_decrypt", record_id=record_id, new_value=str(recall_id)
            )
    return report


def _open_record(service: LedgerService, record_id: str, shares: dict[int, bytes]) -> tuple[bytes, dict[str, bytes]]:
    with service.sessions() as session:
        row = crud.get_escrow(session=session, record_id=record_id)
        if row is None:
            raise LedgerError("no escrow envelope for this record")
        envelope = json.loads(row.envelope)
    data_key = confidential.data_key_of(sorted(shares.items()), int(envelope["k"]))
    ciphertext = service.store.get(envelope["record_ciphertext_cid"])
    canonical = sm4.decrypt(data_key, ciphertext, confidential.record_aad(record_id))
    if digest_bytes(canonical).sm3_hex != record_id:
        raise LedgerError("the decrypted record's SM3 is not its record id")
    files = {}
    for a in json.loads(canonical).get("attachments", []):
        if a.get("cid") and service.store.has(a["cid"]):
            files[a["name"]] = sm4.decrypt(data_key, service.store.get(a["cid"]), confidential.attachment_aad(a["sm3"]))
    return canonical, files


def _write(out_dir: Path, record_id: str, canonical: bytes, files: dict[str, bytes]) -> None:
    target = out_dir / record_id
    target.mkdir(parents=True, exist_ok=True)
    (target / "record.json").write_bytes(canonical)
    for name, content in files.items():
        (target / Path(name).name).write_bytes(content)


def covers(service: LedgerService, scope_kind: int, scope: bytes, record_id: str) -> bool:
    """Whether a recall's scope covers a confidential record, by the lot and product digests its owner sealed
    with it, or the record list whose Merkle root the recall names."""
    with service.sessions() as session:
        escrow = crud.get_escrow(session=session, record_id=record_id)
        if escrow is None:
            return False
        if scope_kind == confidential.LOT:
            return escrow.lot_sm3 == scope.hex()
        if scope_kind == confidential.PRODUCT:
            return escrow.product_sm3 == scope.hex()
        listed = session.get(RecallScopeRow, scope.hex())
        ids = list(listed.record_ids) if listed else []
    return record_id in ids and merkle.root([bytes.fromhex(i) for i in ids]) == scope


def recall_access(service: LedgerService, member: str, record_id: str) -> int | None:
    """The recall through which `member` may read the confidential record `record_id` now, or None: one in
    force on chain (confirmed, not closed), opened by `member` as its regulator, covering the record, with the
    releases of at least k escrow agents. Computed from the chain and the recall's own tables, nothing else:
    when the recall closes, the access ends."""
    account = service.accounts.get(member)
    policy = service.escrow_policy()
    if account is None or policy is None:
        return None
    for recall_id in range(service.chain.recall_count(), 0, -1):
        view = service.chain.recall_of(recall_id)
        if view.status != IN_FORCE or view.regulator.lower() != account.lower():
            continue
        if not covers(service, view.scope_kind, view.scope, record_id):
            continue
        agents = {str(e["agent"]).lower() for e in releases_of(service, recall_id)}
        if len(agents) >= policy.k:
            return recall_id
    return None
