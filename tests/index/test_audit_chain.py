"""The audit trail as an SM3 hash chain, on SQLite and PostgreSQL: every way of rewriting it that the database
allows someone who holds it (REPLACE, UPDATE or DELETE after dropping the triggers, a cut tail, the whole chain
recomputed) is reported at its first entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger_service.index import audit, crud, engine_from_url, migrate, session_factory
from ledger_service.index.db import MIGRATIONS
from tests.utils.postgres import postgres_cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = engine_from_url(f"sqlite:///{tmp_path / 'index.db'}")
        migrate(e)
        yield e
        e.dispose()
    else:
        with postgres_cluster() as url:
            e = engine_from_url(url)
            migrate(e)
            yield e
            e.dispose()


def write(engine: Engine, n: int) -> None:
    sessions = session_factory(engine)
    for i in range(n):
        with sessions.begin() as session:
            if i % 2:
                crud.audit(session=session, actor=f"member-{i}", action="api", field="GET /v1/records", new_value="200")
            else:
                entries = [{"actor": "worker", "action": "anchor", "record_id": f"{i:064x}", "new_value": str(i)}]
                crud.audit_many(session=session, entries=entries)


def findings(engine: Engine) -> dict[str, int | None]:
    with session_factory(engine)() as session:
        return {f.code: f.entry_id for f in audit.verify(session).findings}


def drop_triggers(engine: Engine) -> None:
    with engine.begin() as c:
        if engine.dialect.name == "sqlite":
            c.execute(text("DROP TRIGGER audit_trail_no_update"))
            c.execute(text("DROP TRIGGER audit_trail_no_delete"))
        else:
            c.execute(text("DROP TRIGGER audit_trail_append_only ON audit_trail"))


def test_an_untouched_trail_is_intact_and_chained(engine: Engine) -> None:
    write(engine, 10)
    with session_factory(engine)() as session:
        verdict = audit.verify(session)
        assert verdict.intact and verdict.entries == 10 and verdict.head_id == 10
        rows = crud.audit_trail(session=session, record_id=f"{0:064x}")
        assert rows[0].prev_sm3 == audit.GENESIS and len(rows[0].entry_sm3 or "") == 64


def test_replace_into_is_caught(tmp_path: Path) -> None:
    engine = engine_from_url(f"sqlite:///{tmp_path / 'index.db'}")  # REPLACE is SQLite's (PostgreSQL has none)
    migrate(engine)
    write(engine, 6)
    with engine.begin() as c:  # REPLACE deletes and re-inserts: the append-only triggers never fire
        c.execute(text("REPLACE INTO audit_trail (id, at, actor, action) VALUES (3, '2026-01-01 00:00:00', 'x', 'y')"))
    assert findings(engine)["ENTRY_ALTERED"] == 3
    engine.dispose()


def test_update_after_dropping_the_triggers_is_caught(engine: Engine) -> None:
    write(engine, 6)
    drop_triggers(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_trail SET actor = 'someone else' WHERE id = 5"))
    found = findings(engine)
    assert found["ENTRY_ALTERED"] == 5 and "TRIGGER_MISSING" in found


def test_a_deleted_entry_and_a_cut_tail_are_caught(engine: Engine) -> None:
    write(engine, 10)
    drop_triggers(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_trail WHERE id = 4"))
    found = findings(engine)
    assert found["ENTRY_MISSING"] == 4 and found["CHAIN_BROKEN"] == 5
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_trail WHERE id >= 9"))
    assert findings(engine)["TAIL_MISSING"] == 9


def test_a_chain_recomputed_whole_is_caught_by_its_anchor(engine: Engine) -> None:
    write(engine, 8)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        last_id, last_sm3 = audit.head(session)
        audit.add_anchor(session, last_id, last_sm3, "0x" + "ab" * 32, "cd" * 32)
    drop_triggers(engine)
    with engine.begin() as c:  # rewrite entry 2, then every hash after it and the head, as an insider could
        c.execute(text("UPDATE audit_trail SET actor = 'rewritten' WHERE id = 2"))
    with sessions.begin() as session:
        previous = audit.GENESIS
        for row in session.scalars(text("SELECT id FROM audit_trail ORDER BY id")).all():
            entry = session.get(audit.AuditRow, row)
            assert entry is not None
            fields = {k: getattr(entry, k) for k in audit.FIELDS}
            entry.prev_sm3, entry.entry_sm3 = previous, audit.entry_digest(entry.id, entry.at, fields, previous)
            previous = entry.entry_sm3
        session.execute(text("UPDATE audit_head SET last_sm3 = :s"), {"s": previous})
    found = findings(engine)
    assert set(found) == {"ANCHOR_MISMATCH", "TRIGGER_MISSING"} and found["ANCHOR_MISMATCH"] == 8


def test_entries_written_before_the_chain_are_chained_by_the_migration(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    engine = engine_from_url(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        for i in range(5):
            connection.execute(
                text("INSERT INTO audit_trail (at, actor, action) VALUES (:at, :actor, 'api')"),
                {"at": f"2026-11-0{i + 1} 08:00:00.000000", "actor": f"m{i}"},
            )
    migrate(engine)
    write(engine, 3)
    with session_factory(engine)() as session:
        verdict = audit.verify(session)
    assert verdict.intact and verdict.entries == 8
    engine.dispose()
