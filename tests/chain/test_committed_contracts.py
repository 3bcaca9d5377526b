"""The committed ABI and bytecode deploy and enforce the rules on the embedded EVM, with no compiler."""

from __future__ import annotations

import os
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_tester import EthereumTester, PyEVMBackend
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from ledger_service import merkle
from ledger_service.chain import CONTRACT_NAMES, ERROR_CODES, decode_revert, error_table, load_artifact, revert_data
from ledger_service.chain.web3_client import encode_status_queries

LAB, REGULATOR, REFERENCE_BODY = 1, 4, 32
EL_IMAGE, CALIBRATION_CERTIFICATE = 2, 1
DAY = 86_400


def _h(label: str) -> bytes:
    return Web3.keccak(text=label)


@pytest.fixture(scope="module")
def chain() -> dict[str, Any]:
    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    lab, cal_lab, regulator, nmi_body = w3.eth.accounts[:4]
    now = w3.eth.get_block("latest")["timestamp"]
    year = now + 365 * DAY
    none = (b"\0" * 32, b"\0" * 32, b"\0" * 32, 0, 0)
    founders = [
        (
            lab,
            _h("LAB"),
            LAB,
            (b"CNAS".ljust(32, b"\0"), b"L1".ljust(32, b"\0"), _h("scope"), 1 << EL_IMAGE, year),
        ),
        (cal_lab, _h("CAL"), LAB, (b"CNAS".ljust(32, b"\0"), b"L2".ljust(32, b"\0"), _h("s2"), 1 << 1, year)),
        (regulator, _h("REG"), REGULATOR, none),
        (
            nmi_body,
            _h("NMI"),
            LAB | REFERENCE_BODY,
            (b"CNAS".ljust(32, b"\0"), b"L3".ljust(32, b"\0"), _h("s3"), 1 << 1, year),
        ),
    ]

    def deploy(name: str, *args: Any) -> Any:
        art = load_artifact(name)
        tx = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).transact({"from": lab})
        address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
        return w3.eth.contract(address=address, abi=art.abi)

    registry = deploy("ConsortiumRegistry", founders, 5000, 3, 7 * DAY, 0)
    ledger = deploy("QualityLedger", registry.address)
    registry.functions.bindLedger(ledger.address).transact({"from": lab})
    # The reference body's primary standard (its own declaration) calibrates the calibration lab's reference.
    primary, declaration = _h("primary"), _h("declaration")
    ledger.functions.registerInstrument(primary, b"\0" * 32).transact({"from": nmi_body})
    declare = ledger.functions.registerReferenceCalibration(primary, declaration, now - 60 * DAY, year)
    declare.transact({"from": nmi_body})
    reference, nmi, instrument, cert = _h("ref"), _h("nmi"), _h("camera"), _h("cert")
    reference_terms = (reference, cal_lab, now - 30 * DAY, year)
    nmi_header = (nmi, primary, declaration, _h("op-nmi"), now - 2 * DAY)
    ledger.functions.anchorCalibration(nmi_header, reference_terms).transact({"from": nmi_body})
    ledger.functions.registerInstrument(reference, b"\0" * 32).transact({"from": cal_lab})
    ledger.functions.registerCalibration(reference, nmi_body, nmi).transact({"from": cal_lab})
    terms = (instrument, lab, now - 30 * DAY, now + 300 * DAY)
    ledger.functions.anchorCalibration((cert, reference, nmi, _h("op"), now - DAY), terms).transact({"from": cal_lab})
    ledger.functions.registerInstrument(instrument, b"\0" * 32).transact({"from": lab})
    ledger.functions.registerCalibration(instrument, cal_lab, cert).transact({"from": lab})
    return {
        "w3": w3,
        "ledger": ledger,
        "lab": lab,
        "cal_lab": cal_lab,
        "instrument": instrument,
        "reference": reference,
        "cert": cert,
        "now": now,
    }


def test_every_contract_is_committed_with_abi_and_bytecode() -> None:
    for name in CONTRACT_NAMES:
        art = load_artifact(name)
        assert art.name == name
        assert art.bytecode.startswith("0x") and len(art.bytecode) > len(art.deployed_bytecode) > 1000
    names = {entry[0] for entry in error_table().values()}
    assert {"QualityLedgerZeroOperator", "ConsortiumNotActiveMember", "RecallNotEscrowAgent"} <= names


def test_tier_a_anchor_is_enforced_and_its_custom_error_decoded(chain: dict[str, Any]) -> None:
    ledger, lab, now = chain["ledger"], chain["lab"], chain["now"]
    good = (_h("record-1"), chain["instrument"], chain["cert"], _h("alice"), now - 60)
    ledger.functions.anchor(EL_IMAGE, good).transact({"from": lab})
    assert ledger.functions.recordOf(lab, good[0]).call()[3] == 1  # RecordStatus.Anchored

    bad = (_h("record-2"), chain["instrument"], chain["cert"], b"\0" * 32, now - 60)
    with pytest.raises(Exception) as refused:  # noqa: B017 - clients differ; revert_data reads them all
        ledger.functions.anchor(EL_IMAGE, bad).transact({"from": lab})
    data = revert_data(refused.value)
    assert data is not None
    reverted = decode_revert(data)
    assert reverted.name == "QualityLedgerZeroOperator"
    assert reverted.arguments == {"recordId": bad[0]}


