"""Review and the real experts service together: scheduling a meeting asks experts for a panel
(panel_requested), the committee office and the supervisor run the two-party draw, and experts'
panel_drawn seats the panel in review, which can then record votes and go on to a certificate."""
from __future__ import annotations

import hashlib
from datetime import datetime

import requests

from services.experts import draw
from services.experts.service import ExpertsService
from services.review.service import ReviewService
from shared.clock import CHINA
from shared.personal import identity_check_char
from tests.integration.review.test_review_case_through_broker import (
    Probe, after_meeting, at, open_case, post,
)

COMMITTEE = "sx-jidian-zhongji"


def identity_number(serial: int) -> str:
    body = f"33060419700101{serial % 1000:03d}"
    return body + identity_check_char(body)


def secret(party):
    return hashlib.sha256(f"{party}-review".encode()).hexdigest()


def test_a_meeting_gets_its_panel_from_the_experts_service_and_the_case_ends_certified(
        start_service, amqp_uri, auth_header, wait, clock):
    clock.set(datetime(2023, 6, 1, 9, 0, tzinfo=CHINA))
    review = start_service(ReviewService)
    experts = start_service(ExpertsService)

    def call(method, path, role, subject="tester", body=None, expect=200):
        r = requests.request(method, experts.url + path, json=body,
                             headers=auth_header(role, subject=subject), timeout=10)
        assert r.status_code == expect, r.text
        return r.json()

    # a pool formed before its term; two experts work at the applicant's employer (回避)
    call("POST", "/committees", "bureau", body={
        "committee_id": COMMITTEE, "name": "机电制造工程技术人员中级评委会",
        "organising_unit": "绍兴市经信局", "tier": "intermediate", "scope": "specialty",
        "term_start": "2023-07-01", "term_end": "2026-06-30", "specialties": ["机电制造"]},
        expect=201)
    for i in range(21):
        call("POST", "/experts", "committee_office", expect=201, body={
            "committee_id": COMMITTEE, "expert_id": f"E{i:03d}",
            "identity_number": identity_number(i), "name": "专家甲",
            "employer": "上虞某电机有限公司" if i < 2 else f"单位{i:03d}",
            "specialties": ["机电制造"], "title": "高级工程师", "title_level": "senior",
            "source": "enterprise", "term_start": "2023-07-01", "term_end": "2026-06-30"})

    office, bureau = auth_header("committee_office"), auth_header("bureau")
    review_events = Probe(amqp_uri)
    experts_events = Probe(amqp_uri, exchange="experts.events", name="experts-probe")
    clock.set(at(2023, 9, 20))
    case_id = open_case(review, amqp_uri, office, wait, clock, "sub-x")["case_id"]
    clock.set(at(2023, 9, 25))
    post(review, f"/cases/{case_id}/qualification", office, {"outcome": "passed"})
    post(review, f"/cases/{case_id}/publicity", office, {"starts_on": "2023-09-27"})
    clock.set(at(2023, 10, 10, 1))
    post(review, "/admin/tick", office)
    meeting = post(review, "/meetings", office, {
        "committee_id": COMMITTEE, "starts_at": "2023-10-20T09:00:00+08:00",
        "case_ids": [case_id], "panel_size": 9}, expect=201)
    meeting_id = meeting["meeting_id"]

    # experts opened the meeting's draw round from review's panel_requested
    committed = experts_events.wait_for("draw_committed", wait, meeting_id=meeting_id)["payload"]
    round_id, digest = committed["round_id"], committed["commitment_digest"]
    assert committed["panel_size"] == 9
    # the two experts from the applicant's employer were kept off the panel (回避)
    assert len(committed["exclusions"]) == 2
    for party, subject in (("committee_office", "office-clerk"), ("supervisor", "sup-wang")):
        call("POST", f"/draws/{round_id}/commitments", party, subject=subject,
             body={"commitment": draw.party_commitment(digest, party, secret(party))})
    for party, subject in (("committee_office", "office-clerk"), ("supervisor", "sup-wang")):
        call("POST", f"/draws/{round_id}/reveals", party, subject=subject,
             body={"secret": secret(party)})
    call("POST", f"/draws/{round_id}/finalize", "committee_office")

    seated = wait(lambda: requests.get(f"{review.url}/meetings/{meeting_id}", headers=office,
                                       timeout=5).json()["state"] == "panel_drawn",
                  timeout=15, message="review seated the drawn panel")
    assert seated
    got = requests.get(f"{review.url}/meetings/{meeting_id}", headers=office, timeout=5).json()
    assert got["panel_size"] == 9

    clock.set(at(2023, 10, 20, 11))
    assert post(review, f"/meetings/{meeting_id}/votes", office,
                {"case_id": case_id, "present": 9, "yes": 7, "no": 2,
                 "abstain": 0})["state"] == "passed"
    after_meeting(review, office, bureau, clock, case_id)
    clock.set(at(2023, 10, 31, 9))
    number = post(review, f"/cases/{case_id}/certificate", bureau,
                  expect=201)["certificate"]["number"]
    assert requests.get(f"{review.url}/certificates/{number}", timeout=5).json()["valid"] is True
    review_events.wait_for("certificate_issued", wait, case_id=case_id)
