"""The experts service through the real broker and database: pools with approvals, a panel
requested by review's event, a two-party draw, sealing, emergency draws, discipline."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import eventlet
import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from services.experts import draw
from shared.personal import identity_check_char
from services.experts.service import ExpertsService
from shared.clock import CHINA
from shared.events import build_envelope
from shared.messaging import declare_topology, envelopes_in

MEETING_STARTS = datetime(2023, 11, 20, 9, 0, tzinfo=CHINA)
APPLICANT_UNITS = ["绍兴某机电有限公司", "上虞某电机厂"]


def identity_number(serial: int) -> str:
    body = f"33060419700101{serial % 1000:03d}"
    return body + identity_check_char(body)


def expert_body(n: int, employer: str | None = None) -> dict:
    return {"expert_id": f"E{n:03d}", "identity_number": identity_number(n), "name": "专家甲",
            "employer": employer or f"单位{n:03d}", "specialties": ["机电制造"],
            "title": "高级工程师", "title_level": "senior", "source": "enterprise",
            "term_start": "2023-07-01", "term_end": "2026-06-30"}


class Probe:
    """A queue of the test's own on experts.events: sees every event the service publishes."""

    def __init__(self, amqp_uri):
        self.conn = Connection(amqp_uri)
        channel = self.conn.channel()
        declare_topology(channel)
        self.queue = Queue("probe", exchange=Exchange("experts.events", type="topic", durable=True),
                           routing_key="#", exclusive=True)(channel)
        self.queue.declare()
        self.seen: list[dict] = []

    def wait_for(self, event_type, timeout=10.0, count=1):
        with eventlet.Timeout(timeout, False):
            while sum(e["event_type"] == event_type for e in self.seen) < count:
                message = self.queue.get(no_ack=True)
                if message is None:
                    eventlet.sleep(0.05)
                    continue
                self.seen.extend(envelopes_in(message.body))
        found = [e for e in self.seen if e["event_type"] == event_type]
        if len(found) < count:
            pytest.fail(f"no {event_type} event within {timeout}s "
                        f"(saw {[e['event_type'] for e in self.seen]})")
        return found[count - 1]


@pytest.fixture
def experts(start_service, clock):
    clock.set(datetime(2023, 6, 1, 9, 0, tzinfo=CHINA))
    return start_service(ExpertsService)


@pytest.fixture
def probe(amqp_uri):
    p = Probe(amqp_uri)
    yield p
    p.conn.close()


@pytest.fixture
def call(experts, auth_header):
    def do(method, path, role=None, subject="tester", json_body=None, expect=None):
        headers = auth_header(role, subject=subject) if role else {}
        r = requests.request(method, experts.url + path, json=json_body, headers=headers,
                             timeout=10)
        if expect is not None:
            assert r.status_code == expect, r.text
        return r
    return do


def formed_pool(call, n=25):
    """A committee whose pool is formed before its term (2023-07-01) with ``n`` experts, four of
    them from the applicants' units."""
    call("POST", "/committees", "bureau", json_body={
        "committee_id": "C-JIDIAN", "name": "机电制造工程技术人员中级评委会",
        "organising_unit": "绍兴市经信局", "tier": "intermediate", "scope": "specialty",
        "term_start": "2023-07-01", "term_end": "2026-06-30", "specialties": ["机电制造"]},
        expect=201)
    for i in range(n):
        employer = APPLICANT_UNITS[i % 2] if i < 4 else None
        call("POST", "/experts", "committee_office",
             json_body={**expert_body(i, employer), "committee_id": "C-JIDIAN"}, expect=201)


def publish_panel_requested(amqp_uri, clock, meeting_id="M1", panel_size=11, reserves=4):
    envelope = build_envelope(
        event_type="panel_requested", version=1, producer="review",
        occurred_at=clock.now(), payload={
            "meeting_id": meeting_id, "committee_id": "C-JIDIAN",
            "starts_at": MEETING_STARTS.isoformat(), "at": clock.now().isoformat(),
            "panel_size": panel_size, "reserves": reserves, "specialties": ["机电制造"],
            "applicants": [{"applicant_ref": f"A{i}", "employer": u}
                           for i, u in enumerate(APPLICANT_UNITS)]})
    with Connection(amqp_uri) as conn:
        declare_topology(conn.default_channel)
        Producer(conn.channel()).publish(json.dumps(envelope).encode(), exchange="review.events",
                                         routing_key="panel_requested",
                                         content_type="application/json", delivery_mode=2)
    return envelope


