"""Intake over HTTP: plans, publication, frozen deadlines, submissions and their answers."""
from __future__ import annotations

import pytest
import requests

from services.intake import models
from services.intake.service import IntakeService
from intake_payloads import (
    count_rows, determination_application, h, identity_number, outbox_events, review_application,
    stored_materials, submissions)


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService)


@pytest.fixture
def published(intake, auth_header):
    r = requests.post(intake.url + "/plans/2023/publish", headers=auth_header("bureau"), timeout=10)
    assert r.status_code == 200, r.text
    return intake


def submit(svc, body, auth_header, role="portal"):
    return requests.post(svc.url + "/submissions", json=body, headers=auth_header(role), timeout=10)


def test_serves_the_whole_2023_plan(intake):
    r = requests.get(intake.url + "/plans/2023", timeout=10)
    assert r.status_code == 200
    plan = r.json()
    assert plan["counts"] == {"main": 32, "delegated": 2, "socialized": 7}
    assert len(plan["committees"]) == 41 and plan["state"] == "draft"
    r22 = next(c for c in plan["committees"] if c["code"] == "R22")
    assert r22["review_month"] == 10 and r22["deadline_month"] == 8
    assert r22["titles"] == [{"name": "工程师", "recommend_only": False},
                             {"name": "高级工程师", "recommend_only": True}]
    assert r22["contact"] == {"unit": "绍兴市水利局", "phones": ["85163392"]}
    assert requests.get(intake.url + "/plans/1999", timeout=10).status_code == 404


