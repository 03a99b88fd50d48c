"""A whole review case through the real broker and database, with the clock set: intake's
submission_accepted opens it, experts' panel_drawn seats the panel, and it ends in a certificate
anyone can verify (or, for a recommendation, forwarded upward)."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from services.review.service import ReviewService
from shared.clock import CHINA
from shared.events import build_envelope
from shared.messaging import declare_topology, envelopes_in

COMMITTEE = "sx-jidian-zhongji"


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=CHINA)


class Probe:
    """A queue of the test's own bound to a service's exchange (review.events unless told):
    every event that service publishes."""

    def __init__(self, amqp_uri, exchange="review.events", name="review-probe"):
        self.conn = Connection(amqp_uri)
        channel = self.conn.channel()
        declare_topology(channel)
        self.queue = Queue(name, exchange=Exchange(exchange, type="topic", durable=True),
                           routing_key="#", exclusive=True)(channel)
        self.queue.declare()
        self.seen: list[dict] = []

    def poll(self):
        while True:
            message = self.queue.get(no_ack=True)
            if message is None:
                return self.seen
            self.seen.extend(envelopes_in(message.body))

    def wait_for(self, event_type, wait, **payload):
        def found():
            for e in self.poll():
                if e["event_type"] == event_type and all(e["payload"].get(k) == v
                                                         for k, v in payload.items()):
                    return e
            return None
        return wait(found, timeout=15, message=f"{event_type} {payload}")

    def types_for(self, case_id):
        return [e["event_type"] for e in self.poll()
                if e["payload"].get("case_id") == case_id]


def publish(amqp_uri, producer, event_type, payload, when):
    envelope = build_envelope(event_type=event_type, version=1, producer=producer,
                              payload=payload, occurred_at=when, correlation_id=None,
                              causation_id=None)
    with Connection(amqp_uri) as conn:
        declare_topology(conn.default_channel)
        Producer(conn.channel()).publish(json.dumps(envelope).encode(),
                                         exchange=f"{producer}.events", routing_key=event_type,
                                         content_type="application/json", delivery_mode=2)
    return envelope


def panel_drawn(meeting_id, round_id, panel_size=9):
    """experts' panel_drawn as the experts service sends it (sealed: digests, no members)."""
    return {"meeting_id": meeting_id, "round_id": round_id, "committee_id": COMMITTEE,
            "panel_size": panel_size, "panel_id": "panel-" + round_id, "reserves": 2,
            "commitment_digest": "0" * 64, "panel_digest": "1" * 64,
            "drawn_at": "2023-10-12T09:00:00+08:00",
            "meeting_starts_at": "2023-10-20T09:00:00+08:00"}


def submission(submission_id, *, path="review", title="工程师"):
    return {"submission_id": submission_id, "applicant_key": "k-" + submission_id,
            "plan_year": 2023, "path": path, "committee_code": COMMITTEE,
            "committee_name": "绍兴市机电制造工程技术人员中级评委会", "title": title,
            "specialty": "机电制造", "employer": "上虞某电机有限公司"}


@pytest.fixture
def review(start_service):
    return start_service(ReviewService)


@pytest.fixture
def office(auth_header):
    return auth_header("committee_office")


@pytest.fixture
def bureau(auth_header):
    return auth_header("bureau")


def open_case(review, amqp_uri, office, wait, clock, submission_id, **kwargs):
    publish(amqp_uri, "intake", "submission_accepted", submission(submission_id, **kwargs),
            clock.now())

    def found():
        r = requests.get(f"{review.url}/cases", params={"submission_id": submission_id},
                         headers=office, timeout=5)
        return r.json()["items"][0] if r.ok and r.json()["items"] else None
    return wait(found, timeout=15, message="case opened")


def post(review, path, headers, body=None, expect=200):
    r = requests.post(f"{review.url}{path}", json=body if body is not None else {},
                      headers=headers, timeout=10)
    assert r.status_code == expect, r.text
    return r.json()


