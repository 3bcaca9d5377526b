"""The consortium contracts' ABI and bytecode, committed with the package (no compiler needed at run time).

`hardhat/scripts/export-artifacts.ts` writes them; `hardhat/checks/artifacts.test.ts` fails when they are stale.
Two builds of the same sources: for Cancun (the default: anvil, the in-process EVM, Besu) and, in `london/`,
for chains whose highest fork is London (geth's clique, which refuses Shanghai: no PUSH0, no MCOPY);
docs/architecture.md section 10.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from ledger_service.errors import ChainError

CONTRACT_NAMES: Final = ("ConsortiumRegistry", "QualityLedger", "RecallRegistry")
EVM_VERSIONS: Final = ("cancun", "london")


@dataclass(frozen=True)
class ContractArtifact:
    """One compiled contract as exported from the Hardhat project."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str, evm: str = "cancun") -> ContractArtifact:
    """Load the committed artifact of one of `CONTRACT_NAMES`, compiled for `evm` (one of `EVM_VERSIONS`)."""
    if name not in CONTRACT_NAMES:
        raise ChainError(f"unknown contract {name!r}; expected one of {', '.join(CONTRACT_NAMES)}")
    if evm not in EVM_VERSIONS:
        raise ChainError(f"no build for EVM {evm!r}; expected one of {', '.join(EVM_VERSIONS)}")
    folder = resources.files("ledger_service.chain").joinpath("artifacts")
    text = (folder if evm == "cancun" else folder.joinpath(evm)).joinpath(f"{name}.json").read_text("utf-8")
    raw = json.loads(text)
    return ContractArtifact(
        name=raw["contractName"],
        abi=tuple(raw["abi"]),
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
    )
