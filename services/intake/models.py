"""SQLAlchemy tables of the intake service.

No table holds an identity number or a name in clear: applicants are keyed by ``applicant_key``
(a keyed pseudonym) and only a masked identity number is kept for the committee offices.
Classified materials (涉密) are never stored.
"""
from sqlalchemy import (Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)

from shared.db import BigId, Instant, messaging_tables, new_metadata

metadata = new_metadata()
outbox, processed_events = messaging_tables(metadata)

#: 年度评审计划: the plan document (committees as loaded, deadlines as changed) and its state.
plans = Table(
    "intake_plans", metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),
    Column("source", String(200), nullable=True),
    Column("document", Text, nullable=False),
    Column("loaded_at", Instant(), nullable=False),
    Column("published_at", Instant(), nullable=True),
)

#: Deadline changes, with the special approval (特殊情况审批) that allowed them.
deadline_changes = Table(
    "intake_deadline_changes", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("year", Integer, ForeignKey("intake_plans.year"), nullable=False),
    Column("committee_code", String(8), nullable=False),
    Column("old_deadline", Date, nullable=False),
    Column("new_deadline", Date, nullable=False),
    Column("changed_at", Instant(), nullable=False),
    Column("plan_state", String(16), nullable=False),
    Column("approved_by", String(100), nullable=True),
    Column("reason", String(500), nullable=True),
    Column("approved_at", Instant(), nullable=True),
    Column("changed_by", String(100), nullable=True),
)

#: 申报: one row per portal application (idempotency on the portal's own id).
submissions = Table(
    "intake_submissions", metadata,
    Column("id", String(36), primary_key=True),
    Column("portal_id", String(64), nullable=False, unique=True),
    Column("request_hash", String(64), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("plan_year", Integer, nullable=False),
    Column("path", String(32), nullable=False),
    Column("effective_path", String(32), nullable=False),
    Column("committee_code", String(8), nullable=True),
    Column("title", String(50), nullable=False),
    Column("specialty", String(100), nullable=False),
    Column("applicant_key", String(64), nullable=False),
    Column("identity_masked", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("answer", Text, nullable=False),
    Column("received_at", Instant(), nullable=False),
    # 三(三) 评审会议召开时，如有部分申报材料缺失，不再补充: set from review's materials_frozen
    Column("materials_frozen_at", Instant(), nullable=True),
    Column("meeting_id", String(64), nullable=True),
    Index("ix_intake_submissions_applicant", "applicant_key"),
    Index("ix_intake_submissions_committee", "plan_year", "committee_code", "status"),
)

#: Materials of a stored submission (metadata and content hash; never a classified one).
materials = Table(
    "intake_materials", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("submission_id", String(36), ForeignKey("intake_submissions.id"), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content_hash", String(80), nullable=False),
    Column("classification", String(16), nullable=False),
)

#: 业绩档案: achievements over the years ...
archive_achievements = Table(
    "intake_archive_achievements", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("applicant_key", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("dated", Date, nullable=False),
    Column("representative", Boolean, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("submission_id", String(36), nullable=True),
    UniqueConstraint("applicant_key", "title", "dated", name="uq_intake_archive_achievement"),
    Index("ix_intake_archive_achievements_ref", "applicant_key"),
)

#: ... and review attempts with their outcome.
archive_attempts = Table(
    "intake_archive_attempts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("applicant_key", String(64), nullable=False),
    Column("year", Integer, nullable=False),
    Column("committee_code", String(8), nullable=False),
    Column("title", String(50), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("source", String(64), nullable=True),
    UniqueConstraint("applicant_key", "year", "committee_code", "title", "outcome",
                     name="uq_intake_archive_attempt"),
    Index("ix_intake_archive_attempts_ref", "applicant_key"),
)
