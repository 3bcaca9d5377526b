"""The report's work split over processes (docs/architecture.md, "ESG reports"): the pack's values.jsonl written by
a child that reads the index apart (esg_reports/pack.py, `start_values`) and a large report's CSV written by a
forked child (esg_reports/render.py, `_csv_in_child`) must give byte for byte what one process writes, and a child
that fails must fail the report, naming the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.esg_report import PRODUCTS, YEAR, generate
from esg_reports import facts, pack, render
from esg_reports.metrics import Inputs, Period, Scope
from esg_reports.report import Entity, Report, build
from ledger_service.errors import LedgerError
from ledger_service.index.db import engine_from_url, migrate, session_factory


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path = tmp_path_factory.mktemp("index") / "index.db"
    engine = engine_from_url(f"sqlite:///{path}")
    migrate(engine)
    generate(path, 1500)
    db = sqlite3.connect(path)
    with db:  # some records revoked and some not anchored: values that differ per record
        db.execute("UPDATE records SET status = 'revoked' WHERE rowid % 17 = 3 AND record_type = 'el_image'")
        db.execute("DELETE FROM anchors WHERE rowid % 13 = 5")
    db.close()
    yield session_factory(engine)
    engine.dispose()


def _report(sessions: Any) -> Report:
    with sessions.begin() as session:
        report = build(
            session,
            entity=Entity("Bench Modules Co.", "529900QLEDGERBENCH07"),
            period=Period.year(YEAR),
            inputs=Inputs(recalls=(), product_mass_kg=tuple((p, 20.0 + k) for k, p in enumerate(PRODUCTS))),
        )
    report.generated_at = datetime(YEAR + 1, 1, 15, tzinfo=UTC)  # the same document both ways
    return report


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_the_csv_a_child_writes_is_the_one_this_process_writes(
    sessions: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _report(sessions)
    rows = sum(len(m.evidence.record_ids) for m in report.metrics.values())
    assert rows > 1000
    alone = render.write(report, tmp_path / "alone", ["json", "csv"])
    assert render._csv_in_child(report, tmp_path / "unused.csv") is None  # a small report: no child
    monkeypatch.setattr(render, "CSV_CHILD_MIN", 1)
    children = render.write(report, tmp_path / "child", ["json", "csv"])
    assert alone["csv"].read_bytes() == children["csv"].read_bytes()
    empty = sum(not m.evidence.record_ids for m in report.metrics.values())  # a row with the value alone
    assert alone["csv"].read_text().count("\n") == 1 + rows + empty  # the header, a row per evidence record
    assert _files(tmp_path / "alone") == _files(tmp_path / "child")

    def broken(report: Report, out: Any, chunk: int = 0) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(render, "_write_csv", broken)  # the fork inherits it: the child fails
    with pytest.raises(OSError, match=r"esg-2026\.csv: the process writing it failed"):
        render.write(report, tmp_path / "failing", ["json", "csv"])
    assert not (tmp_path / "failing" / "esg-2026.csv").exists()


def test_the_values_a_child_writes_are_the_ones_the_pack_writes(sessions: Any, tmp_path: Path) -> None:
    report = _report(sessions)
    service = SimpleNamespace(sessions=sessions)
    alone = pack.write_pack(service, report, tmp_path / "alone")
    with sessions.begin() as session:
        assert facts.refresh(session) == 0  # committed: what the child reads is what the report counted
    pending = pack.start_values(sessions, report.scope, tmp_path / "child")
    assert pending is not None
    child = pack.write_pack(service, report, tmp_path / "child", values=pending)
    assert pending.process.exitcode == 0
    assert _files(alone) == _files(child)
    lines = (child / "values.jsonl").read_text().splitlines()
    assert len(lines) > 1500 and any('"status": "revoked"' in x for x in lines)
    assert any('"anchored": false' in x for x in lines)


def test_values_of_another_scope_or_a_failing_child_are_refused(
    sessions: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _report(sessions)
    service = SimpleNamespace(sessions=sessions)
    other = pack.start_values(sessions, Scope(products=("DM-400",)), tmp_path / "pack")
    assert other is not None
    with pytest.raises(ValueError, match="values of another scope"):
        pack.write_pack(service, report, tmp_path / "pack", values=other)
    other.process.join()
    elsewhere = pack.start_values(sessions, report.scope, tmp_path / "elsewhere")
    assert elsewhere is not None
    with pytest.raises(ValueError, match="another scope or pack"):
        pack.write_pack(service, report, tmp_path / "pack", values=elsewhere)
    elsewhere.process.join()

    def broken(session: Any, report: Any) -> Iterator[str]:
        raise RuntimeError("index unreadable")
        yield ""

    monkeypatch.setattr(pack, "population_lines", broken)
    failing = pack.start_values(sessions, report.scope, tmp_path / "failing")
    assert failing is not None
    with pytest.raises(LedgerError, match=r"values\.jsonl: the process writing the values failed"):
        pack.write_pack(service, report, tmp_path / "failing", values=failing)
    assert not (tmp_path / "failing" / "values.jsonl").exists()


def test_no_child_reads_an_index_it_cannot_open() -> None:
    engine = engine_from_url("sqlite://")  # in memory: a child's own connection would see an empty database
    assert pack.start_values(session_factory(engine), Scope(), Path("unused")) is None


def test_a_pack_that_fails_before_its_values_are_used_stops_the_child(sessions: Any, tmp_path: Path) -> None:
    report = _report(sessions)

    def unreachable_chain(**_: Any) -> Any:
        raise LedgerError("CHAIN_UNAVAILABLE: the anchoring node does not answer")

    service = SimpleNamespace(sessions=sessions, anchor_digests=unreachable_chain)
    pending = pack.start_values(sessions, report.scope, tmp_path / "pack")
    assert pending is not None
    with pytest.raises(LedgerError, match="CHAIN_UNAVAILABLE"):
        pack.anchored_pack(service, report, tmp_path / "pack", member="LAB-SZ", values=pending)
    assert not pending.process.is_alive() and not (tmp_path / "pack" / "values.jsonl").exists()
