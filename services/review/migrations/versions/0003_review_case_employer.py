"""review: the applicant's employer on a case (for the panel's 回避 by employer)

Revision ID: review_0003
Revises: review_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "review_0003"
down_revision = "review_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_cases") as batch:
        batch.add_column(sa.Column("employer", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("review_cases") as batch:
        batch.drop_column("employer")
