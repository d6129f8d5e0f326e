"""Recordings started through the API keep what their request asked for: the recording status
callback, trimming, and how a pause records.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("status_callback", sa.Text()))
        batch.add_column(
            sa.Column("status_callback_method", sa.String(8), nullable=False, server_default="POST")
        )
        batch.add_column(
            sa.Column("status_callback_events", sa.String(64), nullable=False, server_default="completed")
        )
        batch.add_column(sa.Column("trim", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("pause_behavior", sa.String(8), nullable=False, server_default="silence"))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        for name in ("pause_behavior", "trim", "status_callback_events", "status_callback_method"):
            batch.drop_column(name)
        batch.drop_column("status_callback")
