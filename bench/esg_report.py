"""The year's ESRS/GRI/SASB/TCFD disclosures over 1,000,000 indexed records (synthetic, generated here straight
into a SQLite index: records, their facts, tier C anchors of 1,024, calibration certificates, recalls and
refusals), rendered as PDF + Inline XBRL + JSON (with its evidence files). Target (issue #6): under 60 s and
under 2 GB of memory. Baseline in the same run: one full scan of the period's facts (the least any report
must read). Rewrites its RESULTS.md section.

    .venv/bin/python bench/esg_report.py [N]
"""

from __future__ import annotations

import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section  # noqa: E402
from esg_reports import render  # noqa: E402
from esg_reports.metrics import Period  # noqa: E402
from esg_reports.report import Entity, build  # noqa: E402
from ledger_service.digests import sm3  # noqa: E402
from ledger_service.index.db import engine_from_url, migrate, session_factory  # noqa: E402

TARGET_S, TARGET_MB = 60.0, 2048
YEAR = 2026
PRODUCTS = ["DM-400", "DM-500", "DM-600", "BT-100", "BT-200"]
KINDS = ["el_image", "xrf_analysis", "ai_inspection", "tensile_test"]
CALIBRATIONS = [sm3(f"certificate {i}".encode()).hex() for i in range(8)]


def generate(path: Path, n: int) -> None:
    rng = random.Random(7)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    stamp = f"{YEAR}-01-01 00:00:00.000000"
    db.executemany(
        "INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(c, "calibration_certificate", "0" * 64, "CAL-NIM", None, None, stamp, stamp, "public", b"{}", None,
          "anchored", None, stamp) for c in CALIBRATIONS],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO record_facts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(c, "calibration_certificate", "CAL-NIM", None, None, f"INSTR-{i}", stamp, None, None, None, None, None,
          CALIBRATIONS[0]) for i, c in enumerate(CALIBRATIONS)],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO certificates VALUES (?,?,?,?,?)",
        [(c, 0, f"INSTR-{i}", f"{YEAR - 1}-06-01 00:00:00.000000", f"{YEAR + 1}-06-01 00:00:00.000000")
         for i, c in enumerate(CALIBRATIONS)],
    )  # fmt: skip
    batch = 50_000
    for start in range(0, n, batch):
        records, facts, anchors = [], [], []
        for i in range(start, min(n, start + batch)):
            record_id = sm3(i.to_bytes(8, "big")).hex()
            kind = KINDS[i % 4]
            product = PRODUCTS[i % 5]
            lot = f"LOT-{product}-{i // 5000:04d}"
            when = f"{YEAR}-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00.000000"
            records.append((record_id, kind, "0" * 64, "LAB-SZ", lot, product, when, when, "public", b"{}", None,
                            "anchored", None, when))  # fmt: skip
            outcome = screening = critical = stage = degradation = None
            if kind == "el_image":
                stage = "initial" if i % 3 else "after TC200"
                outcome = "fail" if rng.random() < 0.03 else "pass"
                degradation = rng.random() * 3 if stage != "initial" else None
            elif kind == "xrf_analysis":
                screening = rng.choices(["BL", "X", "OL"], [0.95, 0.04, 0.01])[0]
                outcome = {"BL": "pass", "X": "inconclusive", "OL": "fail"}[screening]
                critical = rng.random() * 5
            elif kind == "ai_inspection":
                outcome = "fail" if rng.random() < 0.02 else "pass"
            facts.append((record_id, kind, "LAB-SZ", product, lot, f"UNIT-{i // 2}", when, outcome, screening,
                          critical, stage, degradation, CALIBRATIONS[i % 8]))  # fmt: skip
            root = sm3(f"root {i // 1024}".encode()).hex()
            anchors.append((record_id, "C", 31337, "0x" + "11" * 20, "0x" + sm3(root.encode()).hex(),
                            1000 + i // 1024, 1_700_000_000 + i // 1024, root, i % 1024, "[]"))  # fmt: skip
        db.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", records)
        db.executemany("INSERT INTO record_facts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", facts)
        db.executemany("INSERT INTO anchors VALUES (?,?,?,?,?,?,?,?,?,?)", anchors)
    db.executemany(
        "INSERT INTO audit_trail (at, actor, action, record_id, field, old_value, new_value, reason) "
        "VALUES (?,?,?,?,?,?,?,?)",
        [(f"{YEAR}-0{m}-15 00:00:00.000000", "REG-CN", "recall_open", None, "lot", f'"LOT-DM-400-{m:04d}"', str(m),
          "field failures") for m in (3, 6)],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO refusals (at, actor, record_type, missing_mandatory, codes) VALUES (?,?,?,?,?)",
        [(f"{YEAR}-05-01 00:00:00.000000", "LAB-SZ", "el_image", 1, '["MISSING_FIELD"]')] * 240,
    )
    db.commit()
    db.close()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "index.db"
        engine = engine_from_url(f"sqlite:///{path}")
        migrate(engine)
        start = time.perf_counter()
        generate(path, n)
        generated = time.perf_counter() - start
        sessions = session_factory(engine)

        start = time.perf_counter()
        with sessions() as session:
            scanned = sum(1 for _ in session.connection().exec_driver_sql(
                "SELECT record_id, outcome FROM record_facts WHERE measured_at >= ? AND measured_at < ?",
                (f"{YEAR}-01-01", f"{YEAR + 1}-01-01")))  # fmt: skip
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        with sessions.begin() as session:
            report = build(
                session, entity=Entity("Bench Modules Co.", "529900QLEDGERBENCH07"), period=Period.year(YEAR)
            )
        built = time.perf_counter() - start
        outputs = render.write(report, Path(d) / "out", ["pdf", "ixbrl", "json"])
        total = time.perf_counter() - start
        sizes = {k: p.stat().st_size for k, p in outputs.items()}
        evidence_mb = sum(f.stat().st_size for f in (Path(d) / "out" / "evidence").iterdir()) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = total < TARGET_S and peak_mb < TARGET_MB and scanned == n + len(CALIBRATIONS)
    body = "\n".join(
        [
            f"{n:,} synthetic records in a SQLite index (generated in {generated:.0f} s, not counted), all four",
            "frameworks, PDF + Inline XBRL + JSON with evidence files.",
            "",
            "| step | s |",
            "|---|---:|",
            f"| metrics with evidence (facts + anchor index) | {built:.1f} |",
            f"| rendering PDF, iXBRL, JSON, evidence files | {total - built:.1f} |",
            f"| **total** | **{total:.1f}** (target < {TARGET_S:.0f}) |",
            "",
            f"Peak memory (max RSS) {peak_mb:,.0f} MB (target < {TARGET_MB:,}). Baseline in the same run: one scan of",
            f"the period's facts {baseline:.1f} s; the report takes {total / baseline:.1f}x that.",
            f"Outputs: PDF {sizes['pdf'] / 1e3:,.0f} kB, iXBRL {sizes['ixbrl'] / 1e3:,.0f} kB, JSON "
            f"{sizes['json'] / 1e3:,.0f} kB, evidence files {evidence_mb:,.0f} MB.",
            "",
            f"Result: {'met' if ok else 'NOT met'}.",
        ]
    )
    print(body)
    write_section("esg", "ESG report over 1,000,000 records (bench/esg_report.py)", body)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
