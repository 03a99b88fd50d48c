"""The three services together, nothing simulated: the portal's application is accepted by
intake, review opens the case, experts draws the panel (keeping the applicant's colleagues off it),
and the case ends in a certificate anyone can verify."""
from __future__ import annotations

import hashlib
from datetime import datetime

import requests

from services.experts import draw
from services.experts.service import ExpertsService
from services.intake.service import IntakeService
from services.review.service import ReviewService
from shared.clock import CHINA
from shared.personal import identity_check_char
from tests.integration.intake.intake_payloads import review_application
from tests.integration.review.test_review_case_through_broker import (
    Probe, after_meeting, at, post,
)

COMMITTEE = "R22"  # 绍兴市水利工程技术人员中级专业技术职务任职资格评审委员会
EMPLOYER = "上虞某水务有限公司"


def identity_number(serial: int) -> str:
    body = f"33060419700101{serial % 1000:03d}"
    return body + identity_check_char(body)


def test_an_application_from_the_portal_ends_in_a_verifiable_certificate(
        start_service, amqp_uri, auth_header, wait, clock):
    clock.set(datetime(2023, 6, 1, 9, 0, tzinfo=CHINA))
    review = start_service(ReviewService)
    intake = start_service(IntakeService)
    experts = start_service(ExpertsService)
    office, bureau = auth_header("committee_office"), auth_header("bureau")
    experts_events = Probe(amqp_uri, exchange="experts.events", name="experts-probe")

    def experts_call(method, path, role, subject="tester", body=None, expect=200):
        r = requests.request(method, experts.url + path, json=body,
                             headers=auth_header(role, subject=subject), timeout=10)
        assert r.status_code == expect, r.text
        return r.json()

    experts_call("POST", "/committees", "bureau", expect=201, body={
        "committee_id": COMMITTEE, "name": "水利工程技术人员中级评委会",
        "organising_unit": "绍兴市水利局", "tier": "intermediate", "scope": "specialty",
        "term_start": "2023-07-01", "term_end": "2026-06-30", "specialties": ["水利规划设计"]})
    for i in range(21):
        experts_call("POST", "/experts", "committee_office", expect=201, body={
            "committee_id": COMMITTEE, "expert_id": f"W{i:03d}",
            "identity_number": identity_number(100 + i), "name": "专家乙",
            "employer": EMPLOYER if i < 3 else f"水利单位{i:03d}",
            "specialties": ["水利规划设计"], "title": "高级工程师", "title_level": "senior",
            "source": "enterprise", "term_start": "2023-07-01", "term_end": "2026-06-30"})

    # the portal's application, accepted by intake under the published plan
    assert requests.post(intake.url + "/plans/2023/publish", headers=bureau,
                         timeout=10).status_code == 200
    r = requests.post(intake.url + "/submissions", json=review_application("W-1"),
                      headers=auth_header("portal"), timeout=10)
    assert r.status_code == 201, r.text
    submission_id = r.json()["submission_id"]

    def opened():
        r = requests.get(review.url + "/cases", params={"submission_id": submission_id},
                         headers=office, timeout=5)
        return r.json()["items"][0] if r.ok and r.json()["items"] else None
    case = wait(opened, timeout=20, message="review opened the case")
    case_id = case["case_id"]
    assert case["committee_id"] == COMMITTEE and case["employer"] == EMPLOYER
    assert "张三" not in str(case)  # review never holds the applicant's name

    clock.set(at(2023, 9, 25))
    post(review, f"/cases/{case_id}/qualification", office, {"outcome": "passed"})
    post(review, f"/cases/{case_id}/publicity", office, {"starts_on": "2023-09-27"})
    clock.set(at(2023, 10, 10, 1))
    assert [e["case_id"] for e in post(review, "/admin/tick", office)["ended"]] == [case_id]
    meeting_id = post(review, "/meetings", office, {
        "committee_id": COMMITTEE, "starts_at": "2023-10-20T09:00:00+08:00",
        "case_ids": [case_id], "panel_size": 9}, expect=201)["meeting_id"]

    committed = experts_events.wait_for("draw_committed", wait, meeting_id=meeting_id)["payload"]
    assert len(committed["exclusions"]) == 3  # the applicant's three colleagues (回避)
    round_id, digest = committed["round_id"], committed["commitment_digest"]
    for party, subject in (("committee_office", "clerk"), ("supervisor", "sup")):
        experts_call("POST", f"/draws/{round_id}/commitments", party, subject=subject, body={
            "commitment": draw.party_commitment(digest, party, hashlib.sha256(
                party.encode()).hexdigest())})
    for party, subject in (("committee_office", "clerk"), ("supervisor", "sup")):
        experts_call("POST", f"/draws/{round_id}/reveals", party, subject=subject,
                     body={"secret": hashlib.sha256(party.encode()).hexdigest()})
    experts_call("POST", f"/draws/{round_id}/finalize", "committee_office")
    wait(lambda: requests.get(f"{review.url}/meetings/{meeting_id}", headers=office,
                              timeout=5).json()["state"] == "panel_drawn",
         timeout=15, message="the drawn panel reached review")

    clock.set(at(2023, 10, 20, 10))
    assert post(review, f"/meetings/{meeting_id}/votes", office, {
        "case_id": case_id, "present": 8, "yes": 6, "no": 1, "abstain": 1})["state"] == "passed"
    after_meeting(review, office, bureau, clock, case_id)
    clock.set(at(2023, 10, 31, 9))
    cert = post(review, f"/cases/{case_id}/certificate", bureau, expect=201)["certificate"]
    public = requests.get(f"{review.url}/certificates/{cert['number']}", timeout=5).json()
    assert public["title"] == "工程师" and public["specialty"] == "水利规划设计"
    assert public["committee"] and public["issued_on"] == "2023-10-31"
