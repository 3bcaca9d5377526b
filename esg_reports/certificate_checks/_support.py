"""What the certificate checks share: a certificate target's PDF parsed once (its attachment, its visible text),
and the batch step that reads, before any check runs, what many certificates share on chain."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from esg_reports.certificates import Presented, issuer_account, read_certificate, visible_text
from ledger_service.chain.web3_client import ChainReader
from ledger_service.verification.fragment import Fragment
from ledger_service.verification.target import CertificateTarget, RecordTarget, Target

_PRESENTED = "presented"


def presented(target: CertificateTarget) -> Presented | Fragment:
    """The PDF and its parsed attachment, or the CertificateCredential fragment saying why there is none: read
    once per target (its memo), however many checks ask."""
    if _PRESENTED not in target.memo:
        target.memo[_PRESENTED] = read_certificate(target.pdf)
    found: Presented | Fragment = target.memo[_PRESENTED]
    return found


def cert_of(target: CertificateTarget) -> Presented:
    """The parsed certificate of a target a check applies to (`has_credential`)."""
    found = presented(target)
    if not isinstance(found, Presented):
        raise TypeError("the certificate carries no credential to check")
    return found


def is_certificate(target: Target) -> bool:
    return isinstance(target, CertificateTarget)


def has_credential(target: Target) -> bool:
    """A certificate whose attachment parses: what every check after CertificateCredential looks at."""
    return isinstance(target, CertificateTarget) and isinstance(presented(target), Presented)


def prepare(targets: Sequence[CertificateTarget], reader: ChainReader) -> None:
    """Before the checks of a batch run: every PDF parsed, its visible text extracted (PDFium in this process,
    one PDF at a time; a pdftotext process, on every core, for a PDF PDFium does not open), and every record's
    status read in one `statusesOf` call (docs/architecture.md, "Certificates in a batch"). Never raises: a node
    that does not answer is met again by each check, which says ERROR."""
    parsed = [presented(t) for t in targets]
    if len(targets) > 1:
        try:
            with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
                texts = list(pool.map(visible_text, [c.pdf if isinstance(c, Presented) else b"" for c in parsed]))
        except Exception:  # noqa: BLE001 - VisibleText extracts the text itself and reports what fails
            texts = [None] * len(parsed)
        for target, cert, text in zip(targets, parsed, texts, strict=True):
            if isinstance(cert, Presented):
                target.memo[_PRESENTED] = replace(cert, text=text)
    queries = []
    for cert in parsed:
        if isinstance(cert, Presented):
            e = cert.embedded
            try:
                issuer = issuer_account(reader, e.issuer_did)
            except Exception:  # noqa: BLE001 - a node that does not answer: each check meets it and says ERROR
                issuer = None
            if issuer is not None:
                queries.append((bytes.fromhex(e.record_id), e.record_root, list(e.record_proof), issuer))
    if len(queries) > 1:
        try:
            reader.prefetch_statuses(queries)
        except Exception:  # noqa: BLE001 - read one by one by the checks, which report what fails
            pass
    # The certified records' own reads (anchor, calibration, standing, signatures), in two rounds of JSON-RPC
    # batches for the whole batch of certificates (ledger_service/verification/prefetch.py).
    from esg_reports.certificate_checks.certified_record import certified_record
    from ledger_service.verification.prefetch import prefetch_records

    prefetch_records([r for r in map(certified_record, targets) if isinstance(r, RecordTarget)], reader)
