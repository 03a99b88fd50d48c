"""Portal-to-audit load on the running platform, against the broker alone in the same run.

Starts the four services as processes on a scratch vhost and fresh databases (SQLite files, or
PostgreSQL with --postgres), with the clock running from 2023-07-15 so applications fall inside
the 2023 material deadlines. Then:

1. throughput: the portal publishes N applications to intake's queue as fast as it can; the
   rate is N over the time until audit has recorded every one's answer (submission_accepted);
2. latency: the portal publishes at a steady rate (default 200/s); each application's latency
   is from its publish to audit's receipt of its answer; p50 and p99.

The broker alone (kombu, confirmed persistent publish to one queue, consumed and acked) is
measured in the same run, twice: before the services start and again right after the
throughput phase (the services idle). It waits on the disk for every confirm, so it drifts with
the machine's I/O from minute to minute; throughput is printed as a ratio to the mean of the
two, with the two ratios beside it.

    python -m bench.platform_load [--count 5000] [--rate 200] [--seconds 20] [--postgres]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from bench.broker_raw import raw_rate
from bench.common import (CpuMeter, batch_sizes, disk_writes, machine, queue_message_counts,
                          scratch_vhost, summary, written_bytes)
from shared.clock import parse_instant
from shared.config import SERVICES
from shared.launcher import Platform
from shared.simulation.portal import ApplicationFactory, PortalPublisher

CLOCK_START = "2023-07-15T09:00:00+08:00"


def postgres_urls() -> tuple[dict[str, str], list[str]]:
    import psycopg2

    admin = os.environ.get("ZHICHENG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    names = {s: f"zb_{uuid.uuid4().hex[:8]}_{s}" for s in SERVICES}
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names.values():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
    return {s: f"{base}/{n}" for s, n in names.items()}, list(names.values())


def drop_postgres(names: list[str]) -> None:
    import psycopg2

    admin = os.environ.get("ZHICHENG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in names:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


class AuditReader:
    """Reads audit's store directly (the benchmark's stopwatch, not an interface under test)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    ANSWERS = "event_type IN ('submission_accepted', 'submission_rejected')"

    def count(self) -> int:
        """How many intake answers audit holds (cheap: the stopwatch must not load the box)."""
        with self.engine.connect() as conn:
            return int(conn.execute(text(
                f"SELECT count(*) FROM audit_records WHERE {self.ANSWERS}")).scalar_one())

    def answers(self) -> dict[str, datetime]:
        """portal_id -> when audit received its intake answer (audit clock)."""
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT envelope, received_at FROM audit_records WHERE {self.ANSWERS}")).all()
        out = {}
        for envelope, received_at in rows:
            portal_id = json.loads(envelope)["payload"].get("portal_id")
            if isinstance(received_at, str):
                received_at = datetime.fromisoformat(received_at)
            if received_at.tzinfo is None:
                received_at = received_at.replace(tzinfo=timezone.utc)
            out[portal_id] = received_at
        return out


def clock_offset(platform: Platform) -> float:
    """audit clock minus real time, in seconds (the clock runs from CLOCK_START)."""
    before = time.time()
    now = requests.get(platform.url("audit") + "/admin/clock", timeout=5).json()["now"]
    after = time.time()
    return parse_instant(now).timestamp() - (before + after) / 2


def wait_answers(reader: AuditReader, ids: set[str], before: int,
                 timeout: float) -> dict[str, datetime]:
    """Wait until audit holds an answer for each of ``ids`` (``before``: answers it held when
    they were sent), polling a count; then read the answers once."""
    deadline = time.monotonic() + timeout
    while reader.count() < before + len(ids) and time.monotonic() < deadline:
        time.sleep(0.5)  # when the last answer came is in the record, not in this loop
    return reader.answers()


