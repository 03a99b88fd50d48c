"""The audit store on a real database: append-only chain, tamper detection naming the first bad
record, signed heads, exports, restored older databases, monitors turning events into notices."""
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, text, update

from services.audit import handlers
from services.audit.checkpoint import verify_export
from services.audit.cli import audit as audit_cli
from services.audit.merkle import verify_consistency, verify_inclusion
from services.audit.models import audit_records, audit_violations
from tests.integration.audit.audit_support import (
    IDENTITY, T0, a_case_story, audit_database, audit_log, envelope, record,
)


@pytest.fixture
def store(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    for i in range(12):
        record(db, log, clock, envelope("meeting_scheduled", "review", i, meeting_id=f"M{i}",
                                        committee_id="K7", case_ids=[f"C{i}"]))
    yield db, log
    db.dispose()


def verify(db, log, **kw):
    return handlers.verify_store(db.engine, log.settings.signer.public_key, **kw)


def test_an_untouched_store_verifies_and_a_redelivered_event_is_stored_once(store, clock):
    db, log = store
    env = envelope("meeting_held", "review", 99, meeting_id="M1", committee_id="K7", case_ids=[])
    assert record(db, log, clock, env) is True
    assert record(db, log, clock, env) is False
    report = verify(db, log)
    assert report["intact"] and report["records"] == 13
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_records)).scalar_one() == 13


def test_a_changed_byte_is_named(store):
    db, log = store
    with db.engine.begin() as conn:
        env = conn.execute(select(audit_records.c.envelope).where(audit_records.c.position == 5)).scalar_one()
        conn.execute(update(audit_records).where(audit_records.c.position == 5)
                     .values(envelope=env.replace('"M5"', '"M6"')))
    report = verify(db, log)
    assert not report["intact"]
    assert report["first_bad"]["position"] == 5 and report["first_bad"]["reason"] == "content_changed"


def test_a_deleted_row_is_named(store):
    db, log = store
    with db.engine.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.position == 7))
    report = verify(db, log)
    assert report["first_bad"]["position"] == 7 and report["first_bad"]["reason"] == "missing_record"


def test_two_swapped_rows_are_named_at_the_first(store):
    db, log = store
    with db.engine.begin() as conn:
        a, b = (conn.execute(select(audit_records.c.envelope).where(audit_records.c.position == p)).scalar_one()
                for p in (3, 8))
        conn.execute(update(audit_records).where(audit_records.c.position == 3).values(envelope=b))
        conn.execute(update(audit_records).where(audit_records.c.position == 8).values(envelope=a))
    report = verify(db, log)
    assert report["first_bad"]["position"] == 3


def test_a_tail_deleted_after_a_signed_head_is_named(store, clock):
    db, log = store
    with db.unit_of_work(clock) as uow:
        assert handlers.sign_head(uow, log, clock).tree_size == 12
    with db.engine.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.position >= 10))
    report = verify(db, log)
    assert not report["intact"] and report["first_bad"]["position"] == 10


def test_cli_verify_exits_zero_when_intact_and_one_naming_the_first_bad_record(store, monkeypatch):
    db, log = store
    from services.audit import cli as audit_cli_module
    monkeypatch.setattr(audit_cli_module, "_settings", lambda: log.settings)
    ok = CliRunner().invoke(audit_cli, ["verify", "--database-url", db.url])
    assert ok.exit_code == 0, ok.output
    assert "12 records intact" in ok.output
    with db.engine.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.position == 4))
    bad = CliRunner().invoke(audit_cli, ["verify", "--database-url", db.url])
    assert bad.exit_code == 1 and "position 4" in bad.output


def test_proofs_between_signed_heads_check_with_the_independent_verifier(store, clock):
    db, log = store
    with db.unit_of_work(clock) as uow:
        first = handlers.sign_head(uow, log, clock)
    for i in range(5):
        record(db, log, clock, envelope("meeting_scheduled", "review", 50 + i, meeting_id="X"))
    with db.unit_of_work(clock) as uow:
        second = handlers.sign_head(uow, log, clock)
    with db.engine.connect() as conn:
        inc = handlers.inclusion_proof(conn, log, 13, None)
        con = handlers.consistency_proof(conn, log, first.tree_size, second.tree_size)
    assert verify_inclusion(bytes.fromhex(inc["leaf_hash"]), 13, inc["tree_size"],
                            [bytes.fromhex(p) for p in inc["proof"]], second.root_hash)
    assert verify_consistency(12, 17, first.root_hash, second.root_hash,
                              [bytes.fromhex(p) for p in con["proof"]])


