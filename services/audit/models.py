"""SQLAlchemy tables of the audit service.

``audit_records`` is append-only: the service inserts records and never updates or deletes one.
Each record has its ``position`` in the log (0-based, the Merkle leaf index), its envelope stored
as canonical JSON text, the time it was recorded, and the three hashes of the chain (see
chain.py/ledger.py). ``audit_record_terms`` indexes records by case, committee, expert and
applicant (keyed hash of the identity number, never the number). Signed tree heads, violations
and their acknowledgements are insert-only too.
"""
from sqlalchemy import BigInteger, Column, ForeignKey, Index, LargeBinary, String, Table, Text

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
    Column("position", BigInteger, nullable=False, unique=True),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("previous_hash", LargeBinary(32), nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=False),
    Index("ix_audit_records_type_position", "event_type", "position"),
    Index("ix_audit_records_occurred_position", "occurred_at", "position"),
)

audit_record_terms = Table(
    "audit_record_terms", metadata,
    Column("kind", String(16), primary_key=True),   # case | committee | expert | applicant
    Column("value", String(128), primary_key=True),
    Column("position", BigInteger, primary_key=True),
)

audit_tree_heads = Table(
    "audit_tree_heads", metadata,
    Column("tree_size", BigInteger, primary_key=True),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("log_id", String(64), nullable=False),
    Column("timestamp", String(40), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    Column("signed_at", Instant(), nullable=False),
)

audit_violations = Table(
    "audit_violations", metadata,
    Column("key", String(32), primary_key=True),
    Column("rule_id", String(64), nullable=False),
    Column("clause", String(16), nullable=False),
    Column("committee_id", String(64), nullable=True),
    Column("subject_kind", String(16), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("notify_unit", String(128), nullable=True),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("occurred_at", Instant(), nullable=False),
    Column("found_at", Instant(), nullable=False),
    Column("finding", Text, nullable=False),
    Index("ix_audit_violations_committee", "committee_id", "found_at"),
    Index("ix_audit_violations_found", "found_at"),
)

audit_violation_acks = Table(
    "audit_violation_acks", metadata,
    Column("key", String(32), ForeignKey("audit_violations.key"), primary_key=True),
    Column("acknowledged_by", String(128), nullable=False),
    Column("acknowledged_at", Instant(), nullable=False),
    Column("note", Text, nullable=True),
)

audit_cases = Table(
    "audit_cases", metadata,
    Column("case_id", String(64), primary_key=True),
    Column("committee_id", String(64), nullable=True),
    Column("industry", String(64), nullable=True),
    Column("accepted_at", Instant(), nullable=False),
    Index("ix_audit_cases_committee", "committee_id", "case_id"),
    Index("ix_audit_cases_industry", "industry", "case_id"),
)

audit_inspections = Table(
    "audit_inspections", metadata,
    Column("inspection_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),   # spot_check | patrol | key_supervision
    Column("committee_id", String(64), nullable=True),
    Column("industry", String(64), nullable=True),
    Column("stage", String(16), nullable=False),  # committing | revealing | drawn | selected
    Column("draw", Text, nullable=True),          # the spot-check draw's state (JSON)
    Column("created_by", String(128), nullable=False),
    Column("created_at", Instant(), nullable=False),
)

audit_inspection_cases = Table(
    "audit_inspection_cases", metadata,
    Column("inspection_id", String(36), ForeignKey("audit_inspections.inspection_id"),
           primary_key=True),
    Column("case_id", String(64), primary_key=True),
)

audit_inspection_results = Table(
    "audit_inspection_results", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("inspection_id", String(36), ForeignKey("audit_inspections.inspection_id"),
           nullable=False),
    Column("case_id", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("notes", Text, nullable=True),
    Column("inspector", String(128), nullable=False),
    Column("recorded_at", Instant(), nullable=False),
    Index("ix_audit_inspection_results_case", "inspection_id", "case_id"),
)

audit_key_supervision = Table(
    "audit_key_supervision", metadata,
    Column("committee_id", String(64), primary_key=True),
    Column("started_by", String(128), nullable=False),
    Column("started_at", Instant(), nullable=False),
    Column("reason", Text, nullable=True),
)
