"""Verification as the tests run it: a record's evidence against a chain client, the client's deployment
trusted (the verifier beside the ledger)."""

from __future__ import annotations

from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader, Web3ChainClient
from ledger_service.store import ContentStore
from ledger_service.verification import Evidence, Fragment, RecordSource, RecordTarget, record_context, verify


def verify_evidence(
    evidence: Evidence,
    chain: Web3ChainClient,
    store: ContentStore | None = None,
    source: RecordSource = "index",
    claimed: Deployment | None = None,
) -> list[Fragment]:
    return verify(RecordTarget(evidence, source, claimed), record_context(ChainReader(chain), store))


def verify_target(target: RecordTarget, chain: Web3ChainClient, store: ContentStore | None = None) -> list[Fragment]:
    return verify(target, record_context(ChainReader(chain), store))