def test_an_export_verifies_offline_and_a_restored_older_database_is_caught(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    for i in range(8):
        record(db, log, clock, envelope("meeting_scheduled", "review", i, meeting_id=f"M{i}"))
    with db.unit_of_work(clock) as uow:
        old_head = handlers.sign_head(uow, log, clock)
    lines_then = list(handlers.export_lines(db.engine, log, clock))
    for i in range(8, 15):
        record(db, log, clock, envelope("meeting_scheduled", "review", i, meeting_id=f"M{i}"))
    with db.unit_of_work(clock) as uow:
        kept = handlers.sign_head(uow, log, clock)  # the inspector keeps this head
    lines_now = list(handlers.export_lines(db.engine, log, clock))
    key = log.settings.signer.public_key
    report = verify_export(lines_now, trusted_public_key=key, last_known_head=kept)
    assert report.ok, report.problems
    # the database is restored from the backup taken when the first export was made
    stale = verify_export(lines_then, trusted_public_key=key, last_known_head=kept)
    assert not stale.ok and "rolled_back" in {p.code for p in stale.problems}
    assert old_head.tree_size == 8
    db.dispose()


def test_a_case_export_proves_each_record_by_inclusion(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    for env in a_case_story("C1") + a_case_story("C2"):
        record(db, log, clock, env)
    with db.unit_of_work(clock) as uow:
        handlers.sign_head(uow, log, clock)
    lines = list(handlers.export_lines(db.engine, log, clock, case_id="C2"))
    report = verify_export(lines, trusted_public_key=log.settings.signer.public_key)
    assert report.ok and report.mode == "selection" and report.records == 3
    db.dispose()


def test_a_monitor_violation_is_stored_once_and_announced_as_a_notice(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    story = a_case_story("C1")
    early = envelope("meeting_held", "review", 20, meeting_id="M2", committee_id="K7",
                     case_ids=["C1"], held_at=T0.replace(day=3).isoformat())
    for env in story[:2] + [early]:
        record(db, log, clock, env)
    record(db, log, clock, early)  # redelivered: no second notice
    with db.engine.connect() as conn:
        violations = conn.execute(select(audit_violations)).mappings().all()
        notices = [json.loads(r[0]) for r in conn.execute(
            select(db.outbox.c.envelope).where(db.outbox.c.event_type == "notice_issued"))]
    assert [v["rule_id"] for v in violations] == ["AUDIT-PRE-REVIEW-PUBLICITY"]
    assert len(notices) == 1 and notices[0]["payload"]["rule_id"] == "AUDIT-PRE-REVIEW-PUBLICITY"
    assert notices[0]["causation_id"] == early["event_id"]
    # a fresh process rebuilds monitor state from the store and finds the same, once
    log2 = audit_log()
    record(db, log2, clock, envelope("meeting_held", "review", 30, meeting_id="M3", committee_id="K7",
                                     case_ids=["C1"], held_at=T0.replace(day=4).isoformat()))
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_violations)).scalar_one() == 2
    db.dispose()


def test_applicants_are_found_by_identity_number_and_shown_masked(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    for env in a_case_story("C1"):
        record(db, log, clock, env)
    term = handlers.applicant_term(IDENTITY.lower(), log.settings.person_key)
    with db.engine.connect() as conn:
        page = handlers.query_records(conn, handlers.Masking(names=False), term=term)
        stored = conn.execute(text("SELECT value FROM audit_record_terms WHERE kind='applicant'")).scalars().all()
    assert len(page["items"]) == 1
    shown = json.dumps(page["items"], ensure_ascii=False)
    assert IDENTITY not in shown and "张三" not in shown and "110105********002X" in shown
    assert IDENTITY not in "".join(stored)
    db.dispose()


def test_case_timelines_page_oldest_or_newest_first(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    for env in a_case_story("C1") + a_case_story("C2"):
        record(db, log, clock, env)
    with db.engine.connect() as conn:
        first = handlers.query_records(conn, handlers.Masking(), term=("case", "C1"), limit=2)
        rest = handlers.query_records(conn, handlers.Masking(), term=("case", "C1"), limit=2,
                                      cursor=first["next_cursor"])
        newest = handlers.query_records(conn, handlers.Masking(), term=("case", "C1"),
                                        newest_first=True, limit=10)
    positions = [i["position"] for i in first["items"] + rest["items"]]
    assert positions == [0, 1, 2] and rest["next_cursor"] is None
    assert [i["position"] for i in newest["items"]] == [2, 1, 0]
    db.dispose()


def test_events_carrying_only_the_applicant_pseudonym_are_found_by_identity_number(databases, clock):
    from shared.personal import applicant_key
    from tests.integration.audit.audit_support import PERSON_KEY

    db = audit_database(databases)
    log = audit_log()
    pseudonym = applicant_key(IDENTITY, PERSON_KEY)
    record(db, log, clock, envelope("applicant_failed", "review", 1, case_id="C1", committee_id="K7",
                                    applicant_key=pseudonym, year=2023))
    record(db, log, clock, envelope("applicant_failed", "review", 2, case_id="C2", committee_id="K7",
                                    applicant_key=applicant_key("11010519491231002X", b"other"), year=2023))
    with db.engine.connect() as conn:
        page = handlers.query_records(conn, handlers.Masking(), term=handlers.applicant_term(
            IDENTITY, log.settings.person_key))
    assert [i["event"]["payload"]["case_id"] for i in page["items"]] == ["C1"]
    db.dispose()


def test_a_review_case_id_resolves_to_the_whole_story_from_intake_on(databases, clock):
    db = audit_database(databases)
    log = audit_log()
    record(db, log, clock, envelope("submission_accepted", "intake", 0, submission_id="SUB-1",
                                    applicant_key="a" * 32, committee_code="K7"))
    record(db, log, clock, envelope("case_opened", "review", 1, case_id="CASE-1",
                                    submission_id="SUB-1", committee_id="K7"))
    record(db, log, clock, envelope("case_opened", "review", 2, case_id="CASE-2",
                                    submission_id="SUB-2", committee_id="K7"))
    with db.engine.connect() as conn:
        term = handlers.case_term(conn, "CASE-1")
        page = handlers.query_records(conn, handlers.Masking(), term=term)
        assert handlers.case_term(conn, "SUB-1") == ("case", "SUB-1")
    assert [i["event_type"] for i in page["items"]] == ["submission_accepted", "case_opened"]
    db.dispose()


def test_records_stored_before_the_chain_existed_are_chained_by_the_migration(databases, clock):
    from alembic import command
    from sqlalchemy import MetaData, Table
    from sqlalchemy import insert as sql_insert

    from shared.db import ServiceDatabase, make_engine
    from shared.migrations import alembic_config
    from services.audit.models import metadata

    url = databases.url("audit")
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config("audit", conn), "audit_0001")
    with engine.begin() as conn:
        old_table = Table("audit_records", MetaData(), autoload_with=conn)  # the 0001 shape
        for i in range(3):
            env = envelope("intake_started", "intake", i, service="intake", version="0",
                           instance=f"h:{i}", schema_revision=None)
            conn.execute(sql_insert(old_table).values(
                event_id=env["event_id"], event_type=env["event_type"], producer="intake",
                occurred_at=T0, received_at=T0, correlation_id=env["correlation_id"],
                envelope=json.dumps(env, ensure_ascii=False, sort_keys=True)))
    engine.dispose()
    db = ServiceDatabase("audit", url, metadata)
    from shared.migrations import upgrade
    upgrade("audit", db.engine)
    log = audit_log()
    assert verify(db, log)["intact"] and verify(db, log)["records"] == 3
    record(db, log, clock, envelope("meeting_scheduled", "review", 9, meeting_id="M1"))
    report = verify(db, log)
    assert report["intact"] and report["records"] == 4
    db.dispose()


def test_a_restored_older_database_verifies_alone_but_fails_against_the_last_exported_head(
        databases, clock, tmp_path, monkeypatch):
    from services.audit import cli as audit_cli_module
    from services.audit.models import audit_record_terms, audit_tree_heads

    db = audit_database(databases)
    log = audit_log()
    for i in range(8):
        record(db, log, clock, envelope("meeting_scheduled", "review", i, meeting_id=f"M{i}"))
    with db.unit_of_work(clock) as uow:
        handlers.sign_head(uow, log, clock)
    for i in range(8, 12):
        record(db, log, clock, envelope("meeting_scheduled", "review", i, meeting_id=f"M{i}"))
    with db.unit_of_work(clock) as uow:
        kept = handlers.sign_head(uow, log, clock)  # exported: the inspector keeps this head
    head_file = tmp_path / "last-head.json"
    head_file.write_text(json.dumps(kept.as_dict()))
    # the database is restored from a backup taken at 8 records (its heads came back with it)
    with db.engine.begin() as conn:
        conn.execute(delete(audit_tree_heads).where(audit_tree_heads.c.tree_size > 8))
        conn.execute(delete(audit_record_terms).where(audit_record_terms.c.position >= 8))
        conn.execute(delete(audit_records).where(audit_records.c.position >= 8))
    assert verify(db, log)["intact"]  # consistent in itself
    report = verify(db, log, last_known_head=kept)
    assert not report["intact"] and report["first_bad"]["position"] == 8
    assert report["first_bad"]["reason"] == "rolled_back"
    monkeypatch.setattr(audit_cli_module, "_settings", lambda: log.settings)
    result = CliRunner().invoke(audit_cli, ["verify", "--database-url", db.url,
                                            "--last-head", str(head_file)])
    assert result.exit_code == 1 and "position 8" in result.output
    db.dispose()
