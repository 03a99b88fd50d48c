"""Audit store on PostgreSQL with a million events: inspectors' queries and full verification,
each as a ratio against a baseline measured in the same run.

    python -m bench.audit_queries [--records 1000000] [--queries 2000] [--keep]

1. A scratch PostgreSQL database is created and migrated (the audit service's migrations).
2. ``--records`` synthetic events (cases moving through intake, review and experts: about twenty
   events per case) are chained with the service's own code (``Ledger.prepare``, ``index_terms``)
   and bulk-loaded with COPY, so the stored rows are exactly what the service would store; the
   full verification at the end proves they are.
3. Measured:
   - baseline A: a plain ``SELECT`` of one record by its indexed position;
   - case timeline: the inspector's ``/cases/<id>/timeline`` query (first page of 50, decoded and
     masked as the endpoint returns it), random cases;
   - applicant: the inspector's identity-number lookup (validation, pseudonym, page of 50);
   - baseline B: raw ``hashlib.sha256`` over the same record bytes in memory;
   - baseline C: streaming every stored row out of PostgreSQL without hashing;
   - full verification (``verify_store``): re-hash every record from its stored columns, re-link
     the chain, rebuild the Merkle tree, check the signed head.
   Latencies are p50/p99 over ``--queries`` calls; ratios are query / baseline A and
   verification rate / baselines B and C.

Needs PostgreSQL at ``ZHICHENG_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/
postgres``). Not a test: it prints numbers and never fails on them.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import time
import uuid
from datetime import datetime, timedelta

import psycopg2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from bench.common import machine, summary
from services.audit import handlers
from services.audit.checkpoint import HeadSigner
from services.audit.ledger import Ledger, envelope_text, record_content_from_text
from services.audit.models import audit_records, metadata
from shared.clock import CHINA, Clock
from shared.db import ServiceDatabase
from shared.migrations import upgrade
from shared.personal import applicant_key, identity_check_char

ADMIN_URL = os.environ.get("ZHICHENG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PERSON_KEY = b"bench-person-key"
T0 = datetime(2023, 6, 1, 9, 0, tzinfo=CHINA)
COMMITTEES = [f"K{i:02d}" for i in range(1, 42)]
CASE_STORY = ["submission_received", "submission_accepted", "case_opened", "qualification_passed",
              "publicity_started", "publicity_ended", "materials_supplemented",
              "materials_frozen", "meeting_scheduled", "panel_requested", "draw_committed",
              "panel_drawn", "draw_seed_revealed", "votes_recorded", "case_decided",
              "publicity_started", "publicity_ended", "result_published", "certificate_issued",
              "archive_attempt_recorded"]
PRODUCER = {"submission_received": "intake", "submission_accepted": "intake",
            "archive_attempt_recorded": "intake", "draw_committed": "experts",
            "panel_drawn": "experts", "draw_seed_revealed": "experts"}


def identity(n: int) -> str:
    first17 = f"330604{1960 + n % 40:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + identity_check_char(first17)


def synthetic_events(count: int, seed: int = 7):
    """``count`` envelopes: cases told in story order, interleaved a few at a time."""
    rng = random.Random(seed)
    cases = max(1, count // len(CASE_STORY))
    produced = 0
    for case in range(cases + 1):
        committee = COMMITTEES[case % len(COMMITTEES)]
        case_id, submission_id = f"CASE-{case:07d}", f"SUB-{case:07d}"
        person = applicant_key(identity(case // 2), PERSON_KEY)  # some applicants apply twice
        meeting = f"M-{committee}-{case // 40:05d}"
        experts = [f"X{rng.randrange(3000):04d}" for _ in range(7)]
        for step, event_type in enumerate(CASE_STORY):
            if produced >= count:
                return
            when = T0 + timedelta(days=case % 150, hours=step, minutes=case % 60)
            payload = {"case_id": case_id, "submission_id": submission_id,
                       "committee_id": committee, "at": when.isoformat()}
            if event_type in ("submission_received", "submission_accepted",
                              "archive_attempt_recorded"):
                payload = {"submission_id": submission_id, "applicant_key": person,
                           "committee_code": committee, "plan_year": 2023,
                           "title": "工程师", "specialty": "建筑施工"}
            elif event_type in ("meeting_scheduled", "panel_requested", "votes_recorded"):
                payload.update({"meeting_id": meeting, "panel_size": 7})
            elif event_type in ("draw_committed", "panel_drawn"):
                payload = {"round_id": f"R-{meeting}", "meeting_id": meeting,
                           "committee_id": committee, "panel_size": 7,
                           "commitment_digest": hashlib.sha256(meeting.encode()).hexdigest()}
            elif event_type == "draw_seed_revealed":
                payload = {"round_id": f"R-{meeting}", "meeting_id": meeting,
                           "committee_id": committee, "panel": experts, "reserves": [],
                           "seed": hashlib.sha256(case_id.encode()).hexdigest()}
            elif event_type == "publicity_started":
                payload.update({"phase": "pre_review" if step < 10 else "post_review",
                                "closes_at": (when + timedelta(days=7)).isoformat()})
            event_id = str(uuid.UUID(int=rng.getrandbits(128)))
            yield {"event_id": event_id, "event_type": event_type, "version": 1,
                   "occurred_at": when.isoformat(), "producer": PRODUCER.get(event_type, "review"),
                   "correlation_id": event_id, "causation_id": None, "payload": payload}
            produced += 1


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") \
        .replace("\r", "\\r")


def bulk_load(dsn: str, count: int) -> tuple[Ledger, float]:
    """Chain ``count`` events with the service's code and COPY them in; returns the ledger."""
    ledger = Ledger()
    start = time.perf_counter()
    conn = psycopg2.connect(dsn)
    records, terms = io.StringIO(), io.StringIO()
    flushed = 0

    def flush() -> None:
        nonlocal records, terms
        with conn.cursor() as cur:
            records.seek(0)
            cur.copy_expert(
                "COPY audit_records (event_id, event_type, producer, occurred_at, received_at, "
                "correlation_id, envelope, position, leaf_hash, previous_hash, chain_hash) "
                "FROM STDIN", records)
            terms.seek(0)
            cur.copy_expert("COPY audit_record_terms (kind, value, position) FROM STDIN", terms)
        conn.commit()
        records, terms = io.StringIO(), io.StringIO()

    for env in synthetic_events(count):
        received = datetime.fromisoformat(env["occurred_at"]) + timedelta(seconds=1)
        record = ledger.prepare(env, received)
        text = envelope_text(env)
        t = handlers.index_terms(env, PERSON_KEY)
        records.write("\t".join((
            env["event_id"], env["event_type"], env["producer"], env["occurred_at"],
            received.isoformat(), env["correlation_id"], _copy_text(text), str(record.position),
            "\\\\x" + record.leaf_hash.hex(), "\\\\x" + record.previous_hash.hex(),
            "\\\\x" + record.chain_hash.hex())) + "\n")
        for kind, values in (("case", t.case_ids), ("committee", t.committee_ids),
                             ("expert", t.expert_ids), ("applicant", t.applicant_keys)):
            for value in sorted(values):
                terms.write(f"{kind}\t{_copy_text(value)}\t{record.position}\n")
        ledger.advance(record)
        if ledger.size - flushed >= 50_000:
            flush()
            flushed = ledger.size
    flush()
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    conn.commit()
    conn.close()
    return ledger, time.perf_counter() - start


