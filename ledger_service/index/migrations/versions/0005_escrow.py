"""Confidential records and recalls: escrow policies, escrow envelopes, recall scopes, agents' releases and
their chain cursors.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "escrow_policies",
        sa.Column("sm3", sa.String(64), primary_key=True),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "escrows",
        sa.Column("record_id", sa.String(64), sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("policy_sm3", sa.String(64), nullable=False),
        sa.Column("lot_sm3", sa.String(64), nullable=False, index=True),
        sa.Column("product_sm3", sa.String(64), nullable=False, index=True),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("envelope_cid", sa.String(100), nullable=False),
    )
    op.create_table(
        "recall_scopes",
        sa.Column("root", sa.String(64), primary_key=True),
        sa.Column("record_ids", sa.JSON, nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("recall_id", sa.BigInteger, primary_key=True),
        sa.Column("agent", sa.String(80), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("cid", sa.String(100), nullable=False),
        sa.Column("shares", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agent_cursors",
        sa.Column("agent", sa.String(80), primary_key=True),
        sa.Column("last_block", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("agent_cursors", "releases", "recall_scopes", "escrows", "escrow_policies"):
        op.drop_table(table)