def to_meeting(review, amqp_uri, office, wait, clock, probe, case_ids):
    """Qualification, pre-review notice across National Day, meeting with a drawn panel."""
    clock.set(at(2023, 9, 25))
    for case_id in case_ids:
        post(review, f"/cases/{case_id}/qualification", office, {"outcome": "passed"})
    clock.set(at(2023, 9, 26, 17))
    for case_id in case_ids:
        c = post(review, f"/cases/{case_id}/publicity", office, {"starts_on": "2023-09-27"})
        assert c["publicity"]["last_day"] == "2023-10-09"  # 09-27, 09-28, 10-07, 10-08, 10-09
    clock.set(at(2023, 10, 9, 23, 59))
    assert post(review, "/admin/tick", office)["ended"] == []
    clock.set(at(2023, 10, 10, 0, 1))
    ended = post(review, "/admin/tick", office)["ended"]
    assert sorted(e["case_id"] for e in ended) == sorted(case_ids)
    clock.set(at(2023, 10, 10, 10))
    meeting = post(review, "/meetings", office, {
        "committee_id": COMMITTEE, "starts_at": "2023-10-20T09:00:00+08:00",
        "case_ids": case_ids, "panel_size": 9}, expect=201)
    asked = probe.wait_for("panel_requested", wait, meeting_id=meeting["meeting_id"])
    assert asked["payload"]["panel_size"] == 9
    assert [a["employer"] for a in asked["payload"]["applicants"]] == ["上虞某电机有限公司"] * len(
        case_ids)
    publish(amqp_uri, "experts", "panel_drawn", panel_drawn(meeting["meeting_id"], "round-1"),
            clock.now())
    wait(lambda: requests.get(f"{review.url}/meetings/{meeting['meeting_id']}", headers=office,
                              timeout=5).json()["state"] == "panel_drawn",
         timeout=15, message="panel drawn")
    return meeting["meeting_id"]


def after_meeting(review, office, bureau, clock, case_id):
    clock.set(at(2023, 10, 20, 15))
    post(review, f"/cases/{case_id}/publicity", office, {"starts_on": "2023-10-23"})
    clock.set(at(2023, 10, 27, 12))
    refused = requests.post(f"{review.url}/cases/{case_id}/publication", json={},
                            headers=bureau, timeout=5)
    assert refused.status_code == 422
    assert refused.json()["error"]["rule"] == "REVIEW-PUBLICATION-AFTER-PUBLICITY"
    clock.set(at(2023, 10, 30, 9))
    post(review, "/admin/tick", office)
    return post(review, f"/cases/{case_id}/publication", bureau)


