"""The pack's values.jsonl on SQLite comes from three id-ordered streams merged in Python (esg_reports/pack.py,
`_population_rows`); it must say exactly what the join says, for every scope, on an index where records are
revoked, confidential to another member or not anchored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from bench.esg_report import generate
from esg_reports import pack
from esg_reports.metrics import Scope
from esg_reports.report import Report
from ledger_service.index.db import engine_from_url, migrate, session_factory


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("index") / "index.db"
    migrate(engine_from_url(f"sqlite:///{path}"))
    generate(path, 600)
    db = sqlite3.connect(path)
    ids = [
        r for (r,) in db.execute("SELECT record_id FROM record_facts WHERE record_type != 'calibration_certificate'")
    ]
    with db:
        for rid in ids[::7]:
            db.execute("UPDATE records SET status = 'revoked' WHERE id = ?", (rid,))
        for rid in ids[::11]:
            db.execute("UPDATE records SET confidentiality = 'confidential' WHERE id = ?", (rid,))
            db.execute("UPDATE record_facts SET lab_member = 'LAB-BJ' WHERE record_id = ?", (rid,))
        for rid in ids[::13]:
            db.execute("DELETE FROM anchors WHERE record_id = ?", (rid,))
        db.execute("DELETE FROM records WHERE id = ?", (ids[5],))  # a fact whose record is gone: left out
    db.close()
    return path


@pytest.mark.parametrize(
    "scope",
    [Scope(), Scope(viewer="LAB-SZ"), Scope(viewer="LAB-BJ"), Scope(products=("DM-400",), members=("LAB-SZ",))],
    ids=["everyone", "viewer LAB-SZ", "viewer LAB-BJ", "one product and member"],
)
def test_merged_streams_say_what_the_join_says(index: Path, scope: Scope, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = session_factory(engine_from_url(f"sqlite:///{index}"))
    report = cast(Report, SimpleNamespace(scope=scope))
    with sessions() as session:
        assert pack._merge_streams(session)
        merged = list(pack.population_lines(session, report))
        monkeypatch.setattr(pack, "_merge_streams", lambda session: False)
        joined = list(pack.population_lines(session, report))
    assert merged == joined
    assert len(merged) > 50
    assert any('"status": "revoked"' in line for line in merged) and any('"anchored": false' in line for line in merged)
    confidential = [line for line in merged if '"member": "LAB-BJ"' in line]
    assert bool(confidential) == (scope.viewer in (None, "LAB-BJ") and scope.members is None)