def secret(party, n=0):
    return hashlib.sha256(f"{party}-{n}".encode()).hexdigest()


def run_parties(call, round_id, digest, n=0):
    for party, subject in (("committee_office", "office-clerk"), ("supervisor", "sup-wang")):
        call("POST", f"/draws/{round_id}/commitments", party, subject=subject,
             json_body={"commitment": draw.party_commitment(digest, party, secret(party, n))},
             expect=200)
    for party, subject in (("committee_office", "office-clerk"), ("supervisor", "sup-wang")):
        call("POST", f"/draws/{round_id}/reveals", party, subject=subject,
             json_body={"secret": secret(party, n)}, expect=200)
    return call("POST", f"/draws/{round_id}/finalize", "committee_office", expect=200).json()


def test_pool_changes_during_the_term_take_effect_only_after_bureau_approval(
        experts, call, clock, probe):
    formed_pool(call, n=7)
    assert probe.wait_for("expert_registered", count=7)["payload"]["via"] == "direct"
    clock.set(datetime(2023, 8, 1, 9, 0, tzinfo=CHINA))

    r = call("POST", "/experts", "committee_office",
             json_body={**expert_body(50), "committee_id": "C-JIDIAN"}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-POOL-CHANGE-APPROVAL"

    filed = call("POST", "/committees/C-JIDIAN/change-requests", "committee_office",
                 json_body={"kind": "add", "expert": expert_body(50), "reason": "补充企业专家"},
                 expect=201).json()
    assert filed["status"] == "pending"
    probe.wait_for("pool_change_requested")
    assert call("GET", "/committees/C-JIDIAN/pool-report", "bureau").json()["size"] == 7

    other = call("POST", "/committees/C-JIDIAN/change-requests", "committee_office",
                 json_body={"kind": "add", "expert": expert_body(51), "reason": "补充"},
                 expect=201).json()
    call("POST", f"/change-requests/{other['request_id']}/reject", "bureau",
         json_body={"note": "材料不全"}, expect=200)
    probe.wait_for("pool_change_rejected")
    # the committee office cannot approve its own request
    call("POST", f"/change-requests/{filed['request_id']}/approve", "committee_office", expect=403)
    call("POST", f"/change-requests/{filed['request_id']}/approve", "bureau", expect=200)
    approved = probe.wait_for("pool_change_approved")
    assert approved["payload"]["request_id"] == filed["request_id"]
    report = call("GET", "/committees/C-JIDIAN/pool-report", "bureau").json()
    assert report["size"] == 8
    call("GET", "/experts/E051", "bureau", expect=404)

    # the identity number never comes back whole
    shown = call("GET", "/experts/E050", "inspector", expect=200).json()
    assert identity_number(50) not in json.dumps(shown, ensure_ascii=False)
    assert shown["name"] != "专家甲"

    # terms expire by the clock
    clock.set(datetime(2026, 7, 1, 9, 0, tzinfo=CHINA))
    swept = call("POST", "/admin/sweep", "operator", expect=200).json()
    assert sorted(swept["expired"]) == sorted([f"E{i:03d}" for i in range(7)] + ["E050"])
    probe.wait_for("expert_term_expired", count=8)


def test_a_panel_requested_by_review_is_drawn_by_two_parties_sealed_and_verifiable(
        experts, call, clock, probe, amqp_uri, vhost, wait):
    formed_pool(call)
    clock.set(datetime(2023, 11, 1, 9, 0, tzinfo=CHINA))
    publish_panel_requested(amqp_uri, clock)
    committed = probe.wait_for("draw_committed")["payload"]
    round_id, digest = committed["round_id"], committed["commitment_digest"]
    assert committed["eligible_count"] == 21 and committed["panel_size"] == 11
    assert {x["expert_id"] for x in committed["exclusions"]} == {"E000", "E001", "E002", "E003"}
    assert all(x["reasons"] == ["same_employer"] for x in committed["exclusions"])

    # nobody reveals before everybody committed; a reveal must match its commitment
    call("POST", f"/draws/{round_id}/commitments", "committee_office", subject="office-clerk",
         json_body={"commitment": draw.party_commitment(digest, "committee_office",
                                                        secret("committee_office"))}, expect=200)
    r = call("POST", f"/draws/{round_id}/reveals", "committee_office", subject="office-clerk",
             json_body={"secret": secret("committee_office")}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-DRAW-COMMIT-FIRST"
    call("POST", f"/draws/{round_id}/commitments", "supervisor", subject="sup-wang",
         json_body={"commitment": draw.party_commitment(digest, "supervisor",
                                                        secret("supervisor"))}, expect=200)
    probe.wait_for("draw_party_committed", count=2)
    r = call("POST", f"/draws/{round_id}/reveals", "supervisor", subject="sup-wang",
             json_body={"secret": secret("supervisor", 9)}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-DRAW-REVEAL-MATCH"
    # the bureau is not a party of the round
    call("POST", f"/draws/{round_id}/reveals", "bureau", json_body={"secret": "ab" * 32},
         expect=403)
    for party, subject in (("committee_office", "office-clerk"), ("supervisor", "sup-wang")):
        call("POST", f"/draws/{round_id}/reveals", party, subject=subject,
             json_body={"secret": secret(party)}, expect=200)
    call("POST", f"/draws/{round_id}/finalize", "committee_office", expect=200)
    drawn = probe.wait_for("panel_drawn")["payload"]
    assert drawn["panel_size"] == 11 and "panel" not in drawn
    wait(lambda: vhost.count("review.inbox") >= 1, message="panel_drawn in review's inbox")

    # sealed: only the committee office sees members before the meeting starts
    for role in ("bureau", "supervisor", "inspector"):
        call("GET", "/meetings/M1/panel", role, expect=403)
        call("GET", f"/draws/{round_id}/receipt", role, expect=403)
    call("GET", "/meetings/M1/panel", "portal", expect=403)
    panel = call("GET", "/meetings/M1/panel", "committee_office", expect=200).json()
    members = panel["rounds"][0]["panel"]
    assert len(members) == 11 and len(panel["rounds"][0]["reserves"]) == 4
    assert not {m["employer"] for m in members} & set(APPLICANT_UNITS)
    public = call("GET", f"/draws/{round_id}", "inspector", expect=200).json()
    assert public["phase"] == "finalized"
    assert not any(m["expert_id"] in json.dumps(public) for m in members)

    receipt = call("GET", f"/draws/{round_id}/receipt", "committee_office", expect=200).json()
    assert draw.verify_receipt(receipt, expected_digest=digest).ok
    assert draw.panel_digest(receipt["result"]["panel"], receipt["result"]["reserves"]) == \
        drawn["panel_digest"]

    # the meeting starts: the seed, secrets and members are published and the seal lifts
    clock.set(MEETING_STARTS)
    call("POST", "/admin/sweep", "operator", expect=200)
    revealed = probe.wait_for("draw_seed_revealed")["payload"]
    assert revealed["panel"] == receipt["result"]["panel"]
    assert revealed["secrets"]["supervisor"] == secret("supervisor")
    call("GET", "/meetings/M1/panel", "inspector", expect=200)
    call("GET", "/meetings/M1/panel", "portal", expect=403)

    # the same request delivered again changes nothing
    publish_panel_requested(amqp_uri, clock)
    eventlet.sleep(1.0)
    assert sum(e["event_type"] == "draw_committed" for e in probe.seen) == 1


def test_emergency_draws_need_approval_and_stay_within_thirty_percent(
        experts, call, clock, probe, amqp_uri):
    formed_pool(call)
    clock.set(datetime(2023, 11, 1, 9, 0, tzinfo=CHINA))
    publish_panel_requested(amqp_uri, clock)
    committed = probe.wait_for("draw_committed")["payload"]
    first = run_parties(call, committed["round_id"], committed["commitment_digest"])
    regular = call("GET", f"/draws/{first['round_id']}/receipt", "committee_office").json()

    r = call("POST", "/meetings/M1/emergency-draws", "committee_office",
             json_body={"seats": 1}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-EMERGENCY-APPROVAL"
    r = call("POST", "/meetings/M1/emergency-approvals", "bureau",
             json_body={"seats": 4, "reason": "评委临时缺席"}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-EMERGENCY-CAP"
    call("POST", "/meetings/M1/emergency-approvals", "committee_office",
         json_body={"seats": 1, "reason": "x"}, expect=403)
    approval = call("POST", "/meetings/M1/emergency-approvals", "bureau",
                    json_body={"seats": 2, "reason": "评委临时缺席"}, expect=201).json()
    probe.wait_for("emergency_draw_approved")

    em = call("POST", "/meetings/M1/emergency-draws", "committee_office",
              json_body={"seats": 2, "approval_id": approval["approval_id"]}, expect=201).json()
    assert em["kind"] == "emergency" and em["commitment_digest"] != committed["commitment_digest"]
    em_committed = probe.wait_for("draw_committed", count=2)["payload"]
    assert em_committed["emergency"]["approval_id"] == approval["approval_id"]
    # the sealed panel does not leak through the emergency round's exclusions
    sealed_ids = set(regular["result"]["panel"] + regular["result"]["reserves"])
    assert em_committed["sealed_exclusions"] == 15
    assert not sealed_ids & {x["expert_id"] for x in em_committed["exclusions"]}
    public = call("GET", f"/draws/{em['round_id']}", "inspector", expect=200).json()
    assert not sealed_ids & {x["expert_id"] for x in public["commitment"]["exclusions"]}
    run_parties(call, em["round_id"], em["commitment_digest"], n=1)
    em_drawn = probe.wait_for("emergency_panel_drawn")["payload"]
    assert em_drawn["seats"] == 2 and em_drawn["parent_round_id"] == committed["round_id"]
    em_receipt = call("GET", f"/draws/{em['round_id']}/receipt", "committee_office").json()
    assert draw.verify_receipt(em_receipt, expected_digest=em["commitment_digest"]).ok
    assert not set(em_receipt["result"]["panel"]) & set(
        regular["result"]["panel"] + regular["result"]["reserves"])

    # the approval is used; the cap leaves one seat (11 → 3), so two more are refused
    r = call("POST", "/meetings/M1/emergency-draws", "committee_office",
             json_body={"seats": 1, "approval_id": approval["approval_id"]}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-EMERGENCY-APPROVAL"
    r = call("POST", "/meetings/M1/emergency-approvals", "bureau",
             json_body={"seats": 2, "reason": "又有缺席"}, expect=422)
    assert r.json()["error"]["rule"] == "EXPERTS-EMERGENCY-CAP"
    call("POST", "/meetings/M1/emergency-approvals", "bureau",
         json_body={"seats": 1, "reason": "又有缺席"}, expect=201)


def test_too_few_eligible_experts_is_answered_with_the_shortfall_and_discipline_names_the_unit(
        experts, call, clock, probe, amqp_uri):
    formed_pool(call, n=12)
    clock.set(datetime(2023, 11, 1, 9, 0, tzinfo=CHINA))
    publish_panel_requested(amqp_uri, clock, panel_size=11, reserves=4)
    refused = probe.wait_for("panel_request_refused")["payload"]
    assert refused["rule"] == "EXPERTS-DRAW-SHORTFALL"
    assert refused["violations"][0]["context"] == {"needed": 15, "eligible": 8, "shortfall": 7}

    out = call("POST", "/experts/E007/discipline", "committee_office",
               json_body={"misconduct": "leak", "sanction": "remove", "meeting_id": "M0"},
               expect=201).json()
    assert out["status"] == "removed" and out["unit_to_notify"] == "单位007"
    event = probe.wait_for("expert_disciplined")["payload"]
    assert event["unit"] == "单位007" and event["rule"] == "EXPERTS-DISCIPLINE"
    assert identity_number(7) not in json.dumps(event, ensure_ascii=False)
    report = call("GET", "/committees/C-JIDIAN/pool-report", "inspector", expect=200).json()
    assert report["size"] == 11


def test_a_round_a_party_will_not_finish_is_abandoned_on_record_and_redrawn_as_a_new_commitment(
        experts, call, clock, probe, amqp_uri):
    formed_pool(call)
    clock.set(datetime(2023, 11, 1, 9, 0, tzinfo=CHINA))
    publish_panel_requested(amqp_uri, clock)
    first = probe.wait_for("draw_committed")["payload"]
    rid = first["round_id"]
    for party, subject in (("committee_office", "office-clerk"), ("supervisor", "sup-wang")):
        call("POST", f"/draws/{rid}/commitments", party, subject=subject,
             json_body={"commitment": draw.party_commitment(first["commitment_digest"], party,
                                                            secret(party))}, expect=200)
    call("POST", f"/draws/{rid}/reveals", "committee_office", subject="office-clerk",
         json_body={"secret": secret("committee_office")}, expect=200)
    call("POST", "/meetings/M1/redraw", "committee_office", json_body={}, expect=409)

    call("POST", f"/draws/{rid}/abandon", "committee_office", json_body={"reason": "x"},
         expect=403)
    call("POST", f"/draws/{rid}/abandon", "bureau", json_body={"reason": "监督方未揭示"},
         expect=200)
    abandoned = probe.wait_for("draw_abandoned")["payload"]
    assert abandoned["parties_revealed"] == ["committee_office"]
    call("POST", f"/draws/{rid}/reveals", "supervisor", subject="sup-wang",
         json_body={"secret": secret("supervisor")}, expect=409)

    clock.advance(timedelta(hours=1))
    again = call("POST", "/meetings/M1/redraw", "committee_office", json_body={},
                 expect=201).json()
    assert again["round_id"] != rid and again["commitment_digest"] != first["commitment_digest"]
    second = probe.wait_for("draw_committed", count=2)["payload"]
    assert second["round_id"] == again["round_id"]
    run_parties(call, again["round_id"], again["commitment_digest"], n=5)
    drawn = probe.wait_for("panel_drawn")["payload"]
    assert drawn["round_id"] == again["round_id"]
    panel = call("GET", "/meetings/M1/panel", "committee_office", expect=200).json()
    assert [r["phase"] for r in panel["rounds"]] == ["abandoned", "finalized"]


def test_a_sealed_panel_leaks_through_no_endpoint_event_or_metric_before_the_meeting(
        experts, call, clock, probe, amqp_uri):
    from shared.auth import ROLES

    formed_pool(call)
    clock.set(datetime(2023, 11, 1, 9, 0, tzinfo=CHINA))
    publish_panel_requested(amqp_uri, clock)
    committed = probe.wait_for("draw_committed")["payload"]
    rid = committed["round_id"]
    run_parties(call, rid, committed["commitment_digest"])
    probe.wait_for("panel_drawn")
    receipt = call("GET", f"/draws/{rid}/receipt", "committee_office", expect=200).json()
    members = set(receipt["result"]["panel"] + receipt["result"]["reserves"])

    paths = ["/committees/C-JIDIAN/pool-report", "/change-requests", f"/draws/{rid}",
             f"/draws/{rid}/receipt", "/meetings/M1/panel", "/metrics", "/healthz", "/readyz",
             "/admin/clock"]
    for role in [r for r in ROLES if r != "committee_office"] + [None]:
        for path in paths:
            body = call("GET", path, role).text
            assert not any(m in body for m in members), (role, path)
        for member in sorted(members)[:3]:
            shown = call("GET", f"/experts/{member}", role).text
            assert "M1" not in shown and rid not in shown, (role, member)
    draw_events = [e for e in probe.seen if e["event_type"] in
                   ("draw_committed", "draw_party_committed", "panel_drawn")]
    assert len(draw_events) == 4
    assert not any(m in json.dumps(e) for e in draw_events for m in members)
