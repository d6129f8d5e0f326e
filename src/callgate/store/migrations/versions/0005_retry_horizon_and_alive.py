"""The outbox keeps when a callback's first delivery started (its retry horizon counts from it), and a
worker's claim on a call when the worker was last known alive (a lost call ends then, not at recovery).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("first_attempt_at", sa.DateTime()))
    with op.batch_alter_table("call_runs") as batch:
        batch.add_column(sa.Column("alive_at", sa.DateTime()))


def downgrade() -> None:
    with op.batch_alter_table("call_runs") as batch:
        batch.drop_column("alive_at")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("first_attempt_at")