def test_a_reference_calibration_needs_the_reference_body_role(chain: dict[str, Any]) -> None:
    """Issue 13: an accredited calibration lab's word is no traceability root (docs/threat-model.md)."""
    ledger, cal_lab, now = chain["ledger"], chain["cal_lab"], chain["now"]
    with pytest.raises(Exception) as refused:  # noqa: B017 - clients differ; revert_data reads them all
        ledger.functions.registerReferenceCalibration(chain["reference"], _h("own word"), now, now + DAY).transact(
            {"from": cal_lab}
        )
    data = revert_data(refused.value)
    assert data is not None
    reverted = decode_revert(data)
    assert (reverted.name, reverted.code) == ("InstrumentNotReferenceBody", "FORBIDDEN")
    assert Web3.to_checksum_address(reverted.arguments["account"]) == cal_lab
    # Its reference standard keeps the one calibration it has: the reference body's certificate, not external.
    assert ledger.functions.calibrationHistory(cal_lab, chain["reference"]).call() == [_h("nmi")]
    assert ledger.functions.calibrationOf(cal_lab, chain["reference"], _h("nmi")).call()[4] is False


def test_tier_b_root_equals_the_python_merkle_root(chain: dict[str, Any]) -> None:
    ledger, lab, now = chain["ledger"], chain["lab"], chain["now"]
    ids = sorted(_h(f"batch-{i}") for i in range(11))
    headers = [(r, now - 120, 0, 0) for r in ids]
    tx = ledger.functions.anchorBatch(EL_IMAGE, [(chain["instrument"], chain["cert"])], [_h("op")], headers)
    receipt = chain["w3"].eth.wait_for_transaction_receipt(tx.transact({"from": lab}))
    (event,) = ledger.events.BatchAnchored().process_receipt(receipt)
    expected = merkle.root(ids)
    assert event["args"]["root"] == expected
    for i in (0, 5, 10):
        p = merkle.proof(ids, i)
        assert merkle.verify(ids[i], p, expected)
        assert ledger.functions.statusOf((lab, ids[i], expected, p)).call() == 1
    assert not merkle.verify(ids[1], merkle.proof(ids, 2), expected)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64, 65])
def test_python_merkle_proofs_verify_for_every_leaf(count: int) -> None:
    ids = [os.urandom(32) for _ in range(count)]
    r = merkle.root(ids)
    assert all(merkle.verify(ids[i], merkle.proof(ids, i), r) for i in range(count))
    assert merkle.proofs(ids) == [merkle.proof(ids, i) for i in range(count)]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=20, max_size=20), st.binary(min_size=32, max_size=32),
                  st.binary(min_size=32, max_size=32), st.lists(st.binary(min_size=32, max_size=32), max_size=12)),
        max_size=20,
    )
)  # fmt: skip
def test_status_queries_are_encoded_as_eth_abi_encodes_them(
    queries: list[tuple[bytes, bytes, bytes, list[bytes]]],
) -> None:
    assert encode_status_queries(queries) == abi_encode(["(address,bytes32,bytes32,bytes32[])[]"], [queries])
    if queries:
        a, r, root, proof = queries[0]
        with pytest.raises(ValueError, match="32 bytes each"):
            encode_status_queries([(a, r[:31], root, proof)])
        with pytest.raises(ValueError, match="20-byte"):
            encode_status_queries([(a[:19], r, root, proof)])


def test_every_custom_error_in_the_committed_abis_maps_to_a_stable_code() -> None:
    """A contract error added without a code would reach API clients as the catch-all CHAIN_REFUSED."""

    declared = {name for name, _, _ in error_table().values()}
    assert sorted(declared - ERROR_CODES.keys()) == [], "custom errors with no stable code"
    assert sorted(ERROR_CODES.keys() - declared) == [], "codes for errors no contract declares any more"
    assert all(code.isupper() and " " not in code and code != "CHAIN_REFUSED" for code in ERROR_CODES.values())
    for selector, (name, _, types) in error_table().items():  # every one decodes to its own code
        data = selector + abi_encode(list(types), [_zero(t) for t in types])
        assert decode_revert(data).code == ERROR_CODES[name]


def _zero(abi_type: str) -> Any:
    if abi_type.endswith("]"):
        return []
    if abi_type.startswith("("):
        return tuple(_zero(t) for t in abi_type[1:-1].split(","))
    if abi_type == "address":
        return "0x" + "00" * 20
    if abi_type.startswith("bytes") and abi_type != "bytes":
        return b"\0" * int(abi_type[5:])
    if abi_type in ("bytes", "string"):
        return b"" if abi_type == "bytes" else ""
    if abi_type == "bool":
        return False
    return 0
