"""Verification as the tests run it: a record's evidence against a chain client, the client's deployment
trusted (the verifier beside the ledger)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger_service.canonical import canonical_json
from ledger_service.chain.types import Deployment
from ledger_service.chain.web3_client import ChainReader, Web3ChainClient
from ledger_service.config import Settings
from ledger_service.demo import Demo
from ledger_service.digests import digest_bytes
from ledger_service.runtime import Runtime, open_runtime
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


def calibrated_consortium(settings: Settings) -> tuple[Runtime, Demo]:
    """A runtime whose demo consortium is founded and whose instruments are calibrated: the world most
    verification tests start from."""
    runtime = open_runtime(settings)
    demo = Demo(runtime.service, runtime.keys)
    demo.found_consortium()
    demo.calibrate_instruments()
    return runtime, demo


def record_id(doc: dict[str, Any]) -> str:
    """A record document's id: the SM3 of its canonical JSON."""
    return digest_bytes(canonical_json(doc)).sm3_hex


def failing_codes(fragments: list[Fragment]) -> dict[str, str | None]:
    """Each fragment that is not VALID, by check name, with its reason code."""
    return {f.name: (f.reason or {}).get("code") for f in fragments if f.status.value != "VALID"}


@contextmanager
def ingest_without_signature_checks() -> Iterator[None]:
    """A lab that runs its own modified copy of the service: the signature checks at ingest are the lab's
    own, so a hostile lab indexes and anchors what they refuse; verification is everyone's and must still
    catch it (docs/threat-model.md)."""
    from ledger_service.records import validate

    original = validate._signature_faults
    validate._signature_faults = lambda *_: []
    try:
        yield
    finally:
        validate._signature_faults = original
