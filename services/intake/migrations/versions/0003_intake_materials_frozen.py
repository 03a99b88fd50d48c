"""intake: when review froze a submission's materials (三(三) 不再补充)

Revision ID: intake_0003
Revises: intake_0002
"""
import sqlalchemy as sa
from alembic import op

from shared.db import Instant

revision = "intake_0003"
down_revision = "intake_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intake_submissions") as batch:
        batch.add_column(sa.Column("materials_frozen_at", Instant(), nullable=True))
        batch.add_column(sa.Column("meeting_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_submissions") as batch:
        batch.drop_column("meeting_id")
        batch.drop_column("materials_frozen_at")
