"""Faults with a stream of applications in flight (issue 7, Faults).

A simulated portal streams N applications (ZHICHENG_FAULT_APPLICATIONS, default 5000) to
intake's durable queue: valid ones for three committees, refusal cases for most intake rules,
and some sent twice (idempotency on portal_id). While they flow:

* the broker (a RabbitMQ node of this test's own, see broker_node.py) is stopped and restarted;
* each service is killed with SIGKILL once and started again;
* malformed messages (not JSON, wrong schema, huge) are sent to intake's portal queue and to
  audit's queue; a second round to intake's queue just before intake is killed, which is then
  killed the moment it has dead-lettered one of them (mid-batch).

Afterwards every application has exactly one outcome (intake answers for its portal_id, audit
holds exactly one submission_accepted or submission_rejected for it), audit holds every event of
every service's outbox exactly once, audit's chain verifies, and each malformed message sits in
its queue's dead-letter queue with the reason.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from kombu import Connection, Producer
from sqlalchemy import create_engine, text

from shared.auth import issue_token
from shared.config import SERVICES
from shared.launcher import NotReady, Platform
from shared.messaging import (AUDIT_QUEUE, PORTAL_SUBMISSIONS_QUEUE, consumed_queues,
                              declare_topology)
from shared.simulation.portal import REFUSALS, ApplicationFactory, identity_number
from tests.e2e.broker_node import BrokerNode, BrokerUnavailable, MachineBroker

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

APPLICATIONS = int(os.environ.get("ZHICHENG_FAULT_APPLICATIONS", "5000"))
CLOCK_START = "2023-07-15T09:00:00+08:00"  # inside the 2023 material deadlines
# refusal cases that need nothing but the published plan (INTAKE-REAPPLICANT needs an archive)
REFUSAL_RULES = tuple(r for r in REFUSALS if r != "INTAKE-REAPPLICANT")
MARKER = "zc-fault-malformed"


# -- the broker ---------------------------------------------------------------------------------

@pytest.fixture
def broker(vhost):
    """A broker node of the test's own; else (no rabbitmq-server to boot) the machine's broker,
    restarted under a lock, unless ZHICHENG_TEST_OWN_BROKER_ONLY=1."""
    try:
        node = BrokerNode()
        node.start()
    except BrokerUnavailable as exc:
        if os.environ.get("ZHICHENG_TEST_OWN_BROKER_ONLY") == "1":
            pytest.skip(f"no broker node of our own ({exc}) and ZHICHENG_TEST_OWN_BROKER_ONLY=1")
        fallback = MachineBroker(vhost.uri)
        yield fallback
        return
    try:
        yield node
    finally:
        node.close()


@pytest.fixture
def faulty_platform(broker, databases, tmp_path, port):
    secret = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update({"AMQP_URI": broker.uri, "ZHICHENG_JWT_SECRET": secret,
                "ZHICHENG_PERSON_KEY": secrets.token_urlsafe(16),
                "ZHICHENG_VAR_DIR": str(tmp_path / "var"),
                "ZHICHENG_CLOCK": "running:" + CLOCK_START,
                "ZHICHENG_OUTBOX_POLL_SECONDS": "0.2", "REVIEW_TICK_SECONDS": "3600",
                "LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore"})
    urls = {}
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(port())
        env[f"{service.upper()}_DATABASE_URL"] = urls[service] = databases.url(service)
    p = Platform(env, log_dir=tmp_path / "log")
    p.database_urls = urls
    p.secret = secret
    p.start_all()
    try:
        p.wait_ready()
        yield p
    except NotReady as exc:
        pytest.fail(str(exc))
    finally:
        p.stop_all()


def bearer(platform, role: str) -> dict[str, str]:
    token = issue_token(platform.secret, "fault-test", [role], now=datetime.now(timezone.utc),
                        ttl=timedelta(hours=2))
    return {"Authorization": "Bearer " + token}


# -- the portal's stream ------------------------------------------------------------------------

def applications(count: int) -> tuple[list[dict], dict[str, str | None]]:
    """``count`` distinct applications (every tenth a refusal case, identity numbers unique) and
    the messages to send: each 20th application a second time, later in the stream."""
    factory = ApplicationFactory(seed=7, prefix="F")
    seen: set[str] = set()
    apps: list[dict] = []
    expected: dict[str, str | None] = {}
    for i in range(count):
        if i % 10 == 9:
            rule = REFUSAL_RULES[(i // 10) % len(REFUSAL_RULES)]
            app = factory.refused(rule)
        else:
            rule = None
            app = factory.valid(("R22", "D01", "D02")[i % 3])
        while rule != "INTAKE-IDENTITY" and app["applicant"]["identity_number"] in seen:
            app["applicant"]["identity_number"] = identity_number(factory.rng)
        seen.add(app["applicant"]["identity_number"])
        apps.append(app)
        expected[app["portal_id"]] = rule
    stream = list(apps)
    for i in range(0, count, 20):
        stream.insert(min(len(stream), i + 20 + 37), apps[i])  # again, a little later
    return stream, expected


class Portal(threading.Thread):
    """Publishes the stream with confirms at ``rate`` per second; when the broker goes away it
    reconnects and sends the unconfirmed message again (at-least-once, as a real portal)."""

    def __init__(self, uri: str, messages: list[dict], rate: float) -> None:
        super().__init__(daemon=True, name="portal")
        self.uri, self.messages, self.rate = uri, messages, rate
        self.sent = 0
        self.reconnects = 0
        self.error: BaseException | None = None

    def _producer(self):
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = Connection(self.uri, transport_options={"confirm_publish": True},
                                  connect_timeout=3)
                conn.ensure_connection(max_retries=1)
                channel = conn.channel()
                declare_topology(channel)
                return conn, Producer(channel)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def run(self) -> None:
        try:
            conn, producer = self._producer()
            start = time.monotonic()
            for i, app in enumerate(self.messages):
                pause = start + i / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                while True:
                    try:
                        producer.publish(json.dumps(app, ensure_ascii=False).encode(),
                                         exchange="", routing_key=PORTAL_SUBMISSIONS_QUEUE,
                                         delivery_mode=2, content_type="application/json",
                                         content_encoding="utf-8", message_id=app["portal_id"],
                                         retry=False)
                        break
                    except Exception:
                        self.reconnects += 1
                        try:
                            conn.close()
                        except Exception:
                            pass
                        time.sleep(0.5)
                        conn, producer = self._producer()
                self.sent += 1
            conn.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def send_malformed(uri: str, queues: tuple[str, ...] = (PORTAL_SUBMISSIONS_QUEUE, AUDIT_QUEUE)
                   ) -> None:
    """Not JSON, wrong schema and huge messages to intake's portal queue and audit's queue."""
    huge = json.dumps({"marker": MARKER, "padding": "x" * (2 << 20)}).encode()
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel())
        for queue in queues:
            for body in (f"{MARKER} this is not JSON {{".encode(),
                         json.dumps({"marker": MARKER, "portal_id": 42,
                                     "event_type": ["wrong"]}).encode(),
                         huge):
                producer.publish(body, exchange="", routing_key=queue, delivery_mode=2,
                                 content_type="application/json", content_encoding="utf-8")


def wait_for_messages(uri: str, queue: str, count: int, timeout: float) -> bool:
    """Wait until ``queue`` holds ``count`` messages ready (passive declares, 5 ms apart, on one
    connection: the test acts the moment they are there)."""
    deadline = time.monotonic() + timeout
    with Connection(uri) as conn:
        channel = conn.channel()
        while channel.queue_declare(queue, passive=True).message_count < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
    return True


def dead_letters(uri: str, queue: str) -> list[tuple[str, bytes]]:
    """(reason, body) of every message in ``queue``'s dead-letter queue."""
    out = []
    with Connection(uri) as conn:
        channel = conn.channel()
        while True:
            message = channel.basic_get(f"{queue}.dead-letters", no_ack=True)
            if message is None:
                return out
            headers = message.properties.get("application_headers") or {}
            body = message.body
            out.append((headers.get("x-zhicheng-reason"),
                        body.encode() if isinstance(body, str) else bytes(body)))


