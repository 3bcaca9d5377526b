"""The batch reads' own ABI coding (ledger_service/chain/web3_client.py: encode_static, decode_static and the
statusOf argument): byte for byte what eth-abi encodes and decodes, and a refusal wherever eth-abi would
refuse an answer (the reader then reads it the ordinary way, through web3)."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode, encode

from ledger_service.chain.web3_client import _view, _word, decode_static, encode_static, encode_status_queries

ACCOUNT = "0x" + "ab" * 20


@pytest.mark.parametrize(
    ("contract", "name"),
    [
        ("ConsortiumRegistry", "accountOf"),
        ("ConsortiumRegistry", "memberOf"),
        ("QualityLedger", "rootOf"),
        ("QualityLedger", "recordOf"),
        ("QualityLedger", "calibrationOf"),
        ("QualityLedger", "certificateOf"),
        ("QualityLedger", "statusOf"),
    ],
)
def test_the_views_are_coded_as_eth_abi_codes_them(contract: str, name: str) -> None:
    _, inputs, outputs = _view(contract, name)
    sample = {"address": ACCOUNT, "bytes32": b"\x07" * 32, "bool": True}
    if name != "statusOf":
        args = [sample[t] for t in inputs]
        assert encode_static(inputs, args) == encode(list(inputs), args)
    fields = outputs[0].strip("()").split(",")
    values = tuple(sample.get(t, 2 ** int(t[4:]) - 1 if t.startswith("uint") else 0) for t in fields)
    value = (values,) if outputs[0].startswith("(") else values
    data = encode(list(outputs), list(value))
    assert decode_static(outputs, data) == tuple(decode(list(outputs), data))


def test_the_status_argument_is_statusofs_tuple() -> None:
    _, inputs, _ = _view("QualityLedger", "statusOf")
    query = (bytes.fromhex(ACCOUNT[2:]), b"\x01" * 32, b"\x02" * 32, [b"\x03" * 32, b"\x04" * 32])
    ours = _word(32) + encode_status_queries([query])[96:]
    assert ours == encode(list(inputs), [(ACCOUNT, *query[1:3], query[3])])


@pytest.mark.parametrize(
    "data",
    [
        b"",  # no contract there answers "0x"
        b"\x00" * 31,
        b"\x00" * 32 * 5 + b"\x00" * 32,  # longer than the types
        b"\x01" + b"\x00" * 31 + b"\x00" * 32 * 4,  # an address with bytes in its padding
        b"\x00" * 32 + (1 << 40).to_bytes(32, "big") + b"\x00" * 32 * 3,  # past uint40
    ],
)
def test_an_answer_eth_abi_would_refuse_or_read_otherwise_is_refused(data: bytes) -> None:
    _, _, outputs = _view("QualityLedger", "rootOf")  # (address,uint40,uint8,uint8,uint32)
    with pytest.raises(ValueError):
        decode_static(outputs, data)


def test_a_bool_that_is_not_0_or_1_is_refused() -> None:
    _, _, outputs = _view("QualityLedger", "calibrationOf")  # (uint40,uint40,uint40,bool,bool)
    with pytest.raises(ValueError):
        decode_static(outputs, b"\x00" * 32 * 3 + (2).to_bytes(32, "big") + b"\x00" * 32)


def test_other_types_are_left_to_eth_abi() -> None:
    data = encode(["uint8[]"], [[1, 2]])
    assert decode_static(["uint8[]"], data) == ((1, 2),)
    assert encode_static(["bytes32[]"], [[b"\x01" * 32]]) == encode(["bytes32[]"], [[b"\x01" * 32]])