def test_only_the_bureau_publishes_and_only_once(intake, auth_header):
    url = intake.url + "/plans/2023/publish"
    assert requests.post(url, timeout=10).status_code == 401
    assert requests.post(url, headers=auth_header("portal"), timeout=10).status_code == 403
    r = requests.post(url, headers=auth_header("bureau"), timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "published"
    again = requests.post(url, headers=auth_header("bureau"), timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "plan_already_published"
    assert [e["payload"]["year"] for e in outbox_events(intake, "plan_published")] == [2023]
    assert requests.get(intake.url + "/plans/2023", timeout=10).json()["state"] == "published"


def test_published_deadline_moves_only_with_a_special_approval(published, auth_header):
    url = published.url + "/plans/2023/committees/R22/deadline"
    r = requests.post(url, json={"new_deadline": "2023-09-15"}, headers=auth_header("bureau"), timeout=10)
    assert r.status_code == 422
    assert r.json()["error"]["rule"] == "INTAKE-PLAN-DEADLINE-FROZEN"
    assert r.json()["error"]["details"]["violations"][0]["clause"] == "三(二)"
    approval = {"approved_by": "区人力社保局", "reason": "台风影响报送",
                "approved_at": "2023-05-31T10:00:00+08:00"}
    r = requests.post(url, json={"new_deadline": "2023-09-15", "approval": approval},
                      headers=auth_header("bureau"), timeout=10)
    assert r.status_code == 200 and r.json()["new_deadline"] == "2023-09-15"
    plan = requests.get(published.url + "/plans/2023", timeout=10).json()
    r22 = next(c for c in plan["committees"] if c["code"] == "R22")
    assert r22["material_deadline"] == "2023-09-15"
    assert plan["deadline_changes"][0]["approval"]["reason"] == "台风影响报送"
    events = outbox_events(published, "plan_deadline_changed")
    assert len(events) == 1 and events[0]["payload"]["approval"]["approved_by"] == "区人力社保局"
    bad = requests.post(url, json={"new_deadline": "someday"}, headers=auth_header("bureau"), timeout=10)
    assert bad.status_code == 400 and "new_deadline" in bad.json()["error"]["details"]["fields"]


def test_accepts_a_valid_application_once_and_replays_the_answer(published, auth_header):
    r = submit(published, review_application(), auth_header)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "accepted" and body["effective_path"] == "review"
    assert body["committee_code"] == "R22" and body["replayed"] is False
    assert identity_number() not in r.text and "张三" not in r.text

    again = submit(published, review_application(), auth_header)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["submission_id"] == body["submission_id"]
    assert submissions(published) == 1
    assert len(outbox_events(published, "submission_accepted")) == 1
    accepted = outbox_events(published, "submission_accepted")[0]["payload"]
    assert accepted["committee_code"] == "R22" and accepted["path"] == "review"
    assert accepted["applicant_key"] == body["applicant_key"] and accepted["plan_year"] == 2023
    assert accepted["employer"] == "上虞某水务有限公司"
    assert identity_number() not in str(outbox_events(published))

    other = review_application(specialty="运行管理")
    conflict = submit(published, other, auth_header)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "portal_id_reused"
    stored = requests.get(published.url + "/submissions/P-1", headers=auth_header("portal"), timeout=10)
    assert stored.json()["submission_id"] == body["submission_id"]
    assert published.metric("intake_applications_total", outcome="accepted", path="review",
                            channel="http") == 1
    assert published.metric("intake_applications_total", outcome="replayed", path="review",
                            channel="http") == 1


def test_recommend_only_title_becomes_a_recommendation(published, auth_header):
    r = submit(published, review_application("P-REC", title="高级工程师"), auth_header)
    assert r.status_code == 201 and r.json()["effective_path"] == "recommendation"
    accepted = outbox_events(published, "submission_accepted")[0]["payload"]
    assert accepted["path"] == "recommendation" and accepted["requested_path"] == "review"


def test_rejection_lists_every_failed_rule_and_stores_no_classified_material(published, auth_header):
    body = review_application(
        "P-BAD", committee_code="D01", specialty="建筑结构",
        employer={"name": "某设计院", "location": "keqiao", "ownership": "state", "industry": "survey_design"})
    body["materials"].append({"kind": "other", "title": "涉密图纸.pdf", "content_hash": h(9),
                              "classification": "机密"})
    r = submit(published, body, auth_header)
    assert r.status_code == 422
    err = r.json()["error"]
    rules = {v["rule"] for v in err["details"]["violations"]}
    assert rules == {"INTAKE-SCOPE", "INTAKE-ROUTING", "INTAKE-CLASSIFIED"}
    assert err["details"]["route_to"] == ["S01"]
    routing = next(v for v in err["details"]["violations"] if v["rule"] == "INTAKE-ROUTING")
    assert routing["clause"] == "三(二)" and "S01" in routing["message"]
    assert {m.kind for m in stored_materials(published)} == {
        "education_certificate", "work_experience_proof", "performance_materials",
        "current_title_certificate"}
    rejected = outbox_events(published, "submission_rejected")
    assert len(rejected) == 1 and set(rejected[0]["payload"]["rules"]) == rules
    assert published.metric("intake_rule_violations_total", rule="INTAKE-ROUTING") == 1
    replay = submit(published, body, auth_header)
    assert replay.status_code == 422 and replay.json()["error"]["details"]["replayed"] is True


def test_applications_wait_for_the_published_plan(intake, auth_header):
    r = submit(intake, review_application("P-EARLY"), auth_header)
    assert r.status_code == 422 and r.json()["error"]["rule"] == "INTAKE-COMMITTEE"


def test_late_application_is_refused_by_the_clock(published, auth_header, clock):
    from datetime import datetime
    from shared.clock import CHINA
    clock.set(datetime(2023, 9, 1, 0, 0, tzinfo=CHINA))
    r = submit(published, review_application("P-LATE"), auth_header)
    assert r.status_code == 422 and r.json()["error"]["rule"] == "INTAKE-DEADLINE"


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b.pop("portal_id"), "portal_id"),
    (lambda b: b.update(plan_year="2023"), "plan_year"),
    (lambda b: b.update(path="promotion"), "path"),
    (lambda b: b["employer"].update(location="mars"), "employer"),
    (lambda b: b["materials"][0].update(content_hash="abc"), "materials"),
    (lambda b: b.update(committee_code=None), "committee_code"),
    (lambda b: b.update(professional_work_years=-1), "professional_work_years"),
    (lambda b: b.update(extra="x"), "extra"),
])
def test_malformed_application_is_a_400_naming_the_field_and_stores_nothing(published, auth_header, mutate, field):
    body = review_application("P-MAL")
    mutate(body)
    r = submit(published, body, auth_header)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    assert field in r.json()["error"]["details"]["fields"]
    assert submissions(published) == 0 and outbox_events(published, "submission_received") == []