def test_a_case_runs_from_acceptance_to_a_verifiable_certificate_through_the_broker(
        review, amqp_uri, office, bureau, wait, clock):
    probe = Probe(amqp_uri)
    clock.set(at(2023, 9, 20))
    case = open_case(review, amqp_uri, office, wait, clock, "sub-1")
    case_id = case["case_id"]
    assert case["state"] == "accepted" and case["applicant_key"] == "k-sub-1"

    meeting_id = to_meeting(review, amqp_uri, office, wait, clock, probe, [case_id])
    frozen = requests.post(f"{review.url}/cases/{case_id}/materials",
                           json={"document_kinds": ["论文"]}, headers=office, timeout=5)
    assert frozen.status_code == 422
    assert frozen.json()["error"]["rule"] == "REVIEW-MATERIALS-FROZEN"
    assert review.metric("zhicheng_review_refusals_total", rule="REVIEW-MATERIALS-FROZEN") == 1
    assert review.metric("zhicheng_review_moves_total", move="schedule_meeting") == 1
    # the office's refused attempt is on record (shared/refusals.py); nothing else changed
    attempt = probe.wait_for("materials_supplement_refused", wait, case_id=case_id)["payload"]
    assert attempt["rules"] == ["REVIEW-MATERIALS-FROZEN"] and attempt["document_kinds"] == ["论文"]

    clock.set(at(2023, 10, 20, 11))
    decided = post(review, f"/meetings/{meeting_id}/votes", office,
                   {"case_id": case_id, "present": 7, "yes": 5, "no": 1, "abstain": 1})
    assert decided["state"] == "passed"
    published = after_meeting(review, office, bureau, clock, case_id)
    assert published["state"] == "published"

    clock.set(at(2023, 10, 31, 9))
    issued = post(review, f"/cases/{case_id}/certificate", bureau, expect=201)
    number = issued["certificate"]["number"]
    assert issued["case"]["state"] == "certificate_issued"

    public = requests.get(f"{review.url}/certificates/{number.lower()}", timeout=5)
    assert public.status_code == 200
    assert public.json() == {"valid": True, "number": number, "title": "工程师",
                             "specialty": "机电制造",
                             "committee": "绍兴市机电制造工程技术人员中级评委会",
                             "issued_on": "2023-10-31"}
    typo = number[:-1] + ("0" if number[-1] != "0" else "1")
    bad = requests.get(f"{review.url}/certificates/{typo}", timeout=5)
    assert bad.status_code == 422 and bad.json()["error"]["rule"] == "REVIEW-CERTIFICATE-NUMBER"

    probe.wait_for("certificate_issued", wait, case_id=case_id)
    assert probe.types_for(case_id) == [
        "case_opened", "qualification_passed", "publicity_started", "publicity_ended",
        "materials_frozen", "materials_supplement_refused", "votes_recorded", "case_decided",
        "publicity_started", "publicity_ended", "result_published", "certificate_issued"]
    scheduled = [e for e in probe.poll() if e["event_type"] == "meeting_scheduled"]
    assert scheduled[0]["payload"]["case_ids"] == [case_id]


def test_a_recommendation_case_is_forwarded_and_a_redelivered_submission_opens_nothing(
        review, amqp_uri, office, bureau, wait, clock):
    probe = Probe(amqp_uri)
    clock.set(at(2023, 9, 20))
    case = open_case(review, amqp_uri, office, wait, clock, "sub-r", path="recommendation",
                     title="高级工程师（推荐）")
    case_id = case["case_id"]
    assert case["recommendation"] is True
    publish(amqp_uri, "intake", "submission_accepted", submission("sub-r"), clock.now())
    meeting_id = to_meeting(review, amqp_uri, office, wait, clock, probe, [case_id])
    clock.set(at(2023, 10, 20, 11))
    post(review, f"/meetings/{meeting_id}/votes", office,
         {"case_id": case_id, "present": 9, "yes": 9, "no": 0, "abstain": 0})
    after_meeting(review, office, bureau, clock, case_id)
    refused = requests.post(f"{review.url}/cases/{case_id}/certificate", json={},
                            headers=bureau, timeout=5)
    assert refused.status_code == 422 and refused.json()["error"]["rule"] == "REVIEW-RECOMMENDATION"
    forwarded = post(review, f"/cases/{case_id}/forwarding", bureau,
                     {"forwarded_to": "浙江省工程技术人员高级职务任职资格评审委员会"})
    assert forwarded["state"] == "recommendation_forwarded"
    probe.wait_for("recommendation_forwarded", wait, case_id=case_id)
    items = requests.get(f"{review.url}/cases", headers=office, timeout=5).json()["items"]
    assert len(items) == 1  # the redelivered submission opened no second case