# -- reading the stores (the test's observation, not an interface under test) --------------------

class Stores:
    def __init__(self, urls: dict[str, str]) -> None:
        self.engines = {s: create_engine(u) for s, u in urls.items()}

    def _rows(self, service: str, sql: str):
        with self.engines[service].connect() as conn:
            return conn.execute(text(sql)).all()

    def answers(self) -> Counter:
        """portal_id -> how many intake answers audit recorded for it."""
        rows = self._rows("audit", "SELECT envelope FROM audit_records WHERE event_type IN "
                                   "('submission_accepted', 'submission_rejected')")
        return Counter(json.loads(envelope)["payload"]["portal_id"] for (envelope,) in rows)

    def answer_types(self) -> dict[str, str]:
        rows = self._rows("audit", "SELECT event_type, envelope FROM audit_records WHERE "
                                   "event_type IN ('submission_accepted', 'submission_rejected')")
        return {json.loads(envelope)["payload"]["portal_id"]: t for t, envelope in rows}

    def audit_event_ids(self) -> Counter:
        return Counter(e for (e,) in self._rows("audit", "SELECT event_id FROM audit_records"))

    def outbox(self, service: str) -> list[tuple[str, bool]]:
        return [(e, p is not None) for e, p in
                self._rows(service, "SELECT event_id, published_at FROM outbox")]

    def intake_answers_emitted(self) -> Counter:
        rows = self._rows("intake", "SELECT envelope FROM outbox WHERE event_type IN "
                                    "('submission_accepted', 'submission_rejected')")
        return Counter(json.loads(envelope)["payload"]["portal_id"] for (envelope,) in rows)

    def whereabouts(self, portal_ids: set[str]) -> str:
        """Where the applications audit has no answer for got to: stored by intake? answered in
        its outbox? published? recorded by audit? (for a failure message)"""
        ids = sorted(portal_ids)
        stored = {p for (p,) in self._rows("intake", "SELECT portal_id FROM intake_submissions")
                  if p in portal_ids}
        answers = {}
        for event_id, envelope, published in self._rows(
                "intake", "SELECT event_id, envelope, published_at FROM outbox WHERE event_type "
                          "IN ('submission_accepted', 'submission_rejected')"):
            portal_id = json.loads(envelope)["payload"]["portal_id"]
            if portal_id in portal_ids:
                answers[portal_id] = (event_id, published is not None)
        recorded = self.audit_event_ids()
        in_audit = [p for p, (e, _) in answers.items() if e in recorded]
        unpublished = [p for p, (_, published) in answers.items() if not published]
        return (f"{len(ids)} unanswered (first: {ids[:5]}); stored by intake: {len(stored)}; "
                f"answered in intake's outbox: {len(answers)}, of them unpublished: "
                f"{len(unpublished)} {unpublished[:3]}, recorded by audit: {len(in_audit)}")

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def queues(broker) -> str:
    """The broker's queues with messages in them (ready, unacknowledged) and their consumers."""
    if not isinstance(broker, BrokerNode):
        return "queues: (the machine's broker, not listed)"
    out = broker.rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages_ready",
                             "messages_unacknowledged", "consumers", timeout=60).stdout
    busy = [line for line in out.splitlines()
            if len(line.split()) == 4 and line.split()[1:3] != ["0", "0"]]
    return "queues with messages (name ready unacked consumers): " + "; ".join(busy)


