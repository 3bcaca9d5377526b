"""An escrow agent: watches the chain for recalls coming into force and, for each, releases its key shares of
the confidential records the recall covers, re-encrypted to the recall's regulator.

Restart-safe: the agent resumes from the last block it processed; a release is written to the index before it
is posted and posted only if the chain does not hold it yet, so a crash at any point neither misses nor
double-posts a release.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from ledger_service import confidential, merkle
from ledger_service.crypto import sm2
from ledger_service.digests import sm3
from ledger_service.errors import EscrowMisconfigured, LedgerError
from ledger_service.index import crud
from ledger_service.index.models import AgentCursorRow, RecallScopeRow, ReleaseRow
from ledger_service.service import LedgerService

log = logging.getLogger("qledger.agent")
CONFIRMED = 2


class EscrowAgent:
    def __init__(self, service: LedgerService, agent: str, key: sm2.PrivateKey) -> None:
        self.service = service
        self.agent = agent
        self.key = key
        self.account = service.account_of(agent)
        self.fault_injector: Callable[[str], None] | None = None  # tests: a crash at a named point

    def run_once(self) -> int:
        """Process every recall confirmed since the last processed block; returns releases posted."""
        chain = self.service.chain
        with self.service.sessions() as session:
            cursor = session.get(AgentCursorRow, self.agent)
            start = cursor.last_block + 1 if cursor else (chain.deployment.block if chain.deployment else 0)
            unfinished = [r.recall_id for r in session.query(ReleaseRow).filter_by(agent=self.agent, state="prepared")]
        head = chain.block_number()
        posted = sum(self.release(recall_id) for recall_id in unfinished)
        if start <= head:
            for event in chain.recall_events("RecallConfirmed", start, head):
                posted += self.release(int(event["recallId"]))
            with self.service.sessions.begin() as session:
                row = session.get(AgentCursorRow, self.agent)
                if row is None:
                    session.add(AgentCursorRow(agent=self.agent, last_block=head))
                else:
                    row.last_block = head
        return posted

    def run(self, stop: threading.Event, interval_s: float = 2.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except LedgerError as error:
                log.warning("escrow agent %s: %s; retrying", self.agent, error)
            stop.wait(interval_s)

    def release(self, recall_id: int) -> int:
        """Release (or finish releasing) this agent's shares for one recall; returns 1 if a release was posted."""
        service, chain = self.service, self.service.chain
        with service.sessions() as session:
            row = session.get(ReleaseRow, (recall_id, self.agent))
            existing = None if row is None else (row.state, row.digest, row.cid)
        if existing is not None and existing[0] != "prepared":
            return 0
        view = chain.recall_of(recall_id)
        if view.status != CONFIRMED:
            return 0  # closed before we got to it, or not in force: nothing is released
        if existing is None:
            prepared = self._prepare(recall_id, view.scope_kind, view.scope, view.regulator)
            if prepared is None:
                return 0
            digest, cid = prepared
        else:
            digest, cid = existing[1], existing[2]
        self._fault("before_post")
        if not chain.is_released(recall_id, self.account, bytes.fromhex(digest)):
            chain.post_release(self.account, recall_id, bytes.fromhex(digest), cid)
        self._fault("after_post")
        with service.sessions.begin() as session:
            stored = session.get(ReleaseRow, (recall_id, self.agent))
            assert stored is not None
            stored.state = "posted"
            crud.audit(
                session=session,
                actor=self.agent,
                action="key_share_release",
                field=str(recall_id),
                new_value=cid,
                reason=f"{stored.shares} share(s) re-encrypted to the recall's regulator",
            )
        return 1

    def _fault(self, point: str) -> None:
        if self.fault_injector is not None:
            self.fault_injector(point)

    def _prepare(self, recall_id: int, kind: int, scope: bytes, regulator_account: str) -> tuple[str, str] | None:
        service = self.service
        policy = service.escrow_policy()
        if policy is None:
            raise EscrowMisconfigured("no escrow policy is configured")
        regulator = next((m for m, a in service.accounts.items() if a.lower() == regulator_account.lower()), None)
        if regulator is None:
            raise EscrowMisconfigured(f"the recall's regulator {regulator_account} is not a known member")
        with service.sessions() as session:
            if kind == confidential.LOT:
                rows = crud.escrows_in_scope(session=session, lot_sm3=scope.hex())
            elif kind == confidential.PRODUCT:
                rows = crud.escrows_in_scope(session=session, product_sm3=scope.hex())
            else:
                listed = session.get(RecallScopeRow, scope.hex())
                ids = list(listed.record_ids) if listed else []
                if not ids or merkle.root([bytes.fromhex(i) for i in ids]) != scope:
                    raise EscrowMisconfigured(f"recall {recall_id}: no record list matches its Merkle root")
                rows = crud.escrows_in_scope(session=session, record_ids=ids)
            envelopes = [json.loads(r.envelope) for r in rows]
        shares = []
        for envelope in envelopes:
            share = confidential.open_share(envelope, self.agent, self.key)
            # The scope is checked against what the owner sealed with the share, not against index metadata.
            covered = (
                (kind == confidential.LOT and share.lot_sm3 == scope)
                or (kind == confidential.PRODUCT and share.product_sm3 == scope)
                or kind == confidential.RECORDS
            )
            if covered:
                shares.append(share)
        if not shares:
            return None
        document = confidential.release_document(
            recall_id, self.agent, regulator, policy.regulator_key(regulator), shares
        )
        digest, cid = sm3(document).hex(), service.store.put(document)
        service.store.push([cid])
        with service.sessions.begin() as session:
            session.add(
                ReleaseRow(
                    recall_id=recall_id,
                    agent=self.agent,
                    digest=digest,
                    cid=cid,
                    shares=len(shares),
                    state="prepared",
                    created_at=datetime.now(UTC),
                )
            )
        return digest, cid
