"""audit: hash chain and Merkle leaves on every record, record index terms, signed tree heads,
violations and acknowledgements, accepted cases, inspections (spot checks, patrols, key
supervision)

Records stored before this revision are chained here, in their stored order, so the log is whole
from its first record.

Revision ID: audit_0002
Revises: audit_0001
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "audit_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _chain_existing(bind) -> list[dict]:
    """Hashes for records stored before the chain existed (same scheme as services/audit/ledger.py,
    spelled out so this revision never changes)."""
    from datetime import timezone
    from zoneinfo import ZoneInfo

    china = ZoneInfo("Asia/Shanghai")
    rows = bind.execute(sa.text("SELECT seq, envelope, received_at FROM audit_records ORDER BY seq"))
    previous = bytes(32)
    out = []
    for position, (seq, envelope, received_at) in enumerate(rows):
        if isinstance(received_at, str):
            from datetime import datetime
            received_at = datetime.fromisoformat(received_at)
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=timezone.utc)
        text = _canonical(json.loads(envelope))
        content = ('{"event":' + text + ',"position":' + str(position) + ',"recorded_at":'
                   + json.dumps(received_at.astimezone(china).isoformat()) + "}").encode()
        leaf = hashlib.sha256(b"\x00" + content).digest()
        link = hashlib.sha256(b"\x02" + previous + leaf).digest()
        out.append({"seq": seq, "envelope": text, "position": position, "leaf_hash": leaf,
                    "previous_hash": previous, "chain_hash": link})
        previous = link
    return out


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("leaf_hash", sa.LargeBinary(32), nullable=True))
        batch.add_column(sa.Column("previous_hash", sa.LargeBinary(32), nullable=True))
        batch.add_column(sa.Column("chain_hash", sa.LargeBinary(32), nullable=True))
    bind = op.get_bind()
    for row in _chain_existing(bind):
        bind.execute(sa.text("UPDATE audit_records SET envelope=:envelope, position=:position, "
                             "leaf_hash=:leaf_hash, previous_hash=:previous_hash, "
                             "chain_hash=:chain_hash WHERE seq=:seq"), row)
    with op.batch_alter_table("audit_records") as batch:
        batch.alter_column("position", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("leaf_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.alter_column("previous_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.alter_column("chain_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.create_unique_constraint("uq_audit_records_position", ["position"])
    op.create_index("ix_audit_records_type_position", "audit_records", ["event_type", "position"])
    op.create_index("ix_audit_records_occurred_position", "audit_records",
                    ["occurred_at", "position"])

    op.create_table(
        "audit_record_terms",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        sa.Column("position", sa.BigInteger(), primary_key=True),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("log_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("signed_at", Instant, nullable=False),
    )
    op.create_table(
        "audit_violations",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("clause", sa.String(16), nullable=False),
        sa.Column("committee_id", sa.String(64), nullable=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("notify_unit", sa.String(128), nullable=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", Instant, nullable=False),
        sa.Column("found_at", Instant, nullable=False),
        sa.Column("finding", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_violations_committee", "audit_violations",
                    ["committee_id", "found_at"])
    op.create_index("ix_audit_violations_found", "audit_violations", ["found_at"])
    op.create_table(
        "audit_violation_acks",
        sa.Column("key", sa.String(32), sa.ForeignKey("audit_violations.key"), primary_key=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        sa.Column("acknowledged_at", Instant, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_table(
        "audit_cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("committee_id", sa.String(64), nullable=True),
        sa.Column("industry", sa.String(64), nullable=True),
        sa.Column("accepted_at", Instant, nullable=False),
    )
    op.create_index("ix_audit_cases_committee", "audit_cases", ["committee_id", "case_id"])
    op.create_index("ix_audit_cases_industry", "audit_cases", ["industry", "case_id"])
    op.create_table(
        "audit_inspections",
        sa.Column("inspection_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("committee_id", sa.String(64), nullable=True),
        sa.Column("industry", sa.String(64), nullable=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("draw", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
    )
    op.create_table(
        "audit_inspection_cases",
        sa.Column("inspection_id", sa.String(36),
                  sa.ForeignKey("audit_inspections.inspection_id"), primary_key=True),
        sa.Column("case_id", sa.String(64), primary_key=True),
    )
    op.create_table(
        "audit_inspection_results",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("inspection_id", sa.String(36),
                  sa.ForeignKey("audit_inspections.inspection_id"), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("inspector", sa.String(128), nullable=False),
        sa.Column("recorded_at", Instant, nullable=False),
    )
    op.create_index("ix_audit_inspection_results_case", "audit_inspection_results",
                    ["inspection_id", "case_id"])
    op.create_table(
        "audit_key_supervision",
        sa.Column("committee_id", sa.String(64), primary_key=True),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    for table in ("audit_key_supervision", "audit_inspection_results", "audit_inspection_cases",
                  "audit_inspections", "audit_cases", "audit_violation_acks", "audit_violations",
                  "audit_tree_heads", "audit_record_terms"):
        op.drop_table(table)
    op.drop_index("ix_audit_records_occurred_position", "audit_records")
    op.drop_index("ix_audit_records_type_position", "audit_records")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_constraint("uq_audit_records_position", type_="unique")
        for column in ("chain_hash", "previous_hash", "leaf_hash", "position"):
            batch.drop_column(column)
