"""Certificates' places in their issuer's Bitstring Status Lists (docs/formats.md section 9.1).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "status_entries",
        sa.Column("member", sa.String(120), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("record_id", sa.String(64), sa.ForeignKey("records.id"), nullable=False),
    )
    op.create_index("ix_status_entries_record_id", "status_entries", ["record_id"])


def downgrade() -> None:
    raise RuntimeError("the index is never downgraded: it holds an append-only audit trail")
