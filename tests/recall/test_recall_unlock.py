"""Confidential records and the recall unlock, on the embedded chain: who can open what, and when.

Before a recall nobody but the owner reads a confidential record; k-1 releases open nothing; a recall opens
only what it covers; only a regulator opens a recall; a closed recall takes no release; an agent restarted at
any point neither misses nor double-posts; every release is an on-chain event and an audit entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from consortium.agent import EscrowAgent
from consortium.recall import close_recall, decrypt_recall, open_recall, recall_status, releases_of
from ledger_service import confidential
from ledger_service.confidential import EscrowError
from ledger_service.config import Settings
from ledger_service.demo import AGENTS, LAB, REG, Demo
from ledger_service.errors import LedgerError, TransactionReverted
from ledger_service.index import crud, sealing
from ledger_service.index.models import AuditRow, EscrowRow, RecordRow
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.store import cid_of_bytes
from ledger_service.verification import is_valid


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Demo, dict[str, list[str]]]]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("recall")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    demo.configure_escrow()
    lots: dict[str, list[str]] = {"LOT-SECRET": [], "LOT-OTHER": [], "public": []}
    for i in range(6):
        lot = "LOT-SECRET" if i < 4 else "LOT-OTHER"
        raw, files = demo.record("el_image" if i % 2 else "xrf_analysis", 7000 + i)
        raw["subject"]["lot"], raw["confidentiality"] = lot, "confidential"
        lots[lot].append(runtime.service.submit(raw, files, actor=LAB).record_id)
    raw, files = demo.record("xrf_analysis", 7100)
    lots["public"].append(runtime.service.submit(raw, files, actor=LAB).record_id)
    runtime.service.pin_pending()
    assert runtime.service.anchor_pending() == 7
    yield runtime, demo, lots


def agent(runtime: Runtime, name: str) -> EscrowAgent:
    return EscrowAgent(runtime.service, name, runtime.keys.sm2(name))


def test_only_ciphertext_is_stored_and_the_record_still_verifies(
    world: tuple[Runtime, Demo, dict[str, list[str]]],
) -> None:
    runtime, _, lots = world
    s = runtime.service
    record_id = lots["LOT-SECRET"][1]  # an EL image with a PNG
    with s.sessions() as session:
        row = session.get(RecordRow, record_id)
        escrow = session.get(EscrowRow, record_id)
        assert row is not None and escrow is not None
        canonical, attachment_cid = crud.canonical(session=session, row=row), row.attachments[0].cid
        envelope = json.loads(escrow.envelope)
    assert not s.store.has(cid_of_bytes(canonical))  # the plaintext was never stored
    assert s.store.get(row.cid or "") != canonical and row.cid == envelope["record_ciphertext_cid"]
    assert b"PNG" not in s.store.get(attachment_cid or "")[:64]
    assert [sh["agent"] for sh in envelope["shares"]] == list(AGENTS) and envelope["k"] == 3
    fragments = s.verify(record_id)  # the owner's index verifies it; the encrypted attachment is skipped
    assert is_valid(fragments)
    assert next(f for f in fragments if f.name == "Sm3AttachmentHash").reason["code"] == "CONFIDENTIAL"


def test_the_owners_index_keeps_no_confidential_payload_in_the_clear(
    world: tuple[Runtime, Demo, dict[str, list[str]]],
) -> None:
    """A copy of index.db (a backup, a leaked volume) shows no confidential payload: it is SM4-GCM sealed under
    the data directory's at-rest key (0600), bound to its record id; the owner still reads and verifies it."""
    import sqlite3

    runtime, _, lots = world
    s, data = runtime.service, runtime.settings.data_dir
    secret, public = lots["LOT-SECRET"][0], lots["public"][0]
    documents = {r: s.evidence(r).record for r in (secret, public)}
    assert documents[secret]["confidentiality"] == "confidential"
    with sqlite3.connect(data / "index.db") as db:
        stored = dict(db.execute("SELECT id, canonical FROM records WHERE id IN (?, ?)", (secret, public)).fetchall())
    db.close()
    assert sealing.is_sealed(stored[secret]) and not sealing.is_sealed(stored[public])
    for field in ("report_id", "operator"):
        assert json.dumps(documents[secret][field]).encode()[1:-1] not in stored[secret]
    on_disk = b"".join(p.read_bytes() for p in data.glob("index.db*"))
    assert documents[secret]["report_id"].encode() not in on_disk  # nor in the WAL, the facts or the audit trail
    assert documents[public]["report_id"].encode() in on_disk  # (the search finds what is there)
    key = data / "keys" / "index-at-rest.sm4"
    assert key.stat().st_mode & 0o777 == 0o600
    assert sealing.unseal(bytes.fromhex(key.read_text()), secret, stored[secret]) == crud_canonical(s, secret)
    with pytest.raises(Exception, match="authentication failed"):  # bound to its own record id
        sealing.unseal(bytes.fromhex(key.read_text()), public, stored[secret])
    # Sessions without the key refuse to write a confidential record in the clear.
    from ledger_service.index import session_factory

    with session_factory(runtime.engine)() as session, pytest.raises(sealing.NoAtRestKey):
        sealing.stored_canonical(session, secret, b"{}", "confidential")