def test_failed_votes_record_the_applicant_and_an_upheld_objection_withdraws_a_case(
        review, amqp_uri, office, bureau, auth_header, wait, clock):
    probe = Probe(amqp_uri)
    clock.set(at(2023, 9, 20))
    failing = open_case(review, amqp_uri, office, wait, clock, "sub-f")["case_id"]
    objected = open_case(review, amqp_uri, office, wait, clock, "sub-o")["case_id"]
    clock.set(at(2023, 9, 25))
    for case_id in (failing, objected):
        post(review, f"/cases/{case_id}/qualification", office, {"outcome": "passed"})
        post(review, f"/cases/{case_id}/publicity", office, {"starts_on": "2023-09-27"})
    clock.set(at(2023, 9, 28, 10))
    filed = post(review, f"/cases/{objected}/objections", auth_header("portal"),
                 {"grounds": "反映业绩材料不实"}, expect=201)
    clock.set(at(2023, 10, 10, 1))
    ended = post(review, "/admin/tick", office)["ended"]
    assert [e["case_id"] for e in ended] == [failing]  # the objection holds the other
    withdrawn = post(review, f"/cases/{objected}/objections/{filed['objection_id']}/resolution",
                     office, {"resolution": "upheld", "reason": "业绩材料不实"})
    assert withdrawn["state"] == "withdrawn" and withdrawn["withdrawal_reason"] == "业绩材料不实"

    meeting = post(review, "/meetings", office, {
        "committee_id": COMMITTEE, "starts_at": "2023-10-20T09:00:00+08:00",
        "case_ids": [failing], "panel_size": 9}, expect=201)
    publish(amqp_uri, "experts", "panel_drawn", panel_drawn(meeting["meeting_id"], "r"),
            clock.now())
    wait(lambda: requests.get(f"{review.url}/meetings/{meeting['meeting_id']}", headers=office,
                              timeout=5).json()["panel_size"] == 9, timeout=15)
    clock.set(at(2023, 10, 20, 11))
    no_quorum = post(review, f"/meetings/{meeting['meeting_id']}/votes", office,
                     {"case_id": failing, "present": 5, "yes": 5, "no": 0, "abstain": 0})
    assert no_quorum["state"] == "awaiting_meeting"
    again = post(review, "/meetings", office, {
        "committee_id": COMMITTEE, "starts_at": "2023-10-27T09:00:00+08:00",
        "case_ids": [failing], "panel_size": 9}, expect=201)
    publish(amqp_uri, "experts", "panel_drawn", panel_drawn(again["meeting_id"], "r2"),
            clock.now())
    wait(lambda: requests.get(f"{review.url}/meetings/{again['meeting_id']}", headers=office,
                              timeout=5).json()["panel_size"] == 9, timeout=15)
    clock.set(at(2023, 10, 27, 11))
    failed = post(review, f"/meetings/{again['meeting_id']}/votes", office,
                  {"case_id": failing, "present": 9, "yes": 5, "no": 4, "abstain": 0})
    assert failed["state"] == "failed"
    assert failed["decision"]["failed_rules"] == ["REVIEW-PASS-THRESHOLD"]
    event = probe.wait_for("applicant_failed", wait, case_id=failing)
    assert event["payload"]["applicant_key"] == "k-sub-f" and event["payload"]["year"] == 2023
    listed = requests.get(f"{review.url}/failed-applicants", params={"year": 2023},
                          headers=bureau, timeout=5).json()["items"]
    assert [i["applicant_key"] for i in listed] == ["k-sub-f"]
    tallies = requests.get(f"{review.url}/meetings/{meeting['meeting_id']}", headers=office,
                           timeout=5).json()["tallies"]
    assert tallies[0]["outcome"] == "no_quorum" and "expert" not in json.dumps(tallies)