def run(count: int, rate: float, seconds: float, use_postgres: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="zhicheng-bench-"))
    dropped: list[str] = []
    with scratch_vhost() as amqp_uri:
        broker_before = raw_rate(amqp_uri, messages=count)
        env = dict(os.environ)
        env.update({"AMQP_URI": amqp_uri, "ZHICHENG_VAR_DIR": str(workdir),
                    "ZHICHENG_JWT_SECRET": secrets.token_urlsafe(32),
                    "ZHICHENG_PERSON_KEY": secrets.token_urlsafe(32),
                    "ZHICHENG_CLOCK": "running:" + CLOCK_START, "LOG_LEVEL": "WARNING",
                    "PYTHONWARNINGS": "ignore", "REVIEW_TICK_SECONDS": "3600"})
        if use_postgres:
            urls, dropped = postgres_urls()
        else:
            urls = {s: f"sqlite:///{workdir / (s + '.db')}" for s in SERVICES}
        for service in SERVICES:
            env[f"{service.upper()}_DATABASE_URL"] = urls[service]
            env[f"{service.upper()}_PORT"] = str(18100 + SERVICES.index(service))
        platform = Platform(env, log_dir=workdir / "log")
        platform.start_all()
        try:
            platform.wait_ready()
            headers = {"Authorization": "Bearer " + _token(env["ZHICHENG_JWT_SECRET"], "bureau")}
            r = requests.post(platform.url("intake") + "/plans/2023/publish", headers=headers,
                              timeout=10)
            r.raise_for_status()
            reader = AuditReader(urls["audit"])
            factory = ApplicationFactory(seed=1, prefix="B")
            offset = clock_offset(platform)

            # 1. throughput, saturated
            apps = [factory.valid(("R22", "D01", "D02")[i % 3]) for i in range(count)]
            groups = {**{s: [platform.procs[s].pid] for s in SERVICES}, "broker": "beam.smp",
                      "database": "postgres" if use_postgres else [],
                      "portal (bench)": [os.getpid()]}
            meter, writes = CpuMeter(groups), CpuMeter(groups, read=written_bytes)
            meter.start()
            writes.start()
            counted = queue_message_counts(amqp_uri)
            metrics_urls = {s: platform.url(s) + "/metrics" for s in SERVICES}
            batches = batch_sizes(metrics_urls)
            disk = disk_writes()
            before = reader.count()
            with PortalPublisher(amqp_uri) as portal:
                start = time.time()
                for app in apps:
                    portal.publish(app)
                published = time.time()
            answers = wait_answers(reader, {a["portal_id"] for a in apps}, before,
                                   timeout=600)
            done = max(answers[a["portal_id"]].timestamp() - offset for a in apps
                       if a["portal_id"] in answers)
            recorded = sum(a["portal_id"] in answers for a in apps)
            throughput = recorded / (done - start)
            cpu = meter.stop()
            wrote = writes.stop()
            disk = tuple(now - then for now, then in zip(disk_writes(), disk))
            batches = {q: (runs - batches.get(q, (0, 0))[0], n - batches.get(q, (0, 0))[1])
                       for q, (runs, n) in batch_sizes(metrics_urls).items()}
            broker_after = raw_rate(amqp_uri, messages=count)  # the services idle
            # (by now the management API has refreshed its counters)
            counted = {k: v - counted[k] for k, v in queue_message_counts(amqp_uri).items()}

            # 2. latency at a steady rate
            steady = [factory.valid(("R22", "D01", "D02")[i % 3])
                      for i in range(int(rate * seconds))]
            sent: dict[str, float] = {}
            before = reader.count()
            with PortalPublisher(amqp_uri) as portal:
                t0 = time.time()
                for i, app in enumerate(steady):
                    due = t0 + i / rate
                    pause = due - time.time()
                    if pause > 0:
                        time.sleep(pause)
                    sent[app["portal_id"]] = time.time()
                    portal.publish(app)
            answers = wait_answers(reader, set(sent), before, timeout=300)
            latencies = [(answers[p].timestamp() - offset) - t for p, t in sent.items()
                         if p in answers]
            lat = summary(latencies)
            achieved = len(steady) / (max(sent.values()) - min(sent.values()) or 1)
        finally:
            platform.stop_all()
            if dropped:
                drop_postgres(dropped)
    store = "PostgreSQL" if use_postgres else "SQLite"
    print(f"machine: {machine()}; databases: {store}")
    broker = (broker_before + broker_after) / 2
    print(f"broker alone:            {broker:8,.0f} msg/s (confirmed publish -> consume, "
          f"{count} messages; {broker_before:,.0f} before, {broker_after:,.0f} after)")
    print(f"platform portal->audit:  {throughput:8,.0f} applications/s "
          f"({recorded}/{count} recorded)  ratio to broker: {throughput / broker:.2f} "
          f"(to before/after: {throughput / broker_before:.2f}/{throughput / broker_after:.2f}; "
          f"target >= 0.50)")
    print(f"the portal published for {published - start:.1f} s ({count / (published - start):,.0f}"
          f"/s, a confirm each, as the broker alone is measured); the last was recorded "
          f"{done - published:.1f} s after the last was published")
    print("CPU per application, ms: " + ", ".join(
        f"{group} {seconds * 1000 / max(recorded, 1):.2f}" for group, seconds in cpu.items()
        if seconds) + f"; total {sum(cpu.values()) * 1000 / max(recorded, 1):.2f} "
        f"(two cores give {2000 / max(throughput, 1):.2f} ms per application at this rate)")
    print(f"broker work per application: {counted['routed'] / max(recorded, 1):.2f} messages "
          f"routed to a queue, {counted['delivered'] / max(recorded, 1):.2f} delivered")
    print(f"disk: {disk[0] / max(recorded, 1) / 1024:.1f} KiB written per application, busy "
          f"{disk[1] / 10 / max(done - start, 1e-9):.0f}% of the throughput phase; by process, KiB: "
          + ", ".join(f"{group} {n / 1024 / max(recorded, 1):.1f}" for group, n in wrote.items()
                      if n))
    print("mean batch (envelopes per transaction): " + ", ".join(
        f"{queue} {n / runs:.1f}" for queue, (runs, n) in sorted(batches.items()) if runs))
    print(f"steady {achieved:,.0f}/s for {seconds:.0f}s: latency p50 {lat['p50'] * 1000:.0f} ms, "
          f"p99 {lat['p99'] * 1000:.0f} ms over {lat['n']:.0f} (target p99 < 250 ms)")


def _token(secret: str, role: str) -> str:
    from shared.auth import issue_token
    return issue_token(secret, "bench", [role], now=datetime.now(timezone.utc))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    run(args.count, args.rate, args.seconds, args.postgres)


if __name__ == "__main__":
    main()