def timed(fn, args_list) -> list[float]:
    out = []
    for args in args_list:
        t = time.perf_counter()
        fn(*args)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    name = f"zb_audit_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    url = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
    db = ServiceDatabase("audit", url, metadata)
    try:
        upgrade("audit", db.engine)
        ledger, load_seconds = bulk_load(dsn, args.records)
        print(f"machine: {machine()}")
        print(f"loaded {ledger.size:,} chained records in {load_seconds:.1f}s "
              f"({ledger.size / load_seconds:,.0f}/s, chaining + COPY)")
        key = Ed25519PrivateKey.generate()
        settings = handlers.AuditSettings(log_id="bench", signer=HeadSigner(key, "bench"),
                                          person_key=PERSON_KEY)
        log = handlers.AuditLog(settings)
        clock = Clock(fixed=T0 + timedelta(days=200))
        t = time.perf_counter()
        with db.unit_of_work(clock) as uow:
            handlers.sign_head(uow, log, clock)
        print(f"ledger rebuilt from stored hashes and head signed in "
              f"{time.perf_counter() - t:.1f}s")

        rng = random.Random(11)
        cases = max(1, ledger.size // len(CASE_STORY))
        masking = handlers.masking_for(frozenset({"inspector"}))
        with db.engine.connect() as conn:
            def by_position(position: int) -> None:
                conn.execute(select(audit_records).where(
                    audit_records.c.position == position)).first()

            def timeline(case_id: str) -> None:
                page = handlers.query_records(conn, masking, term=("case", case_id), limit=50)
                assert page["items"]

            def applicant(number: str) -> None:
                page = handlers.query_records(conn, masking, term=handlers.applicant_term(
                    number, PERSON_KEY), limit=50)
                assert page["items"]

            positions = [(rng.randrange(ledger.size),) for _ in range(args.queries)]
            case_args = [(f"CASE-{rng.randrange(cases):07d}",) for _ in range(args.queries)]
            people = [(identity(rng.randrange(max(1, cases // 2))),) for _ in range(args.queries)]
            for fn, a in ((by_position, positions[:200]), (timeline, case_args[:200]),
                          (applicant, people[:200])):  # warm the caches alike
                timed(fn, a)
            base_ms = summary(timed(by_position, positions))
            case_ms = summary(timed(timeline, case_args))
            person_ms = summary(timed(applicant, people))

            t = time.perf_counter()
            contents = []
            for row in conn.execute(select(audit_records.c.position, audit_records.c.received_at,
                                           audit_records.c.envelope)
                                    .order_by(audit_records.c.position)
                                    .execution_options(stream_results=True, yield_per=20000)):
                contents.append(record_content_from_text(row[0], row[1].isoformat(), row[2]))
            stream_rate = len(contents) / (time.perf_counter() - t)
        t = time.perf_counter()
        for content in contents:
            hashlib.sha256(b"\x00" + content).digest()
        hash_rate = len(contents) / (time.perf_counter() - t)
        total_bytes = sum(len(c) for c in contents)
        del contents

        t = time.perf_counter()
        report = handlers.verify_store(db.engine, key.public_key())
        verify_seconds = time.perf_counter() - t
        verify_rate = report["records"] / verify_seconds

        def line(label: str, s: dict) -> str:
            return (f"  {label:34} p50 {s['p50']:7.3f} ms  p99 {s['p99']:7.3f} ms   "
                    f"ratio p50 {s['p50'] / base_ms['p50']:5.1f}x  p99 "
                    f"{s['p99'] / base_ms['p99']:5.1f}x")

        print(f"\nqueries ({args.queries} each, {ledger.size:,} records, {cases:,} cases):")
        print(f"  {'baseline A: SELECT by position':34} p50 {base_ms['p50']:7.3f} ms  "
              f"p99 {base_ms['p99']:7.3f} ms")
        print(line("case timeline (page of 50)", case_ms))
        print(line("applicant by identity number", person_ms))
        print(f"\nfull verification: {'intact' if report['intact'] else 'NOT INTACT'}, "
              f"{report['records']:,} records in {verify_seconds:.1f}s = {verify_rate:,.0f} "
              f"records/s (avg {total_bytes // max(1, report['records'])} bytes/record)")
        print(f"  baseline B: raw hashlib.sha256 over the same bytes: {hash_rate:,.0f} records/s"
              f"  -> verification at {verify_rate / hash_rate:.3f}x of it")
        print(f"  baseline C: streaming the rows out of PostgreSQL:   {stream_rate:,.0f} records/s"
              f"  -> verification at {verify_rate / stream_rate:.3f}x of it")
        if not report["intact"]:
            print(f"  first bad: {report['first_bad']}")
    finally:
        db.dispose()
        if not args.keep:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
        admin.close()


if __name__ == "__main__":
    main()
