"""The initial index: records, attachments, anchors, audit trail (append-only), operators, certificates.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_APPEND_ONLY = "audit trail is append-only (21 CFR 11.10(e))"


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("record_type", sa.String(40), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("lab_member", sa.String(80), nullable=False, index=True),
        sa.Column("lot", sa.String(120), index=True),
        sa.Column("product", sa.String(120), index=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confidentiality", sa.String(16), nullable=False),
        sa.Column("canonical", sa.LargeBinary, nullable=False),
        sa.Column("cid", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("superseded_by", sa.String(64)),
    )
    op.create_index("ix_records_type_time", "records", ["record_type", "measured_at"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(64), sa.ForeignKey("records.id"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("cid", sa.String(100)),
    )
    op.create_table(
        "anchors",
        sa.Column("record_id", sa.String(64), sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("tier", sa.String(1), nullable=False),
        sa.Column("chain_id", sa.BigInteger, nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False, index=True),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("block_time", sa.BigInteger, nullable=False),
        sa.Column("root", sa.String(64), index=True),
        sa.Column("leaf_index", sa.Integer),
        sa.Column("proof", sa.JSON, nullable=False),
    )
    op.create_table(
        "audit_trail",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(64), index=True),
        sa.Column("field", sa.String(80)),
        sa.Column("old_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "operators",
        sa.Column("lab_member", sa.String(80), primary_key=True),
        sa.Column("operator_id", sa.String(120), primary_key=True),
    )
    op.create_table(
        "certificates",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("external", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("instrument_id", sa.String(120), nullable=False, index=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_trail_no_{event.lower()} BEFORE {event} ON audit_trail "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON audit_trail "
            "FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()"
        )


def downgrade() -> None:
    raise RuntimeError("the index is never downgraded: it holds an append-only audit trail")
