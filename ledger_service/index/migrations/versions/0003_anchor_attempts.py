"""The anchoring outbox's write-ahead log: each signed anchoring transaction, kept before it is sent.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "anchor_attempts",
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("tier", sa.String(1), nullable=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("record_ids", sa.JSON, nullable=False),
        sa.Column("raw_tx", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(12), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("anchor_attempts")