def crud_canonical(s: object, record_id: str) -> bytes:
    with s.sessions() as session:  # type: ignore[attr-defined]
        row = session.get(RecordRow, record_id)
        return crud.canonical(session=session, row=row)


def test_before_a_recall_no_single_party_can_decrypt(world: tuple[Runtime, Demo, dict[str, list[str]]]) -> None:
    runtime, _, lots = world
    with runtime.service.sessions() as session:
        envelope = json.loads(
            session.scalars(select(EscrowRow.envelope).where(EscrowRow.record_id == lots["LOT-SECRET"][0])).one()
        )
    share = confidential.open_share(envelope, AGENTS[0], runtime.keys.sm2(AGENTS[0]))
    with pytest.raises(EscrowError, match="needed"):
        confidential.data_key_of([(share.x, share.y)], envelope["k"])  # one agent alone
    with pytest.raises(EscrowError):
        confidential.open_share(envelope, AGENTS[1], runtime.keys.sm2(AGENTS[0]))  # another agent's share
    with pytest.raises(EscrowError):
        confidential.open_share(envelope, REG, runtime.keys.sm2(REG))  # the regulator holds no share
    assert agent(runtime, AGENTS[0]).run_once() == 0  # no recall: nothing released


def test_the_recall_flow(world: tuple[Runtime, Demo, dict[str, list[str]]], tmp_path: Path) -> None:
    runtime, _, lots = world
    s = runtime.service
    with pytest.raises(TransactionReverted) as refused:
        open_recall(s, regulator=LAB, kind="lot", scope="LOT-SECRET", reason="not a regulator")
    assert refused.value.code == "FORBIDDEN"

    recall = open_recall(s, regulator=REG, kind="lot", scope="LOT-SECRET", reason="cracked cells in the field")
    assert recall_status(s, recall)["status"] == "confirmed"  # the consortium's policy: the regulator alone
    for name in AGENTS[:2]:
        assert agent(runtime, name).run_once() == 1
    partial = decrypt_recall(s, recall_id=recall, regulator=REG, key=runtime.keys.sm2(REG))
    assert partial.releases == 2 and partial.decrypted == {}
    assert set(partial.refused) == set(lots["LOT-SECRET"]) and all(
        "2 share(s), 3 needed" in r for r in partial.refused.values()
    )
    with pytest.raises(LedgerError, match="another regulator"):
        decrypt_recall(s, recall_id=recall, regulator=LAB, key=runtime.keys.sm2(LAB))

    assert agent(runtime, AGENTS[2]).run_once() == 1
    unlock = decrypt_recall(s, recall_id=recall, regulator=REG, key=runtime.keys.sm2(REG), out_dir=tmp_path)
    assert sorted(unlock.verified) == sorted(lots["LOT-SECRET"]) and not unlock.refused
    for record_id in lots["LOT-OTHER"]:  # not covered: nothing was released for them
        assert record_id not in unlock.decrypted
    opened = json.loads((tmp_path / lots["LOT-SECRET"][1] / "record.json").read_bytes())
    assert opened["subject"]["lot"] == "LOT-SECRET"
    assert (tmp_path / lots["LOT-SECRET"][1] / opened["attachments"][0]["name"]).read_bytes()[:4] == b"\x89PNG"

    # Every release is an on-chain event and an audit entry.
    events = releases_of(s, recall)
    assert len(events) == 3
    with s.sessions() as session:
        audited = session.scalars(
            select(AuditRow).where(AuditRow.action == "key_share_release", AuditRow.field == str(recall))
        ).all()
    assert sorted(a.actor for a in audited) == sorted(AGENTS[:3])

    close_recall(s, regulator=REG, recall_id=recall, reason="field action complete")
    assert agent(runtime, AGENTS[3]).run_once() == 0  # closed before this agent acted: it releases nothing
    with pytest.raises(TransactionReverted) as closed:
        s.chain.post_release(s.account_of(AGENTS[3]), recall, b"\x01" * 32, "bafy-anything")
    assert closed.value.code == "RECALL_CLOSED"


