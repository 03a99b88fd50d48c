"""review's applicant_failed enters intake's performance archive (业绩档案), once."""
from __future__ import annotations

import json
from datetime import datetime

import requests
from kombu import Connection, Producer

from services.intake.service import IntakeService
from shared.clock import CHINA
from shared.events import build_envelope
from shared.messaging import declare_topology
from intake_payloads import outbox_events, review_application

KEY = "a" * 32


def publish_review_event(amqp_uri, event_type, payload):
    envelope = build_envelope(event_type=event_type, version=1, producer="review", payload=payload,
                              occurred_at=datetime(2023, 11, 20, 10, 0, tzinfo=CHINA))
    with Connection(amqp_uri) as conn:
        declare_topology(conn.default_channel)
        Producer(conn.channel()).publish(json.dumps(envelope).encode(), exchange="review.events",
                                         routing_key=event_type, content_type="application/json",
                                         delivery_mode=2)
    return envelope


def failed(key=KEY):
    return {"case_id": "c-1", "submission_id": "s-1", "committee_id": "R22",
            "at": "2022-11-20T10:00:00+08:00", "applicant_key": key, "year": 2022,
            "title": "工程师", "specialty": "水利规划设计", "stage": "review",
            "failed_rules": ["REVIEW-VOTE-TWO-THIRDS"]}


def test_applicant_failed_is_recorded_once_even_when_delivered_twice(start_service, amqp_uri, auth_header, wait):
    intake = start_service(IntakeService)
    envelope = publish_review_event(amqp_uri, "applicant_failed", failed())
    archive = lambda: requests.get(intake.url + f"/archives/{KEY}", headers=auth_header("bureau"),
                                   timeout=5).json()
    wait(lambda: archive()["attempts"], timeout=15, message="attempt archived")
    with Connection(amqp_uri) as conn:   # redelivery of the same event
        Producer(conn.channel()).publish(json.dumps(envelope).encode(), exchange="review.events",
                                         routing_key="applicant_failed",
                                         content_type="application/json", delivery_mode=2)
    wait(lambda: intake.metric("zhicheng_events_consumed_total", event_type="applicant_failed",
                               outcome="processed") == 2, timeout=15, message="duplicate consumed")
    assert archive()["attempts"] == [{"year": 2022, "committee_code": "R22", "title": "工程师",
                                      "outcome": "failed", "decided_on": "2022-11-20"}]
    assert len(outbox_events(intake, "archive_attempt_recorded")) == 1


def test_failed_applicant_needs_new_achievements_next_year(start_service, amqp_uri, auth_header, wait):
    intake = start_service(IntakeService)
    requests.post(intake.url + "/plans/2023/publish", headers=auth_header("bureau"), timeout=10)
    first = requests.post(intake.url + "/submissions", json=review_application("F-0"),
                          headers=auth_header("portal"), timeout=10).json()
    key = first["applicant_key"]
    publish_review_event(amqp_uri, "applicant_failed", failed(key))
    wait(lambda: requests.get(intake.url + f"/archives/{key}", headers=auth_header("bureau"),
                              timeout=5).json()["attempts"], timeout=15, message="attempt archived")
    r = requests.post(intake.url + "/submissions", json=review_application("F-1", title="工程师",
                      specialty="运行管理"), headers=auth_header("portal"), timeout=10)
    # the only achievement (2022-05-01) predates the failed attempt (2022-11-20)
    assert r.status_code == 422 and r.json()["error"]["rule"] == "INTAKE-REAPPLICANT"


def test_materials_frozen_by_review_are_shown_with_the_submission(start_service, amqp_uri, auth_header, wait):
    intake = start_service(IntakeService)
    requests.post(intake.url + "/plans/2023/publish", headers=auth_header("bureau"), timeout=10)
    answer = requests.post(intake.url + "/submissions", json=review_application("M-1"),
                           headers=auth_header("portal"), timeout=10).json()
    assert answer["status"] == "accepted"
    stored = lambda: requests.get(intake.url + "/submissions/M-1", headers=auth_header("portal"),
                                  timeout=5).json()
    assert stored()["materials_frozen_at"] is None
    payload = {"case_id": "c-9", "submission_id": answer["submission_id"], "committee_id": "R22",
               "at": "2023-10-10T09:00:00+08:00", "meeting_id": "m-1"}
    publish_review_event(amqp_uri, "materials_frozen", payload)
    wait(lambda: stored()["materials_frozen_at"], timeout=15, message="freeze recorded")
    assert stored()["materials_frozen_at"] == "2023-10-10T09:00:00+08:00"
    # a freeze for a submission intake never saw changes nothing and does not stop the consumer
    publish_review_event(amqp_uri, "materials_frozen", {**payload, "submission_id": "unknown"})
    wait(lambda: intake.metric("zhicheng_events_consumed_total", event_type="materials_frozen",
                               outcome="processed") == 2, timeout=15, message="second freeze consumed")
