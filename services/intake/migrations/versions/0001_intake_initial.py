"""intake: outbox and processed events

Revision ID: intake_0001
Revises:
"""
from alembic import op

from shared.migrations import create_messaging_tables

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")
