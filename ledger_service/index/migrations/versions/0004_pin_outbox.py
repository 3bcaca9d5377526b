"""Pinning through the outbox: when a record's content (canonical JSON and attachments) reached the content
store it must end up in. NULL: held in the local spool, to be pinned by the worker.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE records SET pinned_at = received_at")
    op.create_index("ix_records_pinned_at", "records", ["pinned_at"])


def downgrade() -> None:
    op.drop_index("ix_records_pinned_at", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("pinned_at")
