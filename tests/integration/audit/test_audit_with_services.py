"""Audit with the real services: an application accepted by intake and opened by review is one
timeline in audit, found by case id or by the applicant's identity number, chain intact."""
import requests

from services.audit.service import AuditService
from services.intake.service import IntakeService
from services.review.service import ReviewService
from tests.integration.intake.intake_payloads import identity_number, review_application

SEED_HEX = "09" * 32


def test_an_application_is_one_timeline_across_intake_and_review(start_service, auth_header, wait):
    audit = start_service(AuditService, AUDIT_SIGNING_KEY=SEED_HEX)
    review = start_service(ReviewService)
    intake = start_service(IntakeService)
    assert requests.post(intake.url + "/plans/2023/publish", headers=auth_header("bureau"),
                         timeout=10).status_code == 200
    r = requests.post(intake.url + "/submissions", json=review_application("AUD-1"),
                      headers=auth_header("portal"), timeout=10)
    assert r.status_code == 201, r.text
    submission_id = r.json()["submission_id"]

    def case():
        r = requests.get(review.url + "/cases", params={"submission_id": submission_id},
                         headers=auth_header("committee_office"), timeout=5)
        return r.json()["items"][0] if r.ok and r.json()["items"] else None

    case_id = wait(case, timeout=20, message="review opened the case")["case_id"]
    inspector = auth_header("inspector")

    def timeline():
        r = requests.get(f"{audit.url}/cases/{case_id}/timeline", headers=inspector, timeout=5)
        return [i["event_type"] for i in r.json()["items"]]

    types = wait(lambda: (lambda t: t if {"submission_accepted", "case_opened"} <= set(t) else None)(
        timeline()), timeout=20, message="intake's and review's events on the case timeline")
    assert types.index("submission_accepted") < types.index("case_opened")

    found = requests.post(audit.url + "/applicants/records", headers=inspector, timeout=5,
                          json={"identity_number": identity_number()})
    assert found.status_code == 200
    assert "submission_accepted" in {i["event_type"] for i in found.json()["items"]}
    assert identity_number() not in found.text and "张三" not in found.text

    verified = requests.get(audit.url + "/verify", headers=inspector, timeout=30)
    assert verified.status_code == 200 and verified.json()["intact"], verified.text


def test_a_violation_in_consumed_events_becomes_a_notice_through_the_outbox(
        start_service, amqp_uri, auth_header, wait):
    """Votes on a case that never had its pre-review notice arrive on review's exchange: audit
    stores the violation, emits ``notice_issued`` through its outbox, and records that too."""
    import json
    from datetime import datetime

    from kombu import Connection, Producer

    from shared.clock import CHINA
    from shared.events import CATALOGUE, build_envelope
    from shared.messaging import declare_topology

    audit = start_service(AuditService, AUDIT_SIGNING_KEY=SEED_HEX, ANNOUNCE_START=False)
    payload = {"case_id": "CASE-9", "submission_id": "SUB-9", "committee_id": "R22",
               "at": datetime(2023, 11, 20, 9, 0, tzinfo=CHINA).isoformat(), "meeting_id": "M-9",
               "outcome": "passed", "quorum_met": True, "pass_share_met": True, "failed_rules": [],
               "tally": {"panel_size": 7, "present": 7, "yes": 6, "no": 1, "abstain": 0}}
    CATALOGUE.check_payload("votes_recorded", payload)
    envelope = build_envelope(event_type="votes_recorded", version=1, producer="review",
                              payload=payload, occurred_at=datetime(2023, 11, 20, 9, 0, tzinfo=CHINA))
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        declare_topology(channel)
        Producer(channel).publish(json.dumps(envelope).encode(), exchange="review.events",
                                  routing_key="votes_recorded", content_type="application/json",
                                  delivery_mode=2)
    inspector = auth_header("inspector")

    def notices():
        r = requests.get(audit.url + "/violations", headers=inspector, timeout=5)
        return r.json()["items"]

    found = wait(notices, timeout=20, message="the violation stored")
    assert [(n["rule"], n["subject_id"], n["committee_id"]) for n in found] == [
        ("AUDIT-PRE-REVIEW-PUBLICITY", "CASE-9", "R22")]

    def recorded_notice():
        r = requests.get(audit.url + "/records?event_type=notice_issued", headers=inspector, timeout=5)
        return r.json()["items"]

    notice = wait(recorded_notice, timeout=20, message="the notice relayed and recorded")[0]
    assert notice["event"]["payload"]["rule_id"] == "AUDIT-PRE-REVIEW-PUBLICITY"
    assert notice["event"]["causation_id"] == envelope["event_id"]


def test_applications_intake_accepts_raise_no_violation(start_service, auth_header, wait):
    audit = start_service(AuditService, AUDIT_SIGNING_KEY=SEED_HEX)
    intake = start_service(IntakeService)
    requests.post(intake.url + "/plans/2023/publish", headers=auth_header("bureau"), timeout=10)
    r = requests.post(intake.url + "/submissions", json=review_application("AUD-2"),
                      headers=auth_header("portal"), timeout=10)
    assert r.status_code == 201, r.text
    inspector = auth_header("inspector")
    wait(lambda: requests.get(audit.url + "/records?event_type=submission_accepted", headers=inspector,
                              timeout=5).json()["items"], timeout=20, message="acceptance recorded")
    assert requests.get(audit.url + "/violations", headers=inspector, timeout=5).json()["items"] == []
