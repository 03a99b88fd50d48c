"""audit: drop the two record indexes no query uses

``ix_audit_records_event_type`` (event_type, seq) and ``ix_audit_records_correlation``
(correlation_id, seq) came with the first revision. Every read of records goes by position
(the Merkle leaf index): by type through ``ix_audit_records_type_position``, by time through
``ix_audit_records_occurred_position``, by case, committee, expert or applicant through
``audit_record_terms``. The two were kept up to date on every insert (2 of the 7 index
entries each record cost) and read by nothing.

Revision ID: audit_0003
Revises: audit_0002
"""
from alembic import op

revision = "audit_0003"
down_revision = "audit_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_records_event_type", "audit_records")
    op.drop_index("ix_audit_records_correlation", "audit_records")


def downgrade() -> None:
    op.create_index("ix_audit_records_event_type", "audit_records", ["event_type", "seq"])
    op.create_index("ix_audit_records_correlation", "audit_records", ["correlation_id", "seq"])
