"""The anchoring outbox survives crashes at every step: each record is anchored exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger_service.config import Settings
from ledger_service.demo import LAB, Demo
from ledger_service.errors import StoreUnavailable
from ledger_service.index.models import AnchorRow, AttemptRow, RecordRow
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.service import LedgerService
from ledger_service.store import EmbeddedStore, SpoolingStore
from ledger_service.store.ipfs_rpc import IpfsRpcStore
from tests.utils.anvil import free_port


class Crash(Exception):
    """A process dying at a chosen point."""


def crash_at(point: str):  # type: ignore[no-untyped-def]
    def inject(reached: str) -> None:
        if reached == point:
            raise Crash(point)

    return inject


def restarted(runtime: Runtime) -> LedgerService:
    """A new service process: same chain, store and index; no memory of nonces or work in flight."""
    s = runtime.service
    s.chain._nonces.clear()
    return LedgerService(chain=s.chain, store=s.store, sessions=s.sessions, accounts=s.accounts, tiers=s.tiers)


def counts(runtime: Runtime) -> tuple[int, int, list[str]]:
    with runtime.service.sessions() as session:
        anchored = session.scalar(select(func.count()).select_from(RecordRow).where(RecordRow.status == "anchored"))
        anchors = session.scalar(select(func.count()).select_from(AnchorRow))
        states = sorted(session.scalars(select(AttemptRow.state)))
    return int(anchored or 0), int(anchors or 0), states


def lab_nonce(runtime: Runtime) -> int:
    s = runtime.service
    return int(s.chain.w3.eth.get_transaction_count(s.accounts[LAB]))


@pytest.mark.parametrize("kind", ["xrf_analysis", "el_image", "tensile_test"])
@pytest.mark.parametrize("point", ["after_persist", "after_send"])
def test_a_crash_mid_anchoring_neither_loses_nor_duplicates(world: tuple[Runtime, Demo], kind: str, point: str) -> None:
    runtime, demo = world
    service = runtime.service
    ids = [s.record_id for s in service.submit_many([demo.record(kind, i) for i in range(5)])]
    before, base_anchored, _ = lab_nonce(runtime), counts(runtime)[0], None
    service.fault_injector = crash_at(point)
    with pytest.raises(Crash):
        service.anchor_pending()
    assert counts(runtime)[0] == base_anchored  # nothing indexed as anchored yet

    again = restarted(runtime)
    assert again.anchor_pending() == len(ids)
    anchored, _, states = counts(runtime)
    assert anchored == base_anchored + len(ids)
    assert again.anchor_pending() == 0
    # One transaction per tier A record, one per batch: the crashed one was resent or found, never doubled.
    sent = lab_nonce(runtime) - before
    assert sent == (len(ids) if kind == "tensile_test" else 1)
    assert states.count("done") >= 1 and "sending" not in states
    for record_id in ids:
        assert again.verify(record_id)[2].status.value == "VALID"  # ChainAnchor


def test_a_transaction_whose_nonce_was_taken_is_abandoned_and_its_records_anchored_anew(
    world: tuple[Runtime, Demo],
) -> None:
    runtime, demo = world
    service = runtime.service
    ids = [s.record_id for s in service.submit_many([demo.record("xrf_analysis", 100 + i) for i in range(4)])]
    service.fault_injector = crash_at("after_persist")
    with pytest.raises(Crash):
        service.anchor_pending()
    again = restarted(runtime)
    again.register_instrument(member=LAB, instrument_id="XRF-99", model="spare")  # takes the unsent nonce
    assert again.anchor_pending() == len(ids)
    _, _, states = counts(runtime)
    assert "abandoned" in states and "sending" not in states
    with again.sessions() as session:
        for record_id in ids:
            assert session.get(RecordRow, record_id).status == "anchored"  # type: ignore[union-attr]


def test_content_waits_in_the_spool_until_the_node_takes_it(world: tuple[Runtime, Demo], tmp_path: Path) -> None:
    runtime, demo = world
    s = runtime.service
    spooled = SpoolingStore(EmbeddedStore(tmp_path / "spool"), IpfsRpcStore(f"http://127.0.0.1:{free_port()}", 2))
    service = LedgerService(chain=s.chain, store=spooled, sessions=s.sessions, accounts=s.accounts, tiers=s.tiers)
    records = [demo.record("el_image", 900 + i) for i in range(3)]
    ids = [service.submit(raw, files, actor=LAB).record_id for raw, files in records]  # the node is down: accepted
    with pytest.raises(StoreUnavailable):
        service.pin_pending()
    assert service.anchor_pending() == 3  # anchoring does not wait for pinning
    with s.sessions() as session:
        rows = [session.get(RecordRow, i) for i in ids]
        assert all(r is not None and r.pinned_at is None for r in rows)
        content = [c for r in rows if r for c in [r.cid, *(a.cid for a in r.attachments)] if c]
    assert len(content) == 6

    spooled.target = EmbeddedStore(tmp_path / "node")  # the node is back
    assert not any(spooled.target.has(c) for c in content)
    assert service.pin_pending() == 3
    assert all(spooled.target.has(c) for c in content)
    assert service.pin_pending() == 0
    with s.sessions() as session:
        assert all(r.pinned_at is not None for r in session.scalars(select(RecordRow).where(RecordRow.id.in_(ids))))


def test_a_group_the_contract_refuses_is_dead_lettered_and_never_blocks_the_others(tmp_path: Path) -> None:
    """CAL-NIM is suspended after its record was accepted (inside the API's 5 s standing cache, say): the
    contract refuses that group on every pass. It goes to the dead letters with its reason; LAB-SZ's groups
    queued behind it are anchored; after reinstatement it is retried and anchored exactly once."""
    from ledger_service.config import Settings
    from ledger_service.demo import AGENTS, CAL, LAB, MFR, REG, Demo
    from ledger_service.runtime import open_runtime

    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    service, chain = runtime.service, runtime.service.chain
    registry = chain.registry.functions

    def govern(proposal: str, member: str) -> None:
        target = service.accounts[member]
        fn = getattr(registry, proposal)(target, bytes(32))
        proposal_id = fn.call({"from": service.accounts[REG]})
        chain._transact(service.accounts[REG], fn)
        for voter in (MFR, LAB, *AGENTS):
            if chain._call(registry.memberOf(target))[1] == (1 if proposal == "proposeReinstatement" else 2):
                break
            chain._transact(service.accounts[voter], registry.vote(proposal_id))

    from ledger_service.station import iso

    certificate = demo.calibration_lab.envelope(
        "calibration_certificate",
        instrument="REF-FORCE",
        measured_at=demo.now - timedelta(hours=2),
        operator="cal-tech-1",
        report_id="CAL-SUSPENDED-1",
        subject={"description": "a late certificate", "unambiguous_id": "SN-LATE"},
        results={
            "calibrated_instrument": {"id": "TENSILE-01", "maker": "Demo", "model": "T", "serial": "SN-T"},
            "points": [{"quantity": "force", "value": 1.0, "unit": "1", "uncertainty": 0.01, "coverage_factor": 2}],
            "conditions": {"temperature_C": 23.0},
            "traceability_statement": "Traceable to SI",
            "valid_from": iso(demo.now - timedelta(hours=1)),
            "valid_until": iso(demo.now + timedelta(days=300)),
        },
    )
    refused_id = service.submit(certificate, actor=CAL).record_id
    lab_ids = [service.submit(*demo.record(kind, 900 + i), actor=LAB).record_id for i, kind in
               enumerate(["el_image", "xrf_analysis", "tensile_test"])]  # fmt: skip
    govern("proposeSuspension", CAL)

    assert service.anchor_pending() == 3  # LAB-SZ's three groups, behind the refused one
    assert all(service.record_state(r).status == "anchored" for r in lab_ids)
    (dead,) = service.dead_letters()
    assert dead["record_id"] == refused_id and dead["code"] == "MEMBER_NOT_ACTIVE" and dead["lab"] == CAL
    assert service.record_state(refused_id).status == "dead_letter"
    assert service.anchor_pending() == 0  # not tried again and again
    assert service.retry_dead_letters(lab=LAB, actor=LAB) == 0  # another lab's dead letters are not LAB-SZ's
    govern("proposeReinstatement", CAL)
    assert service.retry_dead_letters(actor="operator") == 1
    assert service.anchor_pending() == 1 and service.record_state(refused_id).status == "anchored"
    assert service.dead_letters() == [] and service.anchor_pending() == 0
    runtime.engine.dispose()


def test_a_new_transaction_whose_cached_nonce_another_process_took_is_signed_again(tmp_path: Path) -> None:
    """`qledger serve` anchors in a worker process while its API process sends a member's own transactions
    (instruments, revocations, recalls), each process with its own nonce cache: the API's transaction whose
    cached nonce the worker took is refused by the node, then signed again with the account's next nonce and
    mined, once, instead of failing the request."""
    from ledger_service.chain.auto import chain_from_url
    from ledger_service.ids import instrument_key
    from tests.utils.anvil import DEV_KEY, anvil_node

    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path, chain_url=url))
        Demo(runtime.service, runtime.keys).found_consortium()
        service = runtime.service
        service.register_instrument(member=LAB, instrument_id="XRF-97", model="a")  # LAB's next nonce: cached
        other = chain_from_url(url, faucet_key=DEV_KEY)  # the other process
        deployment = service.chain.deployment
        assert deployment is not None
        other.attach(deployment)
        lab = other.add_account(runtime.keys.get_or_create(LAB))
        taken = lab_nonce(runtime)
        other.register_instrument(lab, instrument_key("XRF-98"), bytes(32))  # takes the nonce this cache holds
        assert taken in service.chain._nonces.values()  # the stale one
        service.register_instrument(member=LAB, instrument_id="XRF-99", model="c")
        assert lab_nonce(runtime) == taken + 2  # both mined, the second signed again once
        runtime.engine.dispose()
