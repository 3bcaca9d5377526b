"""The London build of the contracts (for clique chains): same ABI as the Cancun one, no opcode London lacks,
chosen by the chain's fork."""

from __future__ import annotations

import pytest

from ledger_service.chain import CONTRACT_NAMES, load_artifact
from ledger_service.chain.inprocess import InProcessEvmClient
from ledger_service.errors import ChainError

# Shanghai's PUSH0, Cancun's TLOAD, TSTORE, MCOPY, BLOBHASH, BLOBBASEFEE.
LATER_OPCODES = {0x5F, 0x5C, 0x5D, 0x5E, 0x49, 0x4A}


def opcodes(code: str) -> set[int]:
    raw = bytes.fromhex(code.removeprefix("0x"))
    raw = raw[: len(raw) - 2 - int.from_bytes(raw[-2:], "big")]  # the CBOR metadata trailer is data, not code
    seen, i = set(), 0
    while i < len(raw):
        op = raw[i]
        seen.add(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return seen


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_london_build_shares_the_abi_and_uses_no_later_opcode(name: str) -> None:
    london, cancun = load_artifact(name, "london"), load_artifact(name)
    assert london.abi == cancun.abi
    assert london.bytecode != cancun.bytecode
    assert not opcodes(london.deployed_bytecode) & LATER_OPCODES
    assert not opcodes(london.bytecode) & LATER_OPCODES


def test_the_walk_sees_push0_in_the_cancun_build() -> None:
    assert 0x5F in opcodes(load_artifact("QualityLedger").deployed_bytecode)


def test_unknown_evm_is_refused() -> None:
    with pytest.raises(ChainError, match="no build for EVM 'shanghai'"):
        load_artifact("QualityLedger", "shanghai")


def test_the_build_follows_the_chains_fork() -> None:
    chain = InProcessEvmClient()  # Cancun: its blocks carry a withdrawals root
    assert chain.chain_evm() == "cancun"
    chain.evm_version = "london"  # as set for a chain whose fork is known
    assert chain.chain_evm() == "london"
