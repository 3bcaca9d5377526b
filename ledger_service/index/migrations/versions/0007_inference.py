"""Inference bridge: anchored model cards, and the human-review queue of AI decisions.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "model_cards",
        sa.Column("card_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "review_tasks",
        sa.Column("record_id", sa.String(64), sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("review_record_id", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("review_tasks")
    op.drop_table("model_cards")
