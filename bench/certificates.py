"""Conformity certificates in a batch: W3C VC credentials built, rendered as PDF/A-3b with a QR code and their
page digests taken, anchored under one root, then the credential embedded (each PDF rewritten), on two worker
processes. The batch covers the eleven languages (each certificate English plus one importer language, as the
RQDMA profile asks). Target (issue #6): at least 10 certificates/s. Baseline in the same run: each certificate
issued alone (its own anchor, its own renderer), and (issue #16) the same batch issued without the proofs
(eddsa-jcs-2022 and SM2: `vc.sign` swapped for the identity in this process, for the baseline only). Also
reported: certificates carrying all eleven languages at once, and the verification of the batch's PDFs one
after another and as one batch (`verify_certificates`: one chain reader, statuses in one call, the visible text
by PDFium in-process; target 20/s), and that batch with the text from one pdftotext process per PDF as before.
Rewrites its RESULTS.md section.

    .venv/bin/python bench/certificates.py [N] [--anvil]

With --anvil the consortium runs on a local anvil node (a JSON-RPC node, as `qledger serve` has in production)
instead of the in-process EVM, whose every read is a py-evm execution (tens of milliseconds an eth_call, and an
eth_getLogs that replays every block); its figures go in a section of their own.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from esg_reports import certificates, i18n, vc  # noqa: E402
from ledger_service.config import Settings  # noqa: E402
from ledger_service.demo import LAB, Demo  # noqa: E402
from ledger_service.runtime import open_runtime  # noqa: E402
from tests.utils.anvil import anvil_node  # noqa: E402

TARGET = 10.0
VERIFY_TARGET = 20.0
BASE = "https://verify.lab.test"


@contextmanager
def text_by_pdftotext() -> Iterator[None]:
    """VisibleText as before: the text of each PDF from a pdftotext process (PDFium's in-process extraction
    turned off, in this process, for this baseline only)."""
    extract = certificates._pdfium_text
    certificates._pdfium_text = lambda _: None  # type: ignore[assignment]
    try:
        yield
    finally:
        certificates._pdfium_text = extract


@contextmanager
def without_proofs() -> Iterator[None]:
    """Issuing as before issue #16: the credential unsigned (the baseline of the proofs' cost)."""
    signing = vc.sign

    def unsigned(document: Any, *_: Any) -> dict[str, Any]:
        return dict(document)

    vc.sign = unsigned  # type: ignore[assignment]
    try:
        yield
    finally:
        vc.sign = signing


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    on_anvil = "--anvil" in sys.argv[1:]
    n = int(args[0]) if args else 200
    alone_n, all11_n = 12, 20
    with ExitStack() as stack:
        d = stack.enter_context(tempfile.TemporaryDirectory())
        url = stack.enter_context(anvil_node("--hardfork", "cancun", "--gas-limit", "100000000")) if on_anvil else None
        runtime = open_runtime(Settings(data_dir=Path(d), chain_url=url))
        stack.callback(runtime.engine.dispose)
        service, keys = runtime.service, runtime.keys
        demo = Demo(service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        demo.enrol_signers()
        kinds = ["xrf_analysis", "el_image", "tensile_test"]
        total = 2 * n + alone_n + all11_n
        ids = [
            s.record_id
            for s in service.submit_many([demo.record(kinds[i % 3], i, signed=True) for i in range(total)], actor=LAB)
        ]
        service.anchor_pending()
        others = [lang for lang in i18n.LANGUAGES if lang != "en"]

        start = time.perf_counter()
        for i, record_id in enumerate(ids[:alone_n]):
            certificates.issue(service, [record_id], ["en", others[i % len(others)]], BASE, keys=keys)
        alone = alone_n / (time.perf_counter() - start)

        batch_ids = ids[alone_n : alone_n + n]
        languages = [["en", others[i % len(others)]] for i in range(n)]
        start = time.perf_counter()
        issued = certificates.issue(service, batch_ids, languages, BASE, workers=2, keys=keys)
        batch = n / (time.perf_counter() - start)

        unsigned_ids = ids[alone_n + n : alone_n + 2 * n]
        start = time.perf_counter()
        with without_proofs():
            certificates.issue(service, unsigned_ids, languages, BASE, workers=2, keys=keys)
        unsigned = n / (time.perf_counter() - start)

        start = time.perf_counter()
        certificates.issue(service, ids[alone_n + 2 * n :], list(i18n.LANGUAGES), BASE, workers=2, keys=keys)
        all11 = all11_n / (time.perf_counter() - start)
        start = time.perf_counter()
        valid = sum(certificates.is_valid(service.verify_certificate(c.pdf)) for c in issued)
        one_by_one = n / (time.perf_counter() - start)
        start = time.perf_counter()
        valid_batch = sum(certificates.is_valid(r) for r in service.verify_certificates([c.pdf for c in issued]))
        verify_rate = n / (time.perf_counter() - start)
        start = time.perf_counter()
        with text_by_pdftotext():
            poppler = service.verify_certificates([c.pdf for c in issued])
        poppler_rate = n / (time.perf_counter() - start)
        valid_poppler = sum(certificates.is_valid(r) for r in poppler)
        same = [[(f.name, f.status, f.reason) for f in r] for r in poppler] == [
            [(f.name, f.status, f.reason) for f in r] for r in service.verify_certificates([c.pdf for c in issued])
        ]
    load = os.getloadavg()
    ok = batch >= TARGET and valid == valid_batch == valid_poppler == n and same
    verdict = "met" if batch >= TARGET else "NOT met"
    verify_verdict = "met" if verify_rate >= VERIFY_TARGET else "NOT met"
    body = "\n".join(
        [
            f"{'anvil (JSON-RPC)' if on_anvil else 'In-process'} chain; {n} records certified in one batch (one"
            " anchoring transaction, rendering on 2 worker",
            "processes), each certificate English + one of the ten other languages, so the batch covers all eleven.",
            "",
            "| run | certificates/s | |",
            "|---|---:|---|",
            f"| batch, English + one language each | {batch:.1f} | target {TARGET:.0f}: {verdict} |",
            f"| baseline: each issued alone (own anchor, own renderer) | {alone:.1f} | batch = {batch / alone:.1f}x |",
            f"| baseline: the same batch without the proofs (eddsa-jcs-2022, SM2) | {unsigned:.1f} |"
            f" with proofs = {batch / unsigned:.2f}x |",
            f"| batch, all eleven languages on every certificate | {all11:.1f} | |",
            f"| verification of the batch's PDFs as one batch (service.verify_certificates) | {verify_rate:.1f} |"
            f" target {VERIFY_TARGET:.0f}: {verify_verdict} |",
            f"| baseline: the same PDFs verified one after another | {one_by_one:.1f} |"
            f" batch = {verify_rate / one_by_one:.1f}x |",
            f"| baseline: the same batch, visible text by a pdftotext process per PDF (before PDFium) |"
            f" {poppler_rate:.1f} | PDFium = {verify_rate / poppler_rate:.2f}x |",
            "",
            "Every PDF of the batch re-verified (revisions, document entries, page digest, anchor and schema,"
            f" template, record, proofs and key binding, record status, visible text): {valid}/{n} valid one by one,"
            f" {valid_batch}/{n} in the batch, {valid_poppler}/{n} with pdftotext; every fragment the same with"
            f" either text extractor: {'yes' if same else 'NO'}.",
            f"Load average at the end of the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (1, 5, 15 min; 2 CPUs).",
            "One-by-one verification against OpenAttestation's oa-verify: bench/verify_peer.py (its own section).",
        ]
    )
    print(body)
    if on_anvil:
        write_section("certificates-anvil", "Certificates on a JSON-RPC node (bench/certificates.py --anvil)", body)
    else:
        write_section("certificates", "Certificates (bench/certificates.py)", body)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
