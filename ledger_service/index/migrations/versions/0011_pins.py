"""Replication of content over the members' IPFS nodes (IPFS Cluster): per CID, on how many nodes it is pinned
against the replication factor asked for, and when that was last checked (docs/architecture.md
section 11). Stores that keep one copy write no rows here.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "pins",
        sa.Column("cid", sa.String(100), primary_key=True),
        sa.Column("peers_pinned", sa.Integer, nullable=False, server_default="0"),
        sa.Column("replication_min", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replicated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_pins_state", "pins", ["state"])
    op.create_index("ix_pins_checked_at", "pins", ["checked_at"])


def downgrade() -> None:
    raise RuntimeError("the index is never downgraded: it holds an append-only audit trail")
