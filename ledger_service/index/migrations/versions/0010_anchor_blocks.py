"""Anchors keep their block's hash and whether the block is final, so that a chain that lost or replaced the
block (a node restarted from older state, a reorg) is noticed and the record anchored again
(docs/architecture.md section 4).

Anchors indexed before this revision have no block hash. Those within the newest 256 blocks the index names
are left unconfirmed: the anchoring worker looks their transactions up and fills the hash in (or anchors them
again). Older ones are taken as final, as the index always took them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"

LEGACY_WINDOW = 256


def upgrade() -> None:
    with op.batch_alter_table("anchors") as batch:
        batch.add_column(sa.Column("block_hash", sa.String(66), nullable=True))
        batch.add_column(sa.Column("confirmed", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_anchors_block_number", "anchors", ["block_number"])
    op.create_index("ix_anchors_confirmed", "anchors", ["confirmed"])
    op.execute(
        sa.text(
            "UPDATE anchors SET confirmed = :yes "
            "WHERE block_number <= (SELECT MAX(block_number) FROM anchors) - :window"
        ).bindparams(yes=True, window=LEGACY_WINDOW)
    )


def downgrade() -> None:
    raise RuntimeError("the index is never downgraded: it holds an append-only audit trail")
