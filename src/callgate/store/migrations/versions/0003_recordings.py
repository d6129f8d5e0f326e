"""Recordings of calls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("call_id", sa.String(36)),
        sa.Column("conference_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("start_time", sa.DateTime()),
        sa.Column("duration_s", sa.Integer()),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("track", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("path", sa.Text()),
        sa.Column("error_code", sa.Integer()),
        sa.Column("price", sa.String(32)),
        sa.Column("price_unit", sa.String(8), nullable=False),
        sa.Column("api_version", sa.String(16), nullable=False),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    op.create_index("ix_recordings_account_seq", "recordings", ["account_id", "seq"])


def downgrade() -> None:
    op.drop_table("recordings")
