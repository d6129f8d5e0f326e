"""The engine's tables: call leases, the webhook outbox, the request log, notifications; and the
SignalWire Signing Key of each account (accounts made before it sign with their API token).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("accounts", sa.Column("signalwire_signing_key", sa.String(64)))
    op.create_index("ix_calls_status_seq", "calls", ["status", "seq"])
    op.create_table(
        "call_runs",
        sa.Column("call_id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_call_runs_lease_until", "call_runs", ["lease_until"])
    op.create_table(
        "webhooks",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("call_id", sa.String(36)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dialect", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("last_status", sa.Integer()),
    )
    op.create_index("ix_webhooks_call_id", "webhooks", ["call_id"])
    op.create_index("ix_webhooks_state_due", "webhooks", ["state", "due_at"])
    op.create_table(
        "requests_log",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("call_id", sa.String(36)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("elapsed_ms", sa.Integer()),
        sa.Column("error_code", sa.Integer()),
    )
    op.create_index("ix_requests_log_call_id", "requests_log", ["call_id"])
    op.create_table(
        "notifications",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("call_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("request_url", sa.Text()),
        sa.Column("request_method", sa.String(8)),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_notifications_call_id", "notifications", ["call_id"])


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("requests_log")
    op.drop_table("webhooks")
    op.drop_table("call_runs")
    op.drop_index("ix_calls_status_seq", "calls")
    op.drop_column("accounts", "signalwire_signing_key")
