"""The SQL index on SQLite (default) and on PostgreSQL (a cluster started here): the same behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ledger_service.index import crud, engine_from_url, migrate, session_factory
from tests.utils.postgres import postgres_cluster

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'index.db'}"
        e = engine_from_url(url)
        migrate(e)
        migrate(e)  # idempotent
        yield e
        e.dispose()
    else:
        with postgres_cluster() as url:
            e = engine_from_url(url)
            migrate(e)
            migrate(e)
            yield e
            e.dispose()


def _add(session, record_id: str, **kw):  # type: ignore[no-untyped-def]
    fields = {
        "record_type": "tensile_test",
        "sha256": "b" * 64,
        "lab_member": "LAB-1",
        "lot": "LOT-A",
        "product": "P-1",
        "measured_at": T0,
        "confidentiality": "public",
        "canonical": b'{"x":1}',
        "cid": "bafkrei-x",
        "attachments": [crud.NewAttachment("r.pdf", "application/pdf", 10, "c" * 64, "d" * 64, "bafkrei-y")],
        "actor": "LAB-1",
    }
    fields.update(kw)
    return crud.add_record(session=session, record_id=record_id, **fields)


def test_records_are_inserted_once_and_filtered(engine: Engine) -> None:
    make = session_factory(engine)
    with make.begin() as s:
        row, created = _add(s, "1" * 64)
        assert created
        _, again = _add(s, "1" * 64)
        assert not again
        _add(s, "2" * 64, record_type="xrf_analysis", lot="LOT-B", measured_at=T0 + timedelta(hours=1))
    with make() as s:
        assert [r.id for r in crud.list_records(session=s, lot="LOT-A")] == ["1" * 64]
        assert [r.id for r in crud.list_records(session=s, record_type="xrf_analysis")] == ["2" * 64]
        r = crud.get_record(session=s, record_id="1" * 64)
        assert r is not None and r.status == "accepted" and r.attachments[0].name == "r.pdf"


def test_anchor_status_and_audit_trail(engine: Engine) -> None:
    make = session_factory(engine)
    rid = "3" * 64
    with make.begin() as s:
        _add(s, rid)
        assert crud.add_anchor(
            session=s,
            record_id=rid,
            tier="B",
            chain_id=31337,
            contract="0x" + "ab" * 20,
            tx_hash="0x" + "cd" * 32,
            block_number=7,
            block_time=1_800_000_000,
            root="e" * 64,
            leaf_index=3,
            proof=["f" * 64],
            actor="worker",
        )
        assert not crud.add_anchor(
            session=s,
            record_id=rid,
            tier="B",
            chain_id=31337,
            contract="0x",
            tx_hash="0x",
            block_number=8,
            block_time=0,
            root=None,
            leaf_index=None,
            proof=[],
            actor="worker",
        )
        crud.set_status(session=s, record_id=rid, status="revoked", actor="AUD-1", reason="out of tolerance")
    with make() as s:
        r = crud.get_record(session=s, record_id=rid)
        assert r is not None and r.status == "revoked" and r.anchor is not None and r.anchor.proof == ["f" * 64]
        trail = [(a.action, a.old_value, a.new_value, a.actor) for a in crud.audit_trail(session=s, record_id=rid)]
        assert trail == [
            ("create", None, "tensile_test", "LAB-1"),
            ("status", "accepted", "anchored", "worker"),
            ("status", "anchored", "revoked", "AUD-1"),
        ]


def test_the_audit_trail_is_append_only(engine: Engine) -> None:
    with engine.connect() as c:
        for statement in ("UPDATE audit_trail SET actor = 'mallory'", "DELETE FROM audit_trail"):
            with pytest.raises(DBAPIError, match="append-only"):
                with c.begin():
                    c.execute(text(statement))
        assert c.execute(text("SELECT count(*) FROM audit_trail WHERE actor = 'mallory'")).scalar() == 0


def test_validation_context_reads_operators_and_anchored_certificates(engine: Engine) -> None:
    make = session_factory(engine)
    cert = "4" * 64
    with make.begin() as s:
        crud.add_operator(session=s, lab_member="LAB-1", operator_id="op-alice", actor="LAB-1")
        _add(s, cert, record_type="calibration_certificate")
        crud.add_certificate(
            session=s,
            record_id=cert,
            instrument_id="CAM-1",
            valid_from=T0,
            valid_until=T0 + timedelta(days=365),
        )
    with make() as s:
        ctx = crud.IndexValidationContext(s)
        assert ctx.is_operator("LAB-1", "op-alice") and not ctx.is_operator("LAB-1", "op-bob")
        assert ctx.certificate(cert) is None  # accepted, not yet anchored
    with make.begin() as s:
        crud.set_status(session=s, record_id=cert, status="anchored", actor="worker", reason=None)
    with make() as s:
        found = crud.IndexValidationContext(s).certificate(cert)
        assert found is not None and found.instrument_id == "CAM-1" and found.valid_from == T0


def test_sqlite_default_path(tmp_path: Path) -> None:
    e = engine_from_url(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(e)
    with e.connect() as c:
        tables = {r[0] for r in c.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert {"records", "attachments", "anchors", "audit_trail", "operators", "certificates"} <= tables


def test_the_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ledger_service.index.models import Base

    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