def troubles(platform) -> str:
    """What went wrong in the services, for a failure message: liveness, error and warning
    lines."""
    lines = [f"alive: {platform.alive()}"]
    for service in SERVICES:
        log = platform.log_path(service)
        if log.exists():
            text = log.read_text(errors="replace").splitlines()
            critical = [line for line in text if " CRITICAL " in line or " ERROR " in line]
            warnings = [line for line in text if " WARNING " in line]
            lines.append(f"{service}: {len(critical)} error lines {critical[-3:]}, "
                         f"{len(warnings)} warnings {warnings[-4:]}")
    return "\n".join(lines)


# -- the test -----------------------------------------------------------------------------------

def test_every_application_has_one_outcome_and_audit_every_event_once_through_broker_restart_and_kills(  # noqa: E501
        broker, faulty_platform):
    platform = faulty_platform
    r = requests.post(platform.url("intake") + "/plans/2023/publish",
                      headers=bearer(platform, "bureau"), timeout=30)
    assert r.ok, r.text
    stream, expected = applications(APPLICATIONS)
    stores = Stores(platform.database_urls)
    total = len(expected)
    # a stream that keeps arriving while the faults happen (faster than the platform answers)
    portal = Portal(broker.uri, stream, rate=max(100.0, len(stream) / 60))
    portal.start()

    def answered() -> int:
        return len(stores.answers())

    def at_progress(fraction: float) -> None:
        assert wait_until(lambda: answered() >= fraction * total, timeout=180, interval=0.2), \
            f"stuck at {answered()}/{total} answers before {fraction:.0%}; " + troubles(platform)

    faults = []
    at_progress(0.05)
    broker.restart(down_seconds=3)
    faults.append(("broker restarted", answered()))
    at_progress(0.15)
    send_malformed(broker.uri)
    for fraction, service in zip((0.25, 0.4, 0.55, 0.7), ("intake", "review", "experts",
                                                           "audit")):
        at_progress(fraction)
        if service == "intake":
            # intake dies the moment it has dead-lettered a malformed message: that one is
            # settled while its batch is still being processed, and the batch's other messages
            # must come back (an ack that covered them lost a batch of applications)
            send_malformed(broker.uri, queues=(PORTAL_SUBMISSIONS_QUEUE,))
            assert wait_for_messages(broker.uri, f"{PORTAL_SUBMISSIONS_QUEUE}.dead-letters", 4,
                                     timeout=120), "intake dead-lettered nothing"
        platform.kill(service)
        time.sleep(1)
        platform.restart(service, timeout=120)
        faults.append((f"{service} killed and restarted", answered()))

    portal.join(timeout=600)
    assert portal.error is None, repr(portal.error)
    assert portal.sent == len(stream)

    # every application answered; then every outbox drained into audit
    if not wait_until(lambda: answered() == total, timeout=600):
        pytest.fail(f"{answered()}/{total} applications answered in audit after {faults}; "
                    + stores.whereabouts(set(expected) - set(stores.answers())) + "\n"
                    + queues(broker) + "\n" + troubles(platform))

    def drained() -> bool:
        recorded = stores.audit_event_ids()
        return all(published and event_id in recorded
                   for service in SERVICES for event_id, published in stores.outbox(service))
    assert wait_until(drained, timeout=120), "outboxes not drained into audit"

    # exactly one outcome per application, the expected one, as intake and audit both say
    counts = stores.answers()
    assert set(counts) == set(expected)
    assert [p for p, n in counts.items() if n != 1] == []
    emitted = stores.intake_answers_emitted()
    assert [p for p, n in emitted.items() if n != 1] == [], "intake answered twice"
    types = stores.answer_types()
    wrong = {p: (rule, types[p]) for p, rule in expected.items()
             if types[p] != ("submission_accepted" if rule is None else "submission_rejected")}
    assert wrong == {}

    headers = bearer(platform, "bureau")
    session = requests.Session()

    def intake_answer(portal_id: str) -> tuple[str, int, dict]:
        reply = session.get(f"{platform.url('intake')}/submissions/{portal_id}", headers=headers,
                            timeout=30)
        return portal_id, reply.status_code, reply.json()

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(intake_answer, sorted(expected)))
    assert [(p, s) for p, s, _ in replies if s != 200] == []
    for portal_id, _, body in replies:
        status = "accepted" if types[portal_id] == "submission_accepted" else "rejected"
        assert body["status"] == status, (portal_id, body)
        if expected[portal_id]:
            assert expected[portal_id] in body["rules"], (portal_id, body)

    # audit holds every event exactly once (event_id is unique in its store: check the count)
    recorded = stores.audit_event_ids()
    assert [e for e, n in recorded.items() if n != 1] == []
    for service in SERVICES:
        missing = [e for e, _ in stores.outbox(service) if e not in recorded]
        assert missing == [], f"{len(missing)} events of {service} not in audit"

    verify = requests.get(platform.url("audit") + "/verify", headers=bearer(platform, "inspector"),
                          timeout=300)
    assert verify.status_code == 200, verify.text
    assert verify.json()["intact"] is True

    # the malformed messages: dead-lettered with their reasons; nothing else was
    for queue, reasons in ((PORTAL_SUBMISSIONS_QUEUE, {"not_json", "invalid_schema", "too_large"}),
                           (AUDIT_QUEUE, {"not_json", "invalid_envelope", "too_large"})):
        letters = dead_letters(broker.uri, queue)
        assert {reason for reason, _ in letters} == reasons, (queue, letters[:3])
        assert all(MARKER.encode() in body for _, body in letters), queue

    # ...and no real event in any service's inbox was dead-lettered along the way
    for queue in consumed_queues():
        if queue not in (PORTAL_SUBMISSIONS_QUEUE, AUDIT_QUEUE):
            assert dead_letters(broker.uri, queue) == [], queue

    assert all(platform.alive().values()), platform.alive()
    stores.dispose()
