"""Ingest throughput (validate + hash + pin + anchor + index) on the embedded store and anvil, per tier, against
a naive baseline measured in the same run: one transaction per record and one store request per file.

    .venv/bin/python bench/ingest.py [N]        (default 10,000 records per tier)

Targets (issue #3): tier C >= 1,000 records/s, tier B >= 300 records/s. Rewrites its section of RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from ledger_service.config import Settings  # noqa: E402
from ledger_service.demo import LAB, Demo  # noqa: E402
from ledger_service.records import RECORD_TYPE_CODES  # noqa: E402
from ledger_service.runtime import open_runtime  # noqa: E402
from ledger_service.service import LedgerService  # noqa: E402
from tests.utils.anvil import anvil_node  # noqa: E402

TARGET = {"C": 1000.0, "B": 300.0}
KIND = {"C": "xrf_analysis", "B": "el_image"}


def pipeline(service: LedgerService, demo: Demo, kind: str, n: int, offset: int) -> float:
    items = [demo.record(kind, offset + i) for i in range(n)]
    start = time.perf_counter()
    service.submit_many(items, actor=LAB)
    anchored = service.anchor_pending()
    elapsed = time.perf_counter() - start
    assert anchored == n, (anchored, n)
    return n / elapsed


def naive(service: LedgerService, demo: Demo, kind: str, n: int, offset: int) -> float:
    """The baseline: every record on its own (one store request per file, one transaction per record)."""
    items = [demo.record(kind, offset + i) for i in range(n)]
    start = time.perf_counter()
    for raw, files in items:
        submitted = service.submit(raw, files, actor=LAB)
        header = service._header(submitted.record_id, service.store.get(submitted.cid))
        receipt = service.chain.anchor(service.accounts[LAB], RECORD_TYPE_CODES[kind], header)
        service._index_anchor("A", [submitted.record_id], receipt, LAB)
    return n / (time.perf_counter() - start)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    baseline_n = max(50, n // 20)
    rows, ok = [], True
    with anvil_node("--hardfork", "cancun", "--gas-limit", "100000000") as url, tempfile.TemporaryDirectory() as d:
        runtime = open_runtime(Settings(data_dir=Path(d), chain_url=url))
        demo = Demo(runtime.service, runtime.keys)
        demo.found_consortium()
        demo.calibrate_instruments()
        for tier in ("C", "B"):
            rate = pipeline(runtime.service, demo, KIND[tier], n, offset=10**6 * (1 + len(rows)))
            base = naive(runtime.service, demo, KIND[tier], baseline_n, offset=10**6 * (5 + len(rows)))
            ok = ok and rate >= TARGET[tier]
            rows.append(
                f"| {tier} ({KIND[tier]}) | {n} | {rate:,.0f} | {TARGET[tier]:,.0f} | "
                f"{'met' if rate >= TARGET[tier] else 'NOT met'} | {base:,.0f} | x{rate / base:.1f} |"
            )
    body = "\n".join(
        [
            "Embedded block store, SQLite index, anvil (automine). Pipeline: `submit_many` (validate, canonical JSON,",
            "SM3 + SHA-256, pin, index in one transaction per 500 records) then `anchor_pending` (tier B batches of",
            "256 checked headers, tier C roots of 1,024). Baseline: `submit` + one tier A transaction per record.",
            "",
            "| tier | records | records/s | target | | naive baseline records/s | speed-up |",
            "|---|---:|---:|---:|---|---:|---:|",
            *rows,
        ]
    )
    print(body)
    write_section("ingest", "Ingest throughput (bench/ingest.py)", body)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
