"""ConsortiumContracts: the record is claimed on the consortium's genuine contracts, those the verifier's trust
anchor leads to (docs/threat-model.md, "a forger with no membership"). A bundle naming another chain or other
contracts is INVALID; a verifier with no trust anchor cannot tell (ERROR, NO_TRUST_ANCHOR)."""

from __future__ import annotations

from ledger_service.verification.builder import Check
from ledger_service.verification.checks._support import is_anchored_record, no_trust_anchor, same_address
from ledger_service.verification.context import Context
from ledger_service.verification.fragment import Fragment, Reason, Status, not_valid, valid
from ledger_service.verification.target import RecordTarget

NAME = "ConsortiumContracts"


def verify(target: RecordTarget, context: Context) -> Fragment:
    trusted = context.trusted
    if trusted is None:
        return no_trust_anchor(NAME, "anchored")
    anchor = target.evidence.anchor
    assert anchor is not None
    claimed_chain = target.claimed.chain_id if target.claimed is not None else anchor.chain_id
    if claimed_chain != trusted.chain_id or anchor.chain_id != trusted.chain_id:
        return not_valid(
            NAME,
            "anchored",
            Status.INVALID,
            Reason.WRONG_CHAIN,
            f"claimed on chain {claimed_chain}; the consortium is chain {trusted.chain_id}",
        )
    names = {"ledger": anchor.ledger}
    if target.claimed is not None:
        names |= {"registry": target.claimed.registry, "ledger": target.claimed.ledger}
    wrong = [k for k, v in names.items() if not same_address(v, getattr(trusted, k))]
    if wrong:
        return not_valid(
            NAME,
            "anchored",
            Status.INVALID,
            Reason.UNTRUSTED_CONTRACTS,
            f"the {' and '.join(wrong)} named are not the consortium's",
            **{k: names[k] for k in wrong},
        )
    return valid(NAME, "anchored", chain_id=trusted.chain_id, registry=trusted.registry, ledger=trusted.ledger)


CHECK = Check(NAME, "anchored", is_anchored_record, verify, Reason.NOT_ANCHORED, "no anchor is claimed for this record")
