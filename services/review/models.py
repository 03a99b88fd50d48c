"""SQLAlchemy tables of the review service.

A case's scalar facts are columns (state, committee, the current notice's closing instant...) so
the clock's tick and the offices' lists are plain indexed queries; its nested history (notices,
objections, moves, the decision) is JSON in the same row, written in the same transaction as the
events it caused. Vote tallies are anonymous counts — no table here ever names an expert.
"""
from sqlalchemy import (Boolean, Column, Date, Index, Integer, String, Table, Text,
                        UniqueConstraint)

from shared.db import BigId, Instant, messaging_tables, new_metadata

metadata = new_metadata()
outbox, processed_events = messaging_tables(metadata)

cases = Table(
    "review_cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("submission_id", String(64), nullable=False, unique=True),
    Column("applicant_key", String(128), nullable=False),
    Column("committee_id", String(64), nullable=False),
    Column("committee_name", String(200), nullable=False),
    Column("title", String(100), nullable=False),
    Column("specialty", String(200), nullable=False),
    Column("employer", String(200), nullable=False, server_default=""),
    Column("year", Integer, nullable=False),
    Column("recommendation", Boolean, nullable=False),
    Column("state", String(32), nullable=False),
    Column("accepted_at", Instant(), nullable=False),
    # the open notice's closing instant (NULL when no notice runs): the tick's query
    Column("publicity_closes_at", Instant(), nullable=True),
    Column("held", Boolean, nullable=False, default=False),
    Column("meeting_id", String(64), nullable=True),
    Column("materials_frozen", Boolean, nullable=False, default=False),
    Column("materials_frozen_at", Instant(), nullable=True),
    Column("decided_at", Instant(), nullable=True),
    Column("published_at", Instant(), nullable=True),
    Column("closed_at", Instant(), nullable=True),
    Column("certificate_number", String(32), nullable=True),
    Column("withdrawal_reason", Text, nullable=False, default=""),
    Column("qualification_reasons", Text, nullable=False, default="[]"),
    Column("publicities", Text, nullable=False, default="[]"),
    Column("objections", Text, nullable=False, default="[]"),
    Column("decision", Text, nullable=True),
    Column("history", Text, nullable=False, default="[]"),
    Column("version", Integer, nullable=False, default=1),
    Column("updated_at", Instant(), nullable=False),
    Index("ix_review_cases_state", "state", "committee_id"),
    Index("ix_review_cases_publicity_due", "publicity_closes_at", "held"),
    Index("ix_review_cases_applicant", "applicant_key", "year"),
)

meetings = Table(
    "review_meetings", metadata,
    Column("meeting_id", String(64), primary_key=True),
    Column("committee_id", String(64), nullable=False),
    Column("starts_at", Instant(), nullable=False),
    Column("docket", Text, nullable=False),
    Column("panel_size_requested", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("scheduled_at", Instant(), nullable=False),
    Column("panel_id", String(64), nullable=True),
    Column("panel_size", Integer, nullable=True),
    Column("panel_drawn_at", Instant(), nullable=True),
)

vote_tallies = Table(
    "review_vote_tallies", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("meeting_id", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("panel_size", Integer, nullable=False),
    Column("present", Integer, nullable=False),
    Column("yes", Integer, nullable=False),
    Column("no", Integer, nullable=False),
    Column("abstain", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("failed_rules", Text, nullable=False),
    Column("recorded_at", Instant(), nullable=False),
    UniqueConstraint("meeting_id", "case_id", name="uq_review_vote_tallies_meeting_case"),
)

certificates = Table(
    "review_certificates", metadata,
    Column("number", String(32), primary_key=True),
    Column("case_id", String(64), nullable=False, unique=True),
    Column("applicant_key", String(128), nullable=False),
    Column("prefix", String(8), nullable=False),
    Column("year", Integer, nullable=False),
    Column("serial", Integer, nullable=False),
    Column("title", String(100), nullable=False),
    Column("specialty", String(200), nullable=False),
    Column("committee_name", String(200), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("issued_at", Instant(), nullable=False),
    UniqueConstraint("prefix", "year", "serial", name="uq_review_certificates_serial"),
)

failed_applicants = Table(
    "review_failed_applicants", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("applicant_key", String(128), nullable=False),
    Column("year", Integer, nullable=False),
    Column("committee_id", String(64), nullable=False),
    Column("title", String(100), nullable=False),
    Column("specialty", String(200), nullable=False),
    Column("failed_at", Instant(), nullable=False),
    Index("ix_review_failed_applicants_key", "applicant_key", "year"),
)
