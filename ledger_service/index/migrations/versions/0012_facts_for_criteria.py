"""Disclosure facts for the written reporting criteria (docs/domain.md section 5): the record a human review
amends, a flash test's Pmax (IEC 60904-1), and the EU critical raw materials an XRF analysis found, element by
element in mass % (Regulation (EU) 2024/1252, Annex II). The former sum of critical mass % and the EL inactive
area read as "degradation" are dropped. Facts are derived from records and rebuilt on the next report, so every
row is deleted here.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM record_facts"))
    with op.batch_alter_table("record_facts") as batch:
        batch.drop_column("critical_mass_pct")
        batch.drop_column("degradation_pct")
        batch.add_column(sa.Column("reviewed_record_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pmax_w", sa.Float, nullable=True))
        batch.add_column(sa.Column("crm", sa.JSON, nullable=True))
    op.create_index("ix_record_facts_unit", "record_facts", ["unit_id"])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM record_facts"))
    op.drop_index("ix_record_facts_unit", "record_facts")
    with op.batch_alter_table("record_facts") as batch:
        batch.drop_column("crm")
        batch.drop_column("pmax_w")
        batch.drop_column("reviewed_record_id")
        batch.add_column(sa.Column("degradation_pct", sa.Float, nullable=True))
        batch.add_column(sa.Column("critical_mass_pct", sa.Float, nullable=True))
