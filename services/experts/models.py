"""SQLAlchemy tables of the experts service (its own database)."""
from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Table, Text

from shared.db import Instant, messaging_tables, new_metadata

metadata = new_metadata()
outbox, processed_events = messaging_tables(metadata)

committees = Table(
    "committees", metadata,
    Column("committee_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("organising_unit", String(200), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("term_start", Date, nullable=False),
    Column("term_end", Date, nullable=False),
    Column("specialties", JSON, nullable=False),
    Column("created_at", Instant(), nullable=False),
)

experts = Table(
    "experts", metadata,
    Column("expert_id", String(64), primary_key=True),
    # personal data (身份证号, 姓名): never logged, masked in answers for roles that do not need it
    Column("identity_number", String(18), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("employer", String(200), nullable=False),
    Column("specialties", JSON, nullable=False),
    Column("title", String(100), nullable=False),
    Column("title_level", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("committees", JSON, nullable=False),
    Column("term_start", Date, nullable=False),
    Column("term_end", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("declared_relatives", JSON, nullable=False),
    Column("declared_conflicts", JSON, nullable=False),
    Column("registered_at", Instant(), nullable=False),
    Column("updated_at", Instant(), nullable=False),
    Index("ix_experts_status_term_end", "status", "term_end"),
)

change_requests = Table(
    "change_requests", metadata,
    Column("request_id", String(64), primary_key=True),
    Column("committee_id", String(64), ForeignKey("committees.committee_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("expert_id", String(64), nullable=False),
    Column("proposed", JSON, nullable=True),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(100), nullable=False),
    Column("requested_at", Instant(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(100), nullable=True),
    Column("decided_at", Instant(), nullable=True),
    Column("decision_note", Text, nullable=True),
    Index("ix_change_requests_status", "status", "requested_at"),
)

meetings = Table(
    "meetings", metadata,
    Column("meeting_id", String(64), primary_key=True),
    Column("committee_id", String(64), ForeignKey("committees.committee_id"), nullable=False),
    Column("starts_at", Instant(), nullable=False),
    Column("panel_size", Integer, nullable=False),
    Column("reserves", Integer, nullable=False),
    Column("specialties", JSON, nullable=False),
    Column("applicants", JSON, nullable=False),
    Column("declared_conflicts", JSON, nullable=False),
    Column("regular_round_id", String(64), nullable=True),
    Column("requested_at", Instant(), nullable=False),
    Column("request_event_id", String(64), nullable=True),
)

draw_rounds = Table(
    "draw_rounds", metadata,
    Column("round_id", String(64), primary_key=True),
    Column("meeting_id", String(64), ForeignKey("meetings.meeting_id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("parent_round_id", String(64), nullable=True),
    Column("approval_id", String(64), nullable=True),
    Column("phase", String(16), nullable=False),
    Column("commitment_digest", String(64), nullable=False, unique=True),
    # the whole round (inputs, eligible list, commitments, reveals, result) as its receipt
    Column("receipt", JSON, nullable=False),
    Column("opened_at", Instant(), nullable=False),
    Column("finalized_at", Instant(), nullable=True),
    Column("seed_published_at", Instant(), nullable=True),
    Index("ix_draw_rounds_meeting", "meeting_id", "kind"),
)

emergency_approvals = Table(
    "emergency_approvals", metadata,
    Column("approval_id", String(64), primary_key=True),
    Column("meeting_id", String(64), ForeignKey("meetings.meeting_id"), nullable=False),
    Column("seats", Integer, nullable=False),
    Column("approved_by", String(100), nullable=False),
    Column("approved_at", Instant(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("used_by_round_id", String(64), nullable=True),
)

discipline_records = Table(
    "discipline_records", metadata,
    Column("record_id", String(64), primary_key=True),
    Column("expert_id", String(64), ForeignKey("experts.expert_id"), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("misconduct", String(32), nullable=False),
    Column("sanction", String(16), nullable=False),
    Column("meeting_id", String(64), nullable=True),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", Instant(), nullable=False),
)
