"""Accounts, calls with their timeline, applications.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("auth_token", sa.String(64), nullable=False),
        sa.Column("signalwire_token", sa.String(64), nullable=False),
        sa.Column("bandwidth_account_id", sa.String(16), nullable=False, unique=True),
        sa.Column("bandwidth_username", sa.String(64), nullable=False, unique=True),
        sa.Column("bandwidth_password", sa.String(64), nullable=False),
    )
    op.create_table(
        "calls",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("parent_call_id", sa.String(36)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("to_addr", sa.String(512), nullable=False),
        sa.Column("from_addr", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("start_time", sa.DateTime()),
        sa.Column("end_time", sa.DateTime()),
        sa.Column("duration_s", sa.Integer()),
        sa.Column("price", sa.String(32)),
        sa.Column("price_unit", sa.String(8), nullable=False),
        sa.Column("answered_by", sa.String(32)),
        sa.Column("api_version", sa.String(16), nullable=False),
        sa.Column("queue_time_ms", sa.Integer(), nullable=False),
        sa.Column("sip_call_id", sa.String(256)),
        sa.Column("sip_result_code", sa.Integer()),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_calls_account_seq", "calls", ["account_id", "seq"])
    op.create_table(
        "call_events",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])
    op.create_table(
        "applications",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("friendly_name", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_applications_account_seq", "applications", ["account_id", "seq"])


def downgrade() -> None:
    op.drop_table("applications")
    op.drop_table("call_events")
    op.drop_table("calls")
    op.drop_table("accounts")
