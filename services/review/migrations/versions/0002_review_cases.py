"""review: cases, meetings, anonymous vote tallies, certificates, failed applicants

Revision ID: review_0002
Revises: review_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "review_0002"
down_revision = "review_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _instant(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # spelled out (not imported from models.py) so this revision never changes shape later
    op.create_table(
        "review_cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("submission_id", sa.String(64), nullable=False),
        sa.Column("applicant_key", sa.String(128), nullable=False),
        sa.Column("committee_id", sa.String(64), nullable=False),
        sa.Column("committee_name", sa.String(200), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("specialty", sa.String(200), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("recommendation", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _instant("accepted_at", nullable=False),
        _instant("publicity_closes_at"),
        sa.Column("held", sa.Boolean, nullable=False),
        sa.Column("meeting_id", sa.String(64), nullable=True),
        sa.Column("materials_frozen", sa.Boolean, nullable=False),
        _instant("materials_frozen_at"),
        _instant("decided_at"),
        _instant("published_at"),
        _instant("closed_at"),
        sa.Column("certificate_number", sa.String(32), nullable=True),
        sa.Column("withdrawal_reason", sa.Text, nullable=False),
        sa.Column("qualification_reasons", sa.Text, nullable=False),
        sa.Column("publicities", sa.Text, nullable=False),
        sa.Column("objections", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=True),
        sa.Column("history", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _instant("updated_at", nullable=False),
        sa.UniqueConstraint("submission_id", name="uq_review_cases_submission_id"),
    )
    op.create_index("ix_review_cases_state", "review_cases", ["state", "committee_id"])
    op.create_index("ix_review_cases_publicity_due", "review_cases",
                    ["publicity_closes_at", "held"])
    op.create_index("ix_review_cases_applicant", "review_cases", ["applicant_key", "year"])
    op.create_table(
        "review_meetings",
        sa.Column("meeting_id", sa.String(64), primary_key=True),
        sa.Column("committee_id", sa.String(64), nullable=False),
        _instant("starts_at", nullable=False),
        sa.Column("docket", sa.Text, nullable=False),
        sa.Column("panel_size_requested", sa.Integer, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _instant("scheduled_at", nullable=False),
        sa.Column("panel_id", sa.String(64), nullable=True),
        sa.Column("panel_size", sa.Integer, nullable=True),
        _instant("panel_drawn_at"),
    )
    op.create_table(
        "review_vote_tallies",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("meeting_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("panel_size", sa.Integer, nullable=False),
        sa.Column("present", sa.Integer, nullable=False),
        sa.Column("yes", sa.Integer, nullable=False),
        sa.Column("no", sa.Integer, nullable=False),
        sa.Column("abstain", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("failed_rules", sa.Text, nullable=False),
        _instant("recorded_at", nullable=False),
        sa.UniqueConstraint("meeting_id", "case_id", name="uq_review_vote_tallies_meeting_case"),
    )
    op.create_table(
        "review_certificates",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("applicant_key", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("specialty", sa.String(200), nullable=False),
        sa.Column("committee_name", sa.String(200), nullable=False),
        sa.Column("issued_on", sa.Date, nullable=False),
        _instant("issued_at", nullable=False),
        sa.UniqueConstraint("case_id", name="uq_review_certificates_case_id"),
        sa.UniqueConstraint("prefix", "year", "serial", name="uq_review_certificates_serial"),
    )
    op.create_table(
        "review_failed_applicants",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("applicant_key", sa.String(128), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("committee_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("specialty", sa.String(200), nullable=False),
        _instant("failed_at", nullable=False),
    )
    op.create_index("ix_review_failed_applicants_key", "review_failed_applicants",
                    ["applicant_key", "year"])


def downgrade() -> None:
    op.drop_table("review_failed_applicants")
    op.drop_table("review_certificates")
    op.drop_table("review_vote_tallies")
    op.drop_table("review_meetings")
    op.drop_index("ix_review_cases_applicant", table_name="review_cases")
    op.drop_index("ix_review_cases_publicity_due", table_name="review_cases")
    op.drop_index("ix_review_cases_state", table_name="review_cases")
    op.drop_table("review_cases")
