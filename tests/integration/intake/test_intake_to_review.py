"""An application accepted by intake opens a case in review (through the broker)."""
from __future__ import annotations

import requests

from services.intake.service import IntakeService
from services.review.service import ReviewService
from intake_payloads import determination_application, review_application


def test_accepted_application_opens_a_review_case_and_a_recommendation_is_marked(
        start_service, auth_header, wait):
    review = start_service(ReviewService)
    intake = start_service(IntakeService)
    assert requests.post(intake.url + "/plans/2023/publish", headers=auth_header("bureau"),
                         timeout=10).status_code == 200
    ids = {}
    for portal_id, title in (("X-1", "工程师"), ("X-2", "高级工程师")):
        r = requests.post(intake.url + "/submissions", json=review_application(portal_id, title=title),
                          headers=auth_header("portal"), timeout=10)
        assert r.status_code == 201, r.text
        ids[portal_id] = r.json()["submission_id"]
    r = requests.post(intake.url + "/submissions", json=determination_application("X-3"),
                      headers=auth_header("portal"), timeout=10)
    assert r.status_code == 201

    def case(submission_id):
        r = requests.get(review.url + "/cases", params={"submission_id": submission_id},
                         headers=auth_header("committee_office"), timeout=5)
        return r.json()["items"][0] if r.ok and r.json()["items"] else None

    first = wait(lambda: case(ids["X-1"]), timeout=20, message="case for X-1")
    second = wait(lambda: case(ids["X-2"]), timeout=20, message="case for X-2")
    assert first["committee_id"] == "R22" and first["recommendation"] is False
    assert second["recommendation"] is True
