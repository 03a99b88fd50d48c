"""audit: outbox, processed events and the append-only record store

Revision ID: audit_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from shared.migrations import create_messaging_tables

revision = "audit_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op)
    # spelled out (not imported from models.py) so this revision never changes shape later
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("producer", sa.String(32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_records_event_type", "audit_records", ["event_type", "seq"])
    op.create_index("ix_audit_records_correlation", "audit_records", ["correlation_id", "seq"])


def downgrade() -> None:
    op.drop_table("audit_records")
    op.drop_table("processed_events")
    op.drop_table("outbox")
