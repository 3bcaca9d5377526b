"""The consortium contracts' ABI and bytecode, committed with the package (no compiler needed at run time).

`hardhat/scripts/export-artifacts.ts` writes them; `hardhat/test/artifacts.test.ts` fails when they are stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from ledger_service.errors import ChainError

CONTRACT_NAMES: Final = ("ConsortiumRegistry", "QualityLedger", "RecallRegistry")


@dataclass(frozen=True)
class ContractArtifact:
    """One compiled contract as exported from the Hardhat project."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> ContractArtifact:
    """Load the committed artifact of one of `CONTRACT_NAMES`."""
    if name not in CONTRACT_NAMES:
        raise ChainError(f"unknown contract {name!r}; expected one of {', '.join(CONTRACT_NAMES)}")
    text = resources.files("ledger_service.chain").joinpath("artifacts", f"{name}.json").read_text("utf-8")
    raw = json.loads(text)
    return ContractArtifact(
        name=raw["contractName"],
        abi=tuple(raw["abi"]),
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
    )
