"""Operator electronic signatures (docs/formats.md section 2.1; 21 CFR 11.50, 11.70, 11.200): a signed,
anchored record is VALID; each way a signature can be false is INVALID with its own reason code: an altered
record, a key the lab never enrolled (or that another member enrolled in its name), a signer the record does not
name, a signature dated after the key's withdrawal, a record anchored after it, a malformed entry."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger_service import merkle, signatures
from ledger_service.chain.web3_client import ChainReader
from ledger_service.config import Settings
from ledger_service.crypto import sm2
from ledger_service.demo import CAL, LAB, Demo
from ledger_service.ids import schema_key
from ledger_service.index.models import AuditRow
from ledger_service.records import RecordInvalid
from ledger_service.runtime import Runtime, open_runtime
from ledger_service.verification import Evidence, Fragment, RecordTarget, Status, record_context
from ledger_service.verification.checks import operator_signature


@dataclasses.dataclass
class World:
    runtime: Runtime
    demo: Demo

    @property
    def service(self) -> Any:
        return self.runtime.service

    def submit(self, raw: dict[str, Any]) -> str:
        record_id: str = self.service.submit(raw, actor=LAB).record_id
        self.service.anchor_pending()
        return record_id

    def check(self, evidence: Evidence) -> Fragment:
        ctx = record_context(ChainReader(self.service.chain), self.service.store)
        return operator_signature.verify(RecordTarget(evidence), ctx)

    def signed(self, i: int, operator: str = "op-alice", at: datetime | None = None) -> dict[str, Any]:
        raw, _ = self.demo.record("tensile_test", i)
        raw["operator"] = {"id": operator}
        return signatures.sign_with(
            self.runtime.keys, raw, [(operator, "performed"), (raw["checker_id"], "reviewed")],
            at=at or self.demo.now - timedelta(minutes=1),
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime = open_runtime(Settings(data_dir=tmp_path_factory.mktemp("signatures")))
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    demo.enrol_signers()
    yield World(runtime, demo)
    runtime.engine.dispose()


def _code(fragment: Fragment) -> tuple[Status, str | None]:
    return fragment.status, (fragment.reason or {}).get("code")


def test_a_signed_record_verifies_and_enrolment_is_in_the_audit_trail_and_keys_are_0600(world: World) -> None:
    record_id = world.submit(world.signed(1))
    fragments = {f.name: f for f in world.service.verify(record_id)}
    fragment = fragments["OperatorSignature"]
    assert fragment.status is Status.VALID, fragment.to_json()
    assert [(s["signer"], s["meaning"]) for s in fragment.data["signatures"]] == [
        ("op-alice", "performed"), (world.demo.profile.station(LAB).checker, "reviewed"),
    ]  # fmt: skip
    assert all(f.status in (Status.VALID, Status.SKIPPED) for f in fragments.values())
    key_file = world.runtime.keys.dir / "signers" / LAB / "op-alice.sm2"
    assert key_file.stat().st_mode & 0o777 == 0o600
    with world.service.sessions() as session:
        rows = [r for r in session.scalars(select(AuditRow)) if r.action == "enrol_signer"]
    assert f"{LAB}/op-alice" in {r.field for r in rows}


def test_an_unsigned_record_is_skipped_and_a_free_text_signature_is_malformed(world: World) -> None:
    raw, _ = world.demo.record("tensile_test", 2)
    record_id, doc = world.service.record_document(raw)
    assert _code(world.check(Evidence(doc, record_id, None))) == (Status.SKIPPED, "OPERATOR_NOT_SIGNED")
    forged = {**doc, "operator": {"id": doc["operator"]["id"], "signature": "Alice"}}
    assert _code(world.check(Evidence(forged, record_id, None))) == (Status.INVALID, "SIGNATURE_MALFORMED")
    broken = world.signed(3)
    broken["signatures"][0]["value"] = "not base64!"
    assert _code(world.check(Evidence(broken, record_id, None))) == (Status.INVALID, "SIGNATURE_MALFORMED")


def test_an_altered_record_breaks_its_signature(world: World) -> None:
    record_id = world.submit(world.signed(4))
    ev = world.service.evidence(record_id)
    record = copy.deepcopy(dict(ev.record))
    record["results"]["values"][1]["value"] = 999.0
    assert _code(world.check(dataclasses.replace(ev, record=record))) == (Status.INVALID, "SIGNATURE_INVALID")
    # Moving a signature to another meaning changes what it signs, too.
    record = copy.deepcopy(dict(ev.record))
    record["signatures"][1]["meaning"] = "approved"
    assert _code(world.check(dataclasses.replace(ev, record=record))) == (Status.INVALID, "SIGNATURE_INVALID")


def test_a_wrong_key_is_not_enrolled_even_when_another_member_anchors_its_enrolment(world: World) -> None:
    raw, _ = world.demo.record("tensile_test", 5)
    _, doc = world.service.record_document(raw)
    intruder = sm2.PrivateKey.generate()
    forged = signatures.sign(doc, signer=doc["operator"]["id"], meaning="performed", key=intruder)
    record_id, _ = world.service.record_document(forged)
    assert _code(world.check(Evidence(forged, record_id, None))) == (Status.INVALID, "SIGNER_NOT_ENROLLED")
    # A hostile member anchors the enrolment digest of that key in LAB-SZ's name, under its own account.
    digest = signatures.enrolment_digest(LAB, doc["operator"]["id"], intruder.public_key.to_bytes())
    world.service.anchor_digests(member=CAL, digests=[digest], kind=signatures.ENROLMENT_KIND)
    assert _code(world.check(Evidence(forged, record_id, None))) == (Status.INVALID, "SIGNER_NOT_ENROLLED")


def test_a_signer_the_record_does_not_name(world: World) -> None:
    raw, _ = world.demo.record("tensile_test", 6)
    raw["operator"] = {"id": "op-alice"}
    forged = signatures.sign_with(world.runtime.keys, raw, [("op-bob", "performed")])
    record_id, _ = world.service.record_document(forged)
    assert _code(world.check(Evidence(forged, record_id, None))) == (Status.INVALID, "SIGNER_MISMATCH")


def test_withdrawal_invalidates_later_signatures_and_later_anchors_but_not_earlier_ones(world: World) -> None:
    keys, service = world.runtime.keys, world.service
    before = world.submit(world.signed(7, operator="op-bob"))
    kept = keys.signer(LAB, "op-bob", create=False)  # what a withdrawn person might still hold
    signatures.withdraw(service, keys, lab=LAB, signer="op-bob", actor=LAB, reason="left the lab")
    assert not keys.holds_signer(LAB, "op-bob")
    digest = signatures.withdrawal_digest(LAB, "op-bob", kept.public_key.to_bytes())
    withdrawn_at = int(
        ChainReader(service.chain).root_of(signatures.anchored_root(digest), service.accounts[LAB])["anchored_at"]
    )
    assert withdrawn_at > 0

    # Signed and anchored before the withdrawal: still valid.
    assert world.check(service.evidence(before)).status is Status.VALID

    def sign_as_bob(i: int, at: datetime) -> dict[str, Any]:
        raw, _ = world.demo.record("tensile_test", i)
        raw["operator"] = {"id": "op-bob"}
        _, doc = service.record_document(raw)
        return signatures.sign(doc, signer="op-bob", meaning="performed", key=kept, at=at)

    late = sign_as_bob(8, datetime.fromtimestamp(withdrawn_at + 60).astimezone())
    late_id, _ = service.record_document(late)
    assert _code(world.check(Evidence(late, late_id, None))) == (Status.INVALID, "SIGNED_AFTER_WITHDRAWAL")

    # Backdated, but anchored after the withdrawal: the date cannot be trusted. Our service refuses it at
    # ingest; the lab anchors it itself with a raw transaction, and verification says why it does not hold.
    backdated_doc = sign_as_bob(9, world.demo.now - timedelta(minutes=5))
    with pytest.raises(RecordInvalid) as refused:
        service.submit(backdated_doc, actor=LAB)
    assert [str(f.code) for f in refused.value.faults] == ["SIGNER_WITHDRAWN"]
    backdated, _ = service.record_document(backdated_doc)
    ids = [bytes.fromhex(backdated)]
    service.chain.anchor_root(service.accounts[LAB], ids, schema_key("tensile_test", "1"))
    anchored = service.evidence(before)
    assert anchored.anchor is not None
    evidence = dataclasses.replace(
        anchored,
        record=backdated_doc,
        record_id=backdated,
        anchor=dataclasses.replace(anchored.anchor, root=merkle.root(ids).hex(), proof=[]),
    )
    assert _code(world.check(evidence)) == (Status.INVALID, "SIGNER_WITHDRAWN")
    with service.sessions() as session:
        assert "withdraw_signer" in {r.action for r in session.scalars(select(AuditRow))}


def test_the_sm2_wire_format_is_fixed() -> None:
    key = sm2.PrivateKey.generate()
    raw = {"lab": {"member_id": LAB}, "operator": {"id": "x"}, "results": {}}
    entry = signatures.sign(raw, signer="x", meaning="performed", key=key)["signatures"][0]
    parsed = signatures.parse(entry)
    assert len(parsed.value) == 64 and entry["public_key"].startswith("04") and len(entry["public_key"]) == 130
    message = signatures.statement(signatures.unsigned_digest(raw), LAB, entry)
    assert key.public_key.verify(message, parsed.value, user_id=b"1234567812345678")
    assert not key.public_key.verify(message, parsed.value, user_id=b"another user id!")
    for _ in range(3):  # a key seen again is checked through its own precomputed table: the same answers
        assert key.public_key.verify(message, parsed.value)
        assert not key.public_key.verify(message + b" ", parsed.value)
        assert not sm2.PrivateKey.generate().public_key.verify(message, parsed.value)
    assert Path(sm2.__file__).read_text().count("import gmssl") == 0  # native: gmssl's nonces are not a CSPRNG


def test_the_signature_checks_reads_come_in_one_batch_and_say_what_single_reads_say(tmp_path: Path) -> None:
    """On a JSON-RPC node (anvil): `prefetch_roots` reads a bundle's enrolments and withdrawals in one batch,
    and `root_of` then gives exactly what one-by-one reads give (anchored and not anchored alike)."""
    from ledger_service.chain.jsonrpc import JsonRpcChainClient
    from tests.utils.anvil import anvil_node

    with anvil_node("--hardfork", "cancun") as url:
        runtime = open_runtime(Settings(data_dir=tmp_path, chain_url=url))
        try:
            demo = Demo(runtime.service, runtime.keys)
            demo.found_consortium()
            demo.calibrate_instruments()
            demo.enrol_signers()
            deployment = runtime.service.chain.deployment
            assert deployment is not None
            client = JsonRpcChainClient(url)
            client.attach(deployment)
            lab = runtime.service.accounts[LAB]
            key = runtime.keys.signer(LAB, "op-alice", create=False).public_key.to_bytes()
            queries = [
                (signatures.anchored_root(digest(LAB, "op-alice", key)), lab)
                for digest in (signatures.enrolment_digest, signatures.withdrawal_digest)
            ]
            batched = ChainReader(client)
            batched.prefetch_roots(queries)
            assert sum(1 for k in batched._cache if k[0] == "root") == 2  # served from the one batch
            single = ChainReader(client)
            got = [(batched.root_of(r, s), single.root_of(r, s)) for r, s in queries]
            assert [a == b for a, b in got] == [True, True]
            assert got[0][0]["anchored_at"] > 0 and got[1][0]["anchored_at"] == 0
        finally:
            runtime.engine.dispose()
