"""Disclosure facts: one row of countable facts per record (filled by esg_reports.facts), and the submissions
refused at ingest (the denominator of data completeness).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "record_facts",
        sa.Column("record_id", sa.String(64), sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("lab_member", sa.String(80), nullable=False),
        sa.Column("product", sa.String(120)),
        sa.Column("lot", sa.String(120)),
        sa.Column("unit_id", sa.String(120), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(14)),
        sa.Column("screening", sa.String(2)),
        sa.Column("critical_mass_pct", sa.Float),
        sa.Column("test_stage", sa.String(40)),
        sa.Column("degradation_pct", sa.Float),
        sa.Column("calibration_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_record_facts_period", "record_facts", ["measured_at", "record_type"])
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("record_type", sa.String(40)),
        sa.Column("missing_mandatory", sa.Boolean, nullable=False),
        sa.Column("codes", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refusals")
    op.drop_index("ix_record_facts_period", "record_facts")
    op.drop_table("record_facts")
