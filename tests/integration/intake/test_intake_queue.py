"""Intake through the portal's durable AMQP queue: same rules, answers as events."""
from __future__ import annotations

import json

import eventlet
import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from services.intake.service import IntakeService
from shared.messaging import PORTAL_SUBMISSIONS_QUEUE, declare_topology, envelopes_in
from intake_payloads import outbox_events, review_application, submissions


@pytest.fixture
def intake(start_service, auth_header):
    svc = start_service(IntakeService)
    r = requests.post(svc.url + "/plans/2023/publish", headers=auth_header("bureau"), timeout=10)
    assert r.status_code == 200
    return svc


@pytest.fixture
def answers(amqp_uri):
    """The portal's view: a queue bound to intake.events for the answer events."""
    conn = Connection(amqp_uri)
    channel = conn.channel()
    declare_topology(channel)
    queue = Queue("portal-answers", exchange=Exchange("intake.events", type="topic", durable=True),
                  routing_key="#", exclusive=True)(channel)
    queue.declare()
    yield queue
    conn.close()


def publish(amqp_uri, body: bytes | dict) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    with Connection(amqp_uri) as conn:
        Producer(conn.channel()).publish(raw, exchange="", routing_key=PORTAL_SUBMISSIONS_QUEUE,
                                         content_type="application/json", delivery_mode=2)


def drain(queue, expected: int, timeout: float = 15.0) -> list[dict]:
    got = []
    with eventlet.Timeout(timeout, False):
        while len(got) < expected:
            message = queue.get(no_ack=True)
            if message is None:
                eventlet.sleep(0.05)
                continue
            got.extend(event for event in envelopes_in(message.body)
                       if event["event_type"].startswith("submission_"))
    return got


def test_portal_queue_application_is_answered_by_events(intake, amqp_uri, answers):
    publish(amqp_uri, review_application("Q-1"))
    got = drain(answers, 2)
    assert [e["event_type"] for e in got] == ["submission_received", "submission_accepted"]
    accepted = got[1]["payload"]
    assert accepted["portal_id"] == "Q-1" and accepted["committee_code"] == "R22"
    assert got[0]["payload"]["channel"] == "amqp"


def test_queue_and_http_give_the_same_answer_and_share_idempotency(intake, amqp_uri, answers, auth_header, wait):
    publish(amqp_uri, review_application("Q-2"))
    drain(answers, 2)
    publish(amqp_uri, review_application("Q-2"))      # redelivered by the portal
    wait(lambda: intake.metric("intake_applications_total", outcome="replayed", path="review",
                               channel="amqp") == 1, message="replay seen")
    assert submissions(intake) == 1 and len(outbox_events(intake, "submission_accepted")) == 1
    r = requests.post(intake.url + "/submissions", json=review_application("Q-2"),
                      headers=auth_header("portal"), timeout=10)
    assert r.status_code == 200 and r.json()["replayed"] is True


def test_queue_rejection_event_lists_every_failed_rule(intake, amqp_uri, answers):
    body = review_application("Q-3", committee_code="S06", specialty="石化")   # state firm in 上虞区
    publish(amqp_uri, body)
    got = drain(answers, 2)
    rejected = got[1]
    assert rejected["event_type"] == "submission_rejected"
    assert set(rejected["payload"]["rules"]) == {"INTAKE-SCOPE", "INTAKE-PRIVATE-INDUSTRIAL-ONLY"}
    assert all(v["clause"] for v in rejected["payload"]["violations"])


def test_malformed_queue_messages_are_dead_lettered_and_store_nothing(intake, amqp_uri, vhost, wait):
    publish(amqp_uri, b"not json at all")
    bad = review_application("Q-4")
    bad["applicant"] = "nobody"
    publish(amqp_uri, bad)
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE + ".dead-letters") == 2, timeout=15,
         message="two dead letters")
    assert submissions(intake) == 0
    assert outbox_events(intake, "submission_received") == []
    # the consumer keeps going
    publish(amqp_uri, review_application("Q-5"))
    wait(lambda: submissions(intake) == 1, message="next message processed")
