"""What every check may consult: the chain (attached to the consortium's genuine contracts), the content store,
and the trust anchor those contracts were found from (docs/threat-model.md, "a forger with no membership").

A verifier trusts the consortium, never the document: it holds a trust anchor (the chain id and the registry
address, from the trust file the members publish) and reads the ledger's address from that registry. The
contracts a bundle or a certificate names are only compared with those."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger_service import safejson
from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader, Web3ChainClient
from ledger_service.errors import ChainError, ChainUnavailable, LedgerError
from ledger_service.store import ContentStore


@dataclass(frozen=True)
class Context:
    """The verifier's side of a verification."""

    chain: ChainReader
    trusted: Deployment | None  # the consortium's genuine contracts; None: the verifier holds no trust anchor
    store: ContentStore | None = None  # where declared content is fetched by CID, when not given
    skip_content: bool = False  # the user asked not to check attachments' content


class UntrustedAnchor(ChainError):
    """The trust anchor's registry is not a consortium registry bound to a ledger on this chain."""


_ABI: list[dict[str, Any]] = [
    {"type": "function", "name": name, "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "address"}]}
    for name in ("ledger", "consortium")
]  # fmt: skip


@dataclass(frozen=True)
class TrustAnchor:
    """What a verifier trusts: the consortium's chain and registry. A ledger (and recall registry) named beside
    them must be the registry's own: they are a cache, never a second source of truth."""

    chain_id: int
    registry: str
    ledger: str | None = None
    recalls: str | None = None

    def unverified(self) -> Deployment:
        """The deployment as the file states it: for checks that will only find the node down."""
        zero = "0x" + "00" * 20
        return Deployment(self.chain_id, self.registry, self.ledger or zero, self.recalls or zero, 0)


TRUST_FORMAT = "qledger-consortium/1"


def read_trust_anchor(path: Path) -> TrustAnchor:
    """The trust anchor in a consortium trust file (docs/formats.md); LedgerError naming the file otherwise."""
    try:
        doc = safejson.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("format") != TRUST_FORMAT:
            raise ValueError(f"not a qledger consortium file (format {TRUST_FORMAT})")
        chain_id, registry = doc["chain_id"], doc["registry"]
        if not isinstance(chain_id, int) or not _is_address(registry):
            raise ValueError("chain_id must be an integer and registry an address")
        optional = {k: doc.get(k) for k in ("ledger", "recalls")}
        if any(v is not None and not _is_address(v) for v in optional.values()):
            raise ValueError("ledger and recalls, when given, must be addresses")
        return TrustAnchor(chain_id, registry, optional["ledger"], optional["recalls"])
    except (OSError, ValueError, KeyError) as error:
        raise LedgerError(f"{path}: {error}") from None


def _is_address(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 42 and value.startswith("0x") and _hex(value[2:])


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def genuine_deployment(client: Web3ChainClient, anchor: TrustAnchor) -> Deployment:
    """The consortium's contracts from its trust anchor: the ledger is the one the registry is bound to, and it
    must name that registry back. Raises ChainUnavailable for a node that does not answer, UntrustedAnchor
    when the anchor does not lead to a consortium."""
    chain_id, registry = anchor.chain_id, anchor.registry
    w3 = client.w3
    if client.chain_id() != chain_id:
        raise UntrustedAnchor(f"the trust anchor is for chain {chain_id}; the node is chain {client.chain_id()}")

    def read(address: str, name: str) -> str:
        contract = w3.eth.contract(address=w3.to_checksum_address(address), abi=_ABI)
        try:
            return str(client._rpc(getattr(contract.functions, name)().call))
        except ChainUnavailable:
            raise
        except Exception:  # no code there, or a contract of another shape
            raise UntrustedAnchor(f"{address} is not a qledger {name} holder on chain {chain_id}") from None

    ledger = read(registry, "ledger")
    if int(ledger, 16) == 0:
        raise UntrustedAnchor(f"registry {registry} is bound to no ledger")
    if read(ledger, "consortium").lower() != registry.lower():
        raise UntrustedAnchor(f"ledger {ledger} does not name registry {registry} back")
    if anchor.ledger is not None and anchor.ledger.lower() != ledger.lower():
        raise UntrustedAnchor(f"the trust file names ledger {anchor.ledger}; registry {registry} is bound to {ledger}")
    recalls = anchor.recalls or "0x" + "00" * 20
    if anchor.recalls is not None and read(anchor.recalls, "consortium").lower() != registry.lower():
        raise UntrustedAnchor(f"recall registry {anchor.recalls} does not name registry {registry}")
    return Deployment(chain_id, w3.to_checksum_address(registry), ledger, recalls, 0)
