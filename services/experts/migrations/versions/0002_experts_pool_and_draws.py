"""experts: committees, experts, change requests, meetings, draw rounds, emergency approvals,
discipline records

Revision ID: experts_0002
Revises: experts_0001
"""
import sqlalchemy as sa
from alembic import op

from shared.db import Instant

revision = "experts_0002"
down_revision = "experts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "committees",
        sa.Column("committee_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organising_unit", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("term_start", sa.Date, nullable=False),
        sa.Column("term_end", sa.Date, nullable=False),
        sa.Column("specialties", sa.JSON, nullable=False),
        sa.Column("created_at", Instant(), nullable=False),
    )
    op.create_table(
        "experts",
        sa.Column("expert_id", sa.String(64), primary_key=True),
        sa.Column("identity_number", sa.String(18), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("employer", sa.String(200), nullable=False),
        sa.Column("specialties", sa.JSON, nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("title_level", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("committees", sa.JSON, nullable=False),
        sa.Column("term_start", sa.Date, nullable=False),
        sa.Column("term_end", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("declared_relatives", sa.JSON, nullable=False),
        sa.Column("declared_conflicts", sa.JSON, nullable=False),
        sa.Column("registered_at", Instant(), nullable=False),
        sa.Column("updated_at", Instant(), nullable=False),
    )
    op.create_index("ix_experts_status_term_end", "experts", ["status", "term_end"])
    op.create_table(
        "change_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("committee_id", sa.String(64), sa.ForeignKey("committees.committee_id"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("expert_id", sa.String(64), nullable=False),
        sa.Column("proposed", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_at", Instant(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", Instant(), nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
    )
    op.create_index("ix_change_requests_status", "change_requests", ["status", "requested_at"])
    op.create_table(
        "meetings",
        sa.Column("meeting_id", sa.String(64), primary_key=True),
        sa.Column("committee_id", sa.String(64), sa.ForeignKey("committees.committee_id"),
                  nullable=False),
        sa.Column("starts_at", Instant(), nullable=False),
        sa.Column("panel_size", sa.Integer, nullable=False),
        sa.Column("reserves", sa.Integer, nullable=False),
        sa.Column("specialties", sa.JSON, nullable=False),
        sa.Column("applicants", sa.JSON, nullable=False),
        sa.Column("declared_conflicts", sa.JSON, nullable=False),
        sa.Column("regular_round_id", sa.String(64), nullable=True),
        sa.Column("requested_at", Instant(), nullable=False),
        sa.Column("request_event_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "draw_rounds",
        sa.Column("round_id", sa.String(64), primary_key=True),
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("meetings.meeting_id"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_round_id", sa.String(64), nullable=True),
        sa.Column("approval_id", sa.String(64), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("commitment_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("receipt", sa.JSON, nullable=False),
        sa.Column("opened_at", Instant(), nullable=False),
        sa.Column("finalized_at", Instant(), nullable=True),
        sa.Column("seed_published_at", Instant(), nullable=True),
    )
    op.create_index("ix_draw_rounds_meeting", "draw_rounds", ["meeting_id", "kind"])
    op.create_table(
        "emergency_approvals",
        sa.Column("approval_id", sa.String(64), primary_key=True),
        sa.Column("meeting_id", sa.String(64), sa.ForeignKey("meetings.meeting_id"),
                  nullable=False),
        sa.Column("seats", sa.Integer, nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=False),
        sa.Column("approved_at", Instant(), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("used_by_round_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "discipline_records",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("expert_id", sa.String(64), sa.ForeignKey("experts.expert_id"),
                  nullable=False),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("misconduct", sa.String(32), nullable=False),
        sa.Column("sanction", sa.String(16), nullable=False),
        sa.Column("meeting_id", sa.String(64), nullable=True),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", Instant(), nullable=False),
    )


def downgrade() -> None:
    for name in ("discipline_records", "emergency_approvals", "draw_rounds", "meetings",
                 "change_requests", "experts", "committees"):
        op.drop_table(name)
