"""Property: no malformed application produces a 500 or a stored record (HTTP and queue)."""
from __future__ import annotations

import itertools
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from services.intake.service import IntakeService, read_portal_message
from shared.errors import InvalidInput
from intake_payloads import review_application, submissions

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)

FIELD_PATHS = [
    ("portal_id",), ("plan_year",), ("path",), ("applicant",), ("applicant", "identity_number"),
    ("applicant", "name"), ("employer",), ("employer", "location"), ("employer", "ownership"),
    ("employer", "industry"), ("employer", "self_appraisal_unit"), ("education",),
    ("education", "level"), ("education", "graduated_on"), ("education", "major_matches_specialty"),
    ("professional_work_years",), ("title",), ("specialty",), ("committee_code",),
    ("materials",), ("materials", 0), ("materials", 0, "content_hash"), ("materials", 0, "classification"),
    ("achievements",), ("achievements", 0, "dated"), ("previous_determination",), ("series",),
]


@st.composite
def mutated_bodies(draw):
    body = review_application()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(FIELD_PATHS))
        target = body
        for key in path[:-1]:
            if isinstance(target, dict):
                target = target.get(key)
            elif isinstance(target, list) and isinstance(key, int) and key < len(target):
                target = target[key]
            else:
                target = None
            if target is None:
                break
        if target is None:
            continue
        action = draw(st.sampled_from(["replace", "delete", "extra"]))
        key = path[-1]
        if action == "replace":
            try:
                target[key] = draw(json_values)
            except (IndexError, TypeError):
                pass
        elif action == "delete" and isinstance(target, dict):
            target.pop(key, None)
        elif action == "extra" and isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return body


_ids = itertools.count()


@pytest.fixture
def intake(start_service, auth_header):
    svc = start_service(IntakeService)
    requests.post(svc.url + "/plans/2023/publish", headers=auth_header("bureau"), timeout=10)
    return svc


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(mutated_bodies(), json_values))
def test_no_malformed_application_gives_a_500_or_a_stored_record(intake, auth_header, body):
    if isinstance(body, dict) and body.get("portal_id") == "P-1":
        body["portal_id"] = f"H-{next(_ids)}"
    before = submissions(intake)
    r = requests.post(intake.url + "/submissions", data=json.dumps(body),
                      headers={**auth_header("portal"), "Content-Type": "application/json"}, timeout=10)
    assert r.status_code in (200, 201, 400, 409, 422), r.text
    assert set(r.json()) == {"error"} or r.status_code in (200, 201)
    if r.status_code == 400:
        assert submissions(intake) == before
        assert r.json()["error"]["code"] in ("invalid_input", "invalid_json")


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(mutated_bodies(), json_values))
def test_queue_reader_either_reads_an_application_or_refuses_it_as_invalid_input(body):
    try:
        out = read_portal_message(body)
    except InvalidInput as exc:
        assert exc.as_dict()["error"]["code"] == "invalid_input"
    else:
        assert out["application"].portal_id and len(out["hash"]) == 64


def _is_malformed(body) -> bool:
    try:
        read_portal_message(body)
    except InvalidInput:
        return True
    return False


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.filter_too_much,
                                                                 HealthCheck.too_slow])
@given(batch=st.lists(st.one_of(mutated_bodies(), json_values).filter(_is_malformed),
                      min_size=1, max_size=15))
def test_malformed_queue_messages_are_all_dead_lettered_and_none_stored(intake, amqp_uri, vhost, wait, batch):
    from kombu import Connection, Producer
    from shared.messaging import PORTAL_SUBMISSIONS_QUEUE
    dead = PORTAL_SUBMISSIONS_QUEUE + ".dead-letters"
    before = vhost.count(dead)
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for body in batch:
            producer.publish(json.dumps(body).encode(), exchange="", routing_key=PORTAL_SUBMISSIONS_QUEUE,
                             content_type="application/json", delivery_mode=2)
    wait(lambda: vhost.count(dead) == before + len(batch), timeout=20,
         message=f"{len(batch)} dead letters")
    assert submissions(intake) == 0
