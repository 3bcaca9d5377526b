"""What a verification is about (docs/architecture.md section 7): a record (from the index, a record file or a
proof bundle) or a certificate PDF. `load_target` is the one place that tells a file's kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ledger_service import safejson
from ledger_service.chain.types import Deployment
from ledger_service.errors import LedgerError


@dataclass(frozen=True)
class Anchor:
    """Where a record is claimed to be anchored (from the index or a proof bundle)."""

    tier: str
    chain_id: int
    ledger: str
    tx_hash: str
    block_number: int
    block_hash: str | None
    root: str | None
    proof: list[str]


@dataclass(frozen=True)
class Evidence:
    """Everything a verification of one record looks at."""

    record: Mapping[str, Any]  # the record document (its canonical JSON is what was anchored)
    record_id: str  # the claimed record id (SM3 hex)
    anchor: Anchor | None
    attachment_content: Mapping[str, bytes] = field(default_factory=dict)  # name -> content, where supplied
    sha256: str | None = None  # the record's SHA-256 as its source states it (a bundle does), checked too


RecordSource = Literal["index", "file", "bundle"]


@dataclass(frozen=True)
class RecordTarget:
    """A record to verify, and the contracts its source names (a bundle's; the index's own deployment)."""

    evidence: Evidence
    source: RecordSource = "index"
    claimed: Deployment | None = None


@dataclass(frozen=True)
class CertificateTarget:
    """A certificate PDF, as received: every byte of it is evidence. `memo` holds what the checks derive from
    those bytes (the parsed attachment, the visible text, the certified record), computed once per target
    however many checks read it (esg_reports/certificate_checks)."""

    pdf: bytes
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


Target = RecordTarget | CertificateTarget


# A file the user chose, not a request body: a bundle may carry its attachments' content as base64 strings.
_FILE_LIMITS = safejson.Limits(max_string_chars=1 << 28)


class NotATarget(LedgerError, ValueError):
    """A file that is neither a record, a proof bundle nor a certificate PDF; names the field at fault."""


def load_target(data: bytes, attachments: Mapping[str, bytes] | None = None) -> Target:
    """The target a file holds: a PDF is a certificate, JSON with a `format` a proof bundle, other JSON a record
    file (normalised as the ledger stores it). `attachments` are content given beside it (name -> bytes)."""
    from ledger_service.records.validate import normalised_record
    from ledger_service.verification.bundle import read_bundle

    if data.startswith(b"%PDF-"):
        return CertificateTarget(data)
    try:
        document = safejson.loads(data, _FILE_LIMITS)
    except safejson.JsonRefused as error:
        raise NotATarget(f"not JSON or PDF ({error})") from None
    if not isinstance(document, dict):
        raise NotATarget("not a record, a proof bundle or a certificate")
    if "format" in document:
        target = read_bundle(document)
        content = {**target.evidence.attachment_content, **(attachments or {})}
        evidence = replace(target.evidence, attachment_content=content)
        return RecordTarget(evidence, "bundle", target.claimed)
    record_id, normalised = normalised_record(document)
    return RecordTarget(Evidence(normalised, record_id, None, dict(attachments or {})), "file")
