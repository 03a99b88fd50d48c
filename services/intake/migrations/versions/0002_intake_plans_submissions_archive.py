"""intake: plans, deadline changes, submissions, materials, performance archive

Revision ID: intake_0002
Revises: intake_0001
"""
import sqlalchemy as sa
from alembic import op

from shared.db import BigId, Instant

revision = "intake_0002"
down_revision = "intake_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_plans",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("loaded_at", Instant(), nullable=False),
        sa.Column("published_at", Instant(), nullable=True),
    )
    op.create_table(
        "intake_deadline_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("year", sa.Integer, sa.ForeignKey("intake_plans.year",
                  name="fk_intake_deadline_changes_year_intake_plans"), nullable=False),
        sa.Column("committee_code", sa.String(8), nullable=False),
        sa.Column("old_deadline", sa.Date, nullable=False),
        sa.Column("new_deadline", sa.Date, nullable=False),
        sa.Column("changed_at", Instant(), nullable=False),
        sa.Column("plan_state", sa.String(16), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("approved_at", Instant(), nullable=True),
        sa.Column("changed_by", sa.String(100), nullable=True),
    )
    op.create_table(
        "intake_submissions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("portal_id", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("plan_year", sa.Integer, nullable=False),
        sa.Column("path", sa.String(32), nullable=False),
        sa.Column("effective_path", sa.String(32), nullable=False),
        sa.Column("committee_code", sa.String(8), nullable=True),
        sa.Column("title", sa.String(50), nullable=False),
        sa.Column("specialty", sa.String(100), nullable=False),
        sa.Column("applicant_key", sa.String(64), nullable=False),
        sa.Column("identity_masked", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("received_at", Instant(), nullable=False),
        sa.UniqueConstraint("portal_id", name="uq_intake_submissions_portal_id"),
    )
    op.create_index("ix_intake_submissions_applicant", "intake_submissions", ["applicant_key"])
    op.create_index("ix_intake_submissions_committee", "intake_submissions",
                    ["plan_year", "committee_code", "status"])
    op.create_table(
        "intake_materials",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey(
            "intake_submissions.id", name="fk_intake_materials_submission_id_intake_submissions"),
            nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("classification", sa.String(16), nullable=False),
    )
    op.create_table(
        "intake_archive_achievements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("applicant_key", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("dated", sa.Date, nullable=False),
        sa.Column("representative", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("submission_id", sa.String(36), nullable=True),
        sa.UniqueConstraint("applicant_key", "title", "dated", name="uq_intake_archive_achievement"),
    )
    op.create_index("ix_intake_archive_achievements_ref", "intake_archive_achievements",
                    ["applicant_key"])
    op.create_table(
        "intake_archive_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("applicant_key", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("committee_code", sa.String(8), nullable=False),
        sa.Column("title", sa.String(50), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.UniqueConstraint("applicant_key", "year", "committee_code", "title", "outcome",
                            name="uq_intake_archive_attempt"),
    )
    op.create_index("ix_intake_archive_attempts_ref", "intake_archive_attempts", ["applicant_key"])


def downgrade() -> None:
    op.drop_table("intake_archive_attempts")
    op.drop_table("intake_archive_achievements")
    op.drop_table("intake_materials")
    op.drop_index("ix_intake_submissions_committee", "intake_submissions")
    op.drop_index("ix_intake_submissions_applicant", "intake_submissions")
    op.drop_table("intake_submissions")
    op.drop_table("intake_deadline_changes")
    op.drop_table("intake_plans")