def test_roles_guard_every_action_and_committee_scoped_tokens_stay_in_their_committee(
        review, amqp_uri, office, auth_header, wait, clock):
    clock.set(at(2023, 9, 20))
    case_id = open_case(review, amqp_uri, office, wait, clock, "sub-a")["case_id"]
    url = f"{review.url}/cases/{case_id}/qualification"
    none = requests.post(url, json={"outcome": "passed"}, timeout=5)
    assert none.status_code == 401
    wrong = requests.post(url, json={"outcome": "passed"}, headers=auth_header("bureau"),
                          timeout=5)
    assert wrong.status_code == 403
    other = requests.post(url, json={"outcome": "passed"},
                          headers=auth_header("committee_office", committees=["other"]), timeout=5)
    assert other.status_code == 403 and other.json()["error"]["code"] == "wrong_committee"
    mine = requests.post(url, json={"outcome": "passed"},
                         headers=auth_header("committee_office", committees=[COMMITTEE]),
                         timeout=5)
    assert mine.status_code == 200
    publish_refused = requests.post(f"{review.url}/cases/{case_id}/publication", json={},
                                    headers=office, timeout=5)
    assert publish_refused.status_code == 403
    bad = requests.post(f"{review.url}/cases/{case_id}/publicity",
                        json={"starts_on": "2023-09-27", "working_days": 4}, headers=office,
                        timeout=5)
    assert bad.status_code == 422 and bad.json()["error"]["rule"] == "REVIEW-PUBLICITY-DAYS"
    assert requests.get(f"{review.url}/cases/{case_id}", headers=office,
                        timeout=5).json()["state"] == "qualified"  # the refusal changed nothing
    scoped = auth_header("committee_office", committees=["other"])
    assert requests.get(f"{review.url}/cases", headers=scoped, timeout=5).json()["items"] == []
    assert requests.get(f"{review.url}/cases", params={"submission_id": "sub-a"}, headers=scoped,
                        timeout=5).json()["items"] == []
    assert requests.get(f"{review.url}/cases/{case_id}", headers=scoped,
                        timeout=5).status_code == 403
    mine = auth_header("committee_office", committees=[COMMITTEE])
    assert [c["case_id"] for c in requests.get(f"{review.url}/cases", headers=mine,
                                               timeout=5).json()["items"]] == [case_id]


def test_the_timer_ends_due_notices_by_the_service_clock(review, amqp_uri, office, wait, clock):
    from nameko.testing.services import entrypoint_hook

    clock.set(at(2023, 9, 20))
    case_id = open_case(review, amqp_uri, office, wait, clock, "sub-t")["case_id"]
    clock.set(at(2023, 9, 25))
    post(review, f"/cases/{case_id}/qualification", office, {"outcome": "passed"})
    post(review, f"/cases/{case_id}/publicity", office, {"starts_on": "2023-09-27"})
    with entrypoint_hook(review.container, "publicity_clock") as fire:
        fire()
    assert requests.get(f"{review.url}/cases/{case_id}", headers=office,
                        timeout=5).json()["state"] == "pre_review_publicity"
    clock.set(at(2023, 10, 10, 0, 0))
    with entrypoint_hook(review.container, "publicity_clock") as fire:
        fire()
    assert requests.get(f"{review.url}/cases/{case_id}", headers=office,
                        timeout=5).json()["state"] == "awaiting_meeting"


def test_a_notice_for_a_list_starts_for_all_or_refuses_naming_every_case(
        review, amqp_uri, office, wait, clock):
    clock.set(at(2023, 9, 20))
    ready = [open_case(review, amqp_uri, office, wait, clock, f"sub-l{i}")["case_id"]
             for i in range(3)]
    clock.set(at(2023, 9, 25))
    for case_id in ready[:2]:
        post(review, f"/cases/{case_id}/qualification", office, {"outcome": "passed"})
    refused = requests.post(f"{review.url}/publicity", json={"case_ids": ready,
                                                             "starts_on": "2023-09-27"},
                            headers=office, timeout=5)
    assert refused.status_code == 422
    violations = refused.json()["error"]["details"]["violations"]
    assert [(v["rule"], v["context"]["case_id"]) for v in violations] == [
        ("REVIEW-CASE-FLOW", ready[2])]
    states = [requests.get(f"{review.url}/cases/{c}", headers=office, timeout=5).json()["state"]
              for c in ready]
    assert states == ["qualified", "qualified", "accepted"]  # none started
    started = post(review, "/publicity", office, {"case_ids": ready[:2],
                                                  "starts_on": "2023-09-27"})
    assert [c["publicity"]["last_day"] for c in started["items"]] == ["2023-10-09"] * 2