@pytest.mark.parametrize("point", ["before_post", "after_post"])
def test_an_agent_restarted_mid_recall_neither_misses_nor_double_posts(
    world: tuple[Runtime, Demo, dict[str, list[str]]], point: str
) -> None:
    runtime, _, lots = world
    s = runtime.service
    recall = open_recall(s, regulator=REG, kind="records", scope=lots["LOT-OTHER"], reason=f"crash {point}")
    name = AGENTS[4]
    crashing = agent(runtime, name)

    def crash(reached: str) -> None:
        if reached == point:
            raise Crash(point)

    crashing.fault_injector = crash
    with pytest.raises(Crash):
        crashing.run_once()
    restarted = agent(runtime, name)
    restarted.run_once()
    restarted.run_once()
    mine = [e for e in releases_of(s, recall) if str(e["agent"]).lower() == s.account_of(name).lower()]
    assert len(mine) == 1  # posted exactly once
    for other in AGENTS[:2]:
        agent(runtime, other).run_once()
    unlock = decrypt_recall(s, recall_id=recall, regulator=REG, key=runtime.keys.sm2(REG))
    assert sorted(unlock.verified) == sorted(lots["LOT-OTHER"])


def test_under_the_member_quorum_policy_nothing_is_released_until_confirmed(tmp_path: Path) -> None:
    from consortium.recall import approve_recall
    from ledger_service.demo import CAL, MFR

    runtime = open_runtime(Settings(data_dir=tmp_path))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium(recall_confirmation=1)
    demo.calibrate_instruments()
    demo.configure_escrow()
    raw, files = demo.record("xrf_analysis", 1)
    raw["subject"]["lot"], raw["confidentiality"] = "LOT-Q", "confidential"
    record_id = runtime.service.submit(raw, files, actor=LAB).record_id
    runtime.service.anchor_pending()
    s = runtime.service
    recall = open_recall(s, regulator=REG, kind="lot", scope="LOT-Q", reason="quorum")
    assert recall_status(s, recall)["status"] == "proposed"
    approvers = [LAB, CAL, MFR, *AGENTS]
    while recall_status(s, recall)["status"] == "proposed":
        assert all(agent(runtime, a).run_once() == 0 for a in AGENTS[:3])  # not in force: nothing released
        approve_recall(s, member=approvers.pop(0), recall_id=recall)
    assert recall_status(s, recall)["status"] == "confirmed" and recall_status(s, recall)["approvals"] >= 2
    assert sum(agent(runtime, a).run_once() for a in AGENTS[:3]) == 3
    assert decrypt_recall(s, recall_id=recall, regulator=REG, key=runtime.keys.sm2(REG)).verified == [record_id]
    for name in (LAB, REG, *AGENTS):
        assert oct((tmp_path / "keys" / f"{name}.sm2").stat().st_mode & 0o777) == "0o600"