def test_submissions_need_the_portal_role(published, auth_header):
    assert requests.post(published.url + "/submissions", json=review_application(), timeout=10).status_code == 401
    assert submit(published, review_application(), auth_header, role="inspector").status_code == 403


def test_initial_determination_is_granted_with_level_and_title(published, auth_header):
    r = submit(published, determination_application(), auth_header)
    assert r.status_code == 201, r.text
    assert r.json()["determination"]["level"] == "assistant"
    granted = outbox_events(published, "initial_determination_granted")
    assert len(granted) == 1 and granted[0]["payload"]["title"] == "助理工程师"
    assert outbox_events(published, "submission_accepted") == []   # no committee, no case


def test_recognition_is_accepted_with_its_basis(published, auth_header):
    body = review_application("P-RCG", path="recognition", recognition_basis="postdoc_exit")
    body["materials"].append({"kind": "recognition_proof", "title": "博士后出站证明.pdf", "content_hash": h(7)})
    r = submit(published, body, auth_header)
    assert r.status_code == 201 and r.json()["recognition_basis"] == "postdoc_exit"
    assert outbox_events(published, "recognition_accepted")[0]["payload"]["basis"] == "postdoc_exit"


def test_failed_last_year_needs_new_achievements_from_the_archive(published, auth_header):
    first = submit(published, determination_application("P-REF"), auth_header).json()
    ref = first["applicant_key"]
    r = requests.post(published.url + "/archives/attempts", headers=auth_header("committee_office"),
                      json={"applicant_key": ref, "year": 2022, "committee_code": "R22", "title": "工程师",
                            "outcome": "failed", "decided_on": "2022-11-20"}, timeout=10)
    assert r.status_code == 201 and r.json()["recorded"] is True
    old = review_application("P-RE1")
    r = submit(published, old, auth_header)
    assert r.status_code == 422 and r.json()["error"]["rule"] == "INTAKE-REAPPLICANT"
    new = review_application("P-RE2", achievements=[
        {"title": "新业绩", "dated": "2023-03-01", "representative": True}])
    assert submit(published, new, auth_header).status_code == 201
    archive = requests.get(published.url + f"/archives/{ref}", headers=auth_header("bureau"), timeout=10).json()
    assert [a["title"] for a in archive["achievements"]] == ["新业绩"]
    assert archive["attempts"][0]["outcome"] == "failed"
    assert len(outbox_events(published, "archive_attempt_recorded")) == 1


def test_another_years_plan_is_loaded_as_a_draft(intake, auth_header):
    doc = {"year": 2024, "committees": [dict(
        code="R01", category="main", seq=1, name="某评审委员会", titles=[{"name": "工程师"}],
        specialties=["水利规划设计"], scope={"code": "shaoxing_city"}, review_month=10,
        deadline_month=8, contact={"unit": "某局", "phones": ["12345678"]})]}
    r = requests.put(intake.url + "/plans/2024", json=doc, headers=auth_header("bureau"), timeout=10)
    assert r.status_code == 201, r.text
    plan = requests.get(intake.url + "/plans/2024", timeout=10).json()
    assert plan["state"] == "draft" and plan["committees"][0]["material_deadline"] == "2024-08-31"
    bad = requests.put(intake.url + "/plans/2024", json={**doc, "committees": []},
                       headers=auth_header("bureau"), timeout=10)
    assert bad.status_code == 400
    assert count_rows(intake, models.plans) == 1
