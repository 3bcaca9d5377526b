"""The audit trail as an SM3 hash chain: each entry's digest and its predecessor's, the chain's head, and the
heads anchored on chain. Entries written before this revision are chained here, in id order.

Revision ID: 0008
Revises: 0007
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from ledger_service.index.audit import GENESIS, entry_digest

revision = "0008"
down_revision = "0007"
_APPEND_ONLY = "audit trail is append-only (21 CFR 11.10(e))"
_FIELDS = ("actor", "action", "record_id", "field", "old_value", "new_value", "reason")


def upgrade() -> None:
    op.add_column("audit_trail", sa.Column("prev_sm3", sa.String(64)))
    op.add_column("audit_trail", sa.Column("entry_sm3", sa.String(64)))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column("last_sm3", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_anchors",
        sa.Column("entry_id", sa.BigInteger, primary_key=True),
        sa.Column("entry_sm3", sa.String(64), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    bind = op.get_bind()
    dialect = bind.dialect.name
    # Chaining the entries already there updates them: the append-only triggers step aside for it alone.
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_trail_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE audit_trail DISABLE TRIGGER audit_trail_append_only")
    previous, last_id = GENESIS, 0
    rows = bind.execute(sa.text(f"SELECT id, at, {', '.join(_FIELDS)} FROM audit_trail ORDER BY id")).mappings()
    for row in list(rows):
        digest = entry_digest(row["id"], _as_datetime(row["at"]), dict(row), previous)
        bind.execute(
            sa.text("UPDATE audit_trail SET prev_sm3 = :prev, entry_sm3 = :digest WHERE id = :id"),
            {"prev": previous, "digest": digest, "id": row["id"]},
        )
        previous, last_id = digest, row["id"]
    bind.execute(
        sa.text("INSERT INTO audit_head (id, last_id, last_sm3) VALUES (1, :i, :s)"), {"i": last_id, "s": previous}
    )
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        )
    elif dialect == "postgresql":
        op.execute("ALTER TABLE audit_trail ENABLE TRIGGER audit_trail_append_only")


def _as_datetime(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def downgrade() -> None:
    raise RuntimeError("the index is never downgraded: it holds an append-only audit trail")
