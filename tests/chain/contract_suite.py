"""One behaviour suite for every ChainClient adapter (as web3.py's module_testing suites)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from ledger_service import merkle
from ledger_service.chain import (
    Accreditation,
    ConsortiumSpec,
    Founder,
    Header,
    OnChainStatus,
    Role,
    Web3ChainClient,
)
from ledger_service.chain.web3_client import calldata
from ledger_service.errors import ChainError, TransactionReverted
from ledger_service.records import RECORD_TYPE_CODES

EL = RECORD_TYPE_CODES["el_image"]
CAL = RECORD_TYPE_CODES["calibration_certificate"]
DAY = 86_400


def h(label: str) -> bytes:
    return Web3.keccak(text=label)


@dataclass
class World:
    client: Web3ChainClient
    lab: str
    cal_lab: str
    regulator: str
    rogue: str
    deployer: str
    instrument: bytes
    certificate: bytes
    now: int

    def header(self, **kw: Any) -> Header:
        fields: dict[str, Any] = {
            "record_id": os.urandom(32),
            "instrument_id": self.instrument,
            "calibration_digest": self.certificate,
            "operator_id": h("op-alice"),
            "measured_at": self.now - 60,
        }
        fields.update(kw)
        return Header(**fields)


def build_world(client: Web3ChainClient) -> World:
    keys = {name: Account.create().key for name in ("deployer", "lab", "cal_lab", "regulator", "rogue", "nmi")}
    addr = {name: client.add_account(key) for name, key in keys.items()}
    for a in addr.values():
        client.fund(a, 10**20)
    now = client.w3.eth.get_block("latest")["timestamp"]
    year = now + 365 * DAY
    spec = ConsortiumSpec(
        founders=(
            Founder(addr["lab"], "LAB-1", Role.LAB, Accreditation("CNAS", "L1", h("s1"), frozenset({EL}), year)),
            Founder(
                addr["cal_lab"],
                "CAL-1",
                Role.LAB,
                Accreditation("CNAS", "L2", h("s2"), frozenset({CAL}), year),
            ),
            Founder(addr["regulator"], "REG-1", Role.REGULATOR),
            Founder(addr["rogue"], "ROGUE-1", Role.LAB, Accreditation("CNAS", "L9", h("s9"), frozenset({EL}), year)),
            Founder(
                addr["nmi"],
                "NMI-1",
                Role.LAB | Role.REFERENCE_BODY,
                Accreditation("CNAS", "L3", h("s3"), frozenset({CAL}), year),
            ),
        ),
        strike_threshold=0,  # the suite's own revocations never suspend the lab
    )
    client.deploy(spec, addr["deployer"])
    # The reference body declares its primary standard and certifies the calibration lab's reference standard.
    primary, declaration = h("primary"), h("declaration")
    client.register_instrument(addr["nmi"], primary, h("model"))
    client.register_reference_calibration(addr["nmi"], primary, declaration, now - 60 * DAY, year + 365 * DAY)
    reference, nmi, instrument, certificate = h("ref"), h("nmi"), h("camera"), h("certificate")
    nmi_window = (now - 30 * DAY, year)
    nmi_header = Header(nmi, primary, declaration, h("op-nmi"), now - 2 * DAY)
    client.anchor_calibration(addr["nmi"], nmi_header, reference, addr["cal_lab"], *nmi_window)
    client.register_instrument(addr["cal_lab"], reference, h("model"))
    client.register_calibration(addr["cal_lab"], reference, nmi, *nmi_window, issuer=addr["nmi"])
    window = (now - 30 * DAY, now + 300 * DAY)
    cert_header = Header(certificate, reference, nmi, h("op-cal"), now - DAY)
    client.anchor_calibration(addr["cal_lab"], cert_header, instrument, addr["lab"], *window)
    client.register_instrument(addr["lab"], instrument, h("model"))
    client.register_calibration(addr["lab"], instrument, certificate, *window, issuer=addr["cal_lab"])
    return World(
        client,
        addr["lab"],
        addr["cal_lab"],
        addr["regulator"],
        addr["rogue"],
        addr["deployer"],
        instrument,
        certificate,
        now,
    )


class ChainClientContract:
    """Subclasses provide a module-scoped `world` fixture built on their adapter."""

    def test_tier_a_anchor_then_status(self, world: World) -> None:
        header = world.header()
        receipt = world.client.anchor(world.lab, EL, header)
        assert receipt.block_number > 0 and receipt.gas_used < 60_000
        assert world.client.status(header.record_id, submitter=world.lab) is OnChainStatus.ANCHORED
        assert world.client.status(header.record_id, submitter=world.rogue) is OnChainStatus.NONE
        assert world.client.status(os.urandom(32), submitter=world.lab) is OnChainStatus.NONE

    def test_refusals_carry_the_custom_error_and_our_code_and_cost_no_nonce(self, world: World) -> None:
        bad = world.header(operator_id=b"\x00" * 32)
        with pytest.raises(TransactionReverted) as refused:
            world.client.anchor(world.lab, EL, bad)
        assert (refused.value.name, refused.value.code) == ("QualityLedgerZeroOperator", "MISSING_FIELD")
        assert refused.value.arguments == {"recordId": bad.record_id}
        stale = world.header(measured_at=world.now - 400 * DAY)
        with pytest.raises(TransactionReverted) as refused:
            world.client.anchor(world.lab, EL, stale)
        assert refused.value.code == "CALIBRATION_NOT_VALID_AT"
        with pytest.raises(TransactionReverted) as refused:
            world.client.anchor(world.regulator, EL, world.header())
        assert refused.value.code == "NOT_ACCREDITED"
        # Refusals were caught before sending: the next transaction goes through with the next nonce.
        world.client.anchor(world.lab, EL, world.header())

    def test_tier_b_batch_sorts_builds_tables_and_roots(self, world: World) -> None:
        headers = [world.header(operator_id=h(f"op-{i % 3}")) for i in range(40)]
        receipt = world.client.anchor_batch(world.lab, EL, headers)
        assert list(receipt.record_ids) == sorted(x.record_id for x in headers)
        assert receipt.root == merkle.root(receipt.record_ids)
        for i in (0, 17, 39):
            proof = merkle.proof(receipt.record_ids, i)
            assert world.client.status(receipt.record_ids[i], receipt.root, proof, world.lab) is OnChainStatus.ANCHORED

    def test_calldata_is_the_encoding_web3_would_send(self, world: World) -> None:
        headers = [world.header(operator_id=h(f"op-{i % 3}")) for i in range(5)]
        prepared, _ = world.client.prepare_anchor_batch(world.lab, EL, headers)
        ordered = sorted(headers, key=lambda x: x.record_id)
        operators = list(dict.fromkeys(x.operator_id for x in ordered))
        compact = [(x.record_id, x.measured_at, 0, operators.index(x.operator_id)) for x in ordered]
        fn = world.client.ledger.functions.anchorBatch(EL, [(world.instrument, world.certificate)], operators, compact)
        assert calldata(fn) == bytes.fromhex(fn._encode_transaction_data()[2:])
        world.client.send_prepared(prepared)
        assert bytes(world.client.w3.eth.get_transaction(prepared.tx_hash)["input"]) == calldata(fn)

    def test_tier_c_root_and_batched_revoke(self, world: World) -> None:
        ids = [os.urandom(32) for _ in range(10)]
        receipt = world.client.anchor_root(world.lab, ids, h("schema:xrf/1"))
        assert receipt.root == merkle.root(ids)
        world.client.revoke(world.lab, ids[3], h("typo"), receipt.root, merkle.proof(ids, 3))
        assert world.client.status(ids[3], receipt.root, merkle.proof(ids, 3), world.lab) is OnChainStatus.REVOKED
        assert world.client.status(ids[4], receipt.root, merkle.proof(ids, 4), world.lab) is OnChainStatus.ANCHORED

    def test_revoke_and_supersede_tier_a(self, world: World) -> None:
        old, new = world.header(), world.header()
        world.client.anchor(world.lab, EL, old)
        world.client.anchor(world.lab, EL, new)
        world.client.supersede(world.lab, old.record_id, new.record_id, h("amendment"))
        assert world.client.status(old.record_id, submitter=world.lab) is OnChainStatus.SUPERSEDED
        assert world.client.superseded_by(old.record_id, world.lab) == new.record_id
        world.client.revoke(world.regulator, new.record_id, h("withdrawn"), submitter=world.lab)
        assert world.client.status(new.record_id, submitter=world.lab) is OnChainStatus.REVOKED
        with pytest.raises(TransactionReverted) as refused:
            world.client.revoke(world.lab, new.record_id, h("again"))
        assert refused.value.code == "NOT_IN_FORCE"

    def test_unknown_signer_and_wrong_chain_are_refused(self, world: World) -> None:
        with pytest.raises(ChainError, match="no key for"):
            world.client.anchor(Account.create().address, EL, world.header())
        assert world.client.deployment is not None
        other = world.client.deployment.__class__(999, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 0)
        with pytest.raises(ChainError, match="chain 999"):
            world.client.attach(other)

    def test_a_hostile_member_cannot_revoke_through_a_root_of_its_own(self, world: World) -> None:
        """Issue 13: raw transactions from another member, built from the committed ABI, against the lab's
        batched record: a root of its own holding the lab's id, then revocations under every root."""
        ids = [os.urandom(32) for _ in range(4)]
        receipt = world.client.anchor_root(world.lab, ids, h("schema:xrf/1"))
        victim = ids[2]
        own = [victim, os.urandom(32)]
        hostile = world.client.anchor_root(world.rogue, own, h("schema:xrf/1"))
        world.client.revoke(world.rogue, victim, h("hostile"), hostile.root, merkle.proof(own, 0))
        with pytest.raises(TransactionReverted) as refused:
            world.client.revoke(
                world.rogue, victim, h("hostile"), receipt.root, merkle.proof(ids, 2), submitter=world.lab
            )
        assert refused.value.name == "QualityLedgerNotSubmitter"
        assert refused.value.code == "FORBIDDEN"
        with pytest.raises(TransactionReverted) as refused:
            world.client.revoke(world.rogue, victim, h("hostile"), hostile.root, merkle.proof(own, 0), world.lab)
        assert refused.value.code == "NOT_ANCHORED"
        assert world.client.status(victim, receipt.root, merkle.proof(ids, 2), world.lab) is OnChainStatus.ANCHORED
        assert world.client.status(victim, hostile.root, merkle.proof(own, 0), world.rogue) is OnChainStatus.REVOKED
        # The lab still revokes its own.
        world.client.revoke(world.lab, victim, h("own"), receipt.root, merkle.proof(ids, 2))
        assert world.client.status(victim, receipt.root, merkle.proof(ids, 2), world.lab) is OnChainStatus.REVOKED

    def test_a_hostile_member_cannot_claim_a_record_or_use_another_labs_calibration(self, world: World) -> None:
        header = world.header()
        # The rogue lab copies the lab's header: the instrument and calibration are the lab's, not its own.
        with pytest.raises(TransactionReverted) as refused:
            world.client.anchor(world.rogue, EL, header)
        assert refused.value.code == "CALIBRATION_NOT_ANCHORED"
        # It anchors the lab's digest first in tier C: the lab anchors its own record all the same.
        world.client.anchor_root(world.rogue, [header.record_id], h("schema:el/1"))
        world.client.anchor(world.lab, EL, header)
        assert world.client.status(header.record_id, submitter=world.lab) is OnChainStatus.ANCHORED
        # The lab's certificate does not calibrate the rogue's instrument of the same id.
        world.client.register_instrument(world.rogue, world.instrument, h("model"))
        with pytest.raises(TransactionReverted) as refused:
            world.client.register_calibration(world.rogue, world.instrument, world.certificate, issuer=world.cal_lab)
        assert refused.value.name == "CalibrationNotForInstrument"

    def test_only_a_reference_body_declares_a_traceability_root(self, world: World) -> None:
        # A calibration lab, accredited for certificates, and a hostile lab: each on an instrument of its own.
        standard = h("standard")
        for member in (world.cal_lab, world.rogue):
            world.client.register_instrument(member, standard, h("model"))
            with pytest.raises(TransactionReverted) as refused:
                world.client.register_reference_calibration(member, standard, h("nmi-x"), world.now, world.now + DAY)
            assert (refused.value.name, refused.value.code) == ("InstrumentNotReferenceBody", "FORBIDDEN")
            assert Web3.to_checksum_address(refused.value.arguments["account"]) == member
            assert world.client.ledger.functions.calibrationOf(member, standard, h("nmi-x")).call()[0] == 0
