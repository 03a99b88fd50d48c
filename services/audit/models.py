"""SQLAlchemy tables of the audit service.

``audit_records`` is append-only: the service inserts records and never updates or deletes one.
"""
from sqlalchemy import Column, Index, String, Table, Text

from shared.db import BigId, Instant, messaging_tables, new_metadata

metadata = new_metadata()
outbox, processed_events = messaging_tables(metadata)

audit_records = Table(
    "audit_records", metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("producer", String(32), nullable=False),
    Column("occurred_at", Instant(), nullable=False),
    Column("received_at", Instant(), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("envelope", Text, nullable=False),
    Index("ix_audit_records_event_type", "event_type", "seq"),
    Index("ix_audit_records_correlation", "correlation_id", "seq"),
)
