"""The audit service over HTTP: an authorization matrix for every endpoint, and the inspectors'
flows (records, proofs, exports, notices, spot checks, patrols, key supervision)."""
from datetime import timedelta

import pytest
import requests

from services.audit import handlers
from services.audit.checkpoint import verify_export
from services.audit.merkle import verify_consistency, verify_inclusion
from services.audit.sampling import commitment, verify_sample_receipt
from services.audit.service import AuditService
from shared.auth import ROLES
from shared.web import HttpEntrypoint
from tests.integration.audit.audit_support import IDENTITY, T0, a_case_story, envelope

SEED_HEX = "07" * 32

# (method, path, roles allowed, body). Every @http endpoint of AuditService must be listed.
MATRIX = [
    ("GET", "/records", {"inspector"}, None),
    ("GET", "/records/0", {"inspector"}, None),
    ("GET", "/cases/C1/timeline", {"inspector"}, None),
    ("GET", "/committees/K7/records", {"inspector"}, None),
    ("GET", "/experts/X1/records", {"inspector"}, None),
    ("POST", "/applicants/records", {"inspector"}, {"identity_number": IDENTITY}),
    ("GET", "/verify", {"inspector", "operator"}, None),
    ("GET", "/heads", {"inspector"}, None),
    ("GET", "/heads/latest", {"inspector"}, None),
    ("POST", "/heads", {"inspector", "operator"}, {}),
    ("GET", "/proofs/inclusion?position=0", {"inspector"}, None),
    ("GET", "/proofs/consistency?first=0", {"inspector"}, None),
    ("GET", "/export", {"inspector"}, None),
    ("GET", "/violations", {"inspector", "bureau"}, None),
    ("POST", "/violations/nope/acknowledge", {"inspector"}, {}),
    ("GET", "/key-supervision/proposals", {"inspector"}, None),
    ("POST", "/key-supervision", {"inspector"}, {"committee_id": "K-matrix"}),
    ("POST", "/spot-checks", {"inspector"}, {"committee_id": "K7"}),
    ("POST", "/spot-checks/nope/commitments", {"inspector", "supervisor"}, {"commitment": "00" * 32}),
    ("POST", "/spot-checks/nope/beacon", {"bureau"}, {"beacon": "b"}),
    ("POST", "/spot-checks/nope/reveals", {"inspector", "supervisor"}, {"secret": "00"}),
    ("POST", "/patrols", {"inspector"}, {"committee_id": "K7"}),
    ("GET", "/inspections/nope", {"inspector", "supervisor"}, None),
    ("POST", "/inspections/nope/results", {"inspector"}, {"case_id": "C1", "outcome": "compliant"}),
]
BASE_ENDPOINTS = {"/healthz", "/readyz", "/metrics", "/admin/clock"}


@pytest.fixture
def audit(start_service):
    return start_service(AuditService, AUDIT_SIGNING_KEY=SEED_HEX, PERSON_KEY="person-key", ANNOUNCE_START=False)


def the_log(service):
    return next(d for d in service.container.dependencies
                if type(d).__name__ == "AuditLogProvider").log


def seed(service, clock, envelopes):
    db = service.database()
    log = the_log(service)
    for env in envelopes:
        with db.unit_of_work(clock) as uow:
            handlers.record_event(uow, log, env, received_at=clock.now())


def call(service, method, path, headers=None, body=None):
    return requests.request(method, service.url + path, headers=headers or {},
                            json=body if body is not None else None, timeout=20)


def test_every_endpoint_is_in_the_authorization_matrix(audit):
    served = {(e.method, e.url) for e in audit.container.entrypoints if isinstance(e, HttpEntrypoint)}
    served = {(m, u) for m, u in served if u not in BASE_ENDPOINTS}
    patterns = {(m, u.replace("<int:position>", "0").replace("<string:case_id>", "C1")
                 .replace("<string:committee_id>", "K7").replace("<string:expert_id>", "X1")
                 .replace("<string:notice_id>", "nope").replace("<string:inspection_id>", "nope"))
                for m, u in served}
    assert patterns == {(m, p.split("?")[0]) for m, p, _r, _b in MATRIX}


@pytest.mark.parametrize("method,path,allowed,body", MATRIX, ids=[f"{m} {p}" for m, p, _a, _b in MATRIX])
def test_authorization_matrix(audit, clock, auth_header, method, path, allowed, body):
    seed(audit, clock, a_case_story("C1"))
    anonymous = call(audit, method, path, body=body)
    assert anonymous.status_code == 401, anonymous.text
    assert call(audit, method, path, {"Authorization": "Bearer not-a-token"}, body).status_code == 401
    for role in ROLES:
        r = call(audit, method, path, auth_header(role), body)
        if role in allowed:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
        assert IDENTITY not in r.text and "张三" not in (r.text if role != "inspector" else "")


def test_an_inspector_reads_a_case_timeline_and_an_applicant_masked(audit, clock, auth_header):
    seed(audit, clock, a_case_story("C1") + a_case_story("C2"))
    inspector = auth_header("inspector")
    timeline = call(audit, "GET", "/cases/C1/timeline?order=newest&limit=2", inspector).json()
    assert [i["event_type"] for i in timeline["items"]] == ["meeting_held", "publicity_started"]
    assert timeline["next_cursor"] is not None
    rest = call(audit, "GET", f"/cases/C1/timeline?order=newest&cursor={timeline['next_cursor']}",
                inspector).json()
    assert [i["event_type"] for i in rest["items"]] == ["submission_accepted"]
    found = call(audit, "POST", "/applicants/records", inspector, {"identity_number": IDENTITY})
    assert found.status_code == 200 and len(found.json()["items"]) == 2
    assert IDENTITY not in found.text and "110105********002X" in found.text
    bad = call(audit, "POST", "/applicants/records", inspector, {"identity_number": "110105194912310021"})
    assert bad.status_code == 400 and "110105194912310021" not in bad.text
    by_type = call(audit, "GET", "/records?event_type=meeting_held", inspector).json()
    assert len(by_type["items"]) == 2
    since = (T0 + timedelta(days=1)).isoformat()
    assert len(call(audit, "GET", "/records", inspector).json()["items"]) == 6
    windowed = requests.get(audit.url + "/records", params={"since": since}, headers=inspector).json()
    assert {i["event_type"] for i in windowed["items"]} == {"meeting_held"}


def test_signed_heads_proofs_verify_and_export_over_http(audit, clock, auth_header):
    inspector = auth_header("inspector")
    seed(audit, clock, a_case_story("C1"))
    first = call(audit, "POST", "/heads", auth_header("operator")).json()["head"]
    seed(audit, clock, a_case_story("C2"))
    second = call(audit, "POST", "/heads", inspector).json()["head"]
    inc = call(audit, "GET", "/proofs/inclusion?position=4", inspector).json()
    assert verify_inclusion(bytes.fromhex(inc["leaf_hash"]), 4, second["tree_size"],
                            [bytes.fromhex(p) for p in inc["proof"]], bytes.fromhex(second["root_hash"]))
    con = call(audit, "GET", f"/proofs/consistency?first={first['tree_size']}", inspector).json()
    assert verify_consistency(3, 6, bytes.fromhex(first["root_hash"]), bytes.fromhex(second["root_hash"]),
                              [bytes.fromhex(p) for p in con["proof"]])
    verified = call(audit, "GET", "/verify", auth_header("operator"))
    assert verified.status_code == 200 and verified.json()["intact"]
    exported = call(audit, "GET", "/export", inspector)
    report = verify_export(exported.text.splitlines(keepends=True))
    # an export covers the tree its latest signed head signs. Each head is itself an event
    # (tree_head_signed) that comes back through the broker, and the periodic signer may sign a
    # newer head meanwhile: the export holds at least our two heads and our six records
    assert report.ok and report.heads >= 2 and report.records >= 6
    assert report.records == report.latest_head.head.tree_size


def test_verify_endpoint_answers_409_naming_the_first_bad_record(audit, clock, auth_header):
    from sqlalchemy import delete
    from services.audit.models import audit_records

    seed(audit, clock, a_case_story("C1") + a_case_story("C2"))
    with audit.database().engine.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.position == 2))
    r = call(audit, "GET", "/verify", auth_header("inspector"))
    assert r.status_code == 409 and r.json()["first_bad"]["position"] == 2


def test_notices_are_listed_acknowledged_once_and_propose_key_supervision(audit, clock, auth_header):
    story = a_case_story("C1")
    early = envelope("meeting_held", "review", 20, meeting_id="M9", committee_id="K7", case_ids=["C1"],
                     held_at=T0.replace(day=2).isoformat())
    seed(audit, clock, story[:2] + [early])
    inspector = auth_header("inspector")
    listed = call(audit, "GET", "/violations?acknowledged=false", auth_header("bureau")).json()["items"]
    assert [v["rule"] for v in listed] == ["AUDIT-PRE-REVIEW-PUBLICITY"] and listed[0]["clause"] == "三(二)"
    proposals = call(audit, "GET", "/key-supervision/proposals", inspector).json()["items"]
    assert proposals == [{"committee_id": "K7", "violation_count": 1, "rules": ["AUDIT-PRE-REVIEW-PUBLICITY"]}]
    notice = listed[0]["notice_id"]
    ack = call(audit, "POST", f"/violations/{notice}/acknowledge", inspector, {"note": "committee told"})
    assert ack.status_code == 200
    assert call(audit, "POST", f"/violations/{notice}/acknowledge", inspector, {}).status_code == 409
    assert call(audit, "GET", "/violations?acknowledged=false", inspector).json()["items"] == []
    assert call(audit, "GET", "/key-supervision/proposals", inspector).json()["items"] == []


def test_a_spot_check_is_committed_by_two_parties_before_either_reveals(audit, clock, auth_header):
    seed(audit, clock, [envelope("submission_accepted", "intake", i, case_id=f"C{i:02d}", committee_id="K7",
                                 industry="建筑") for i in range(30)])
    inspector, supervisor = auth_header("inspector"), auth_header("supervisor")
    planned = call(audit, "POST", "/spot-checks", inspector, {"committee_id": "K7", "share": "1/10"})
    assert planned.status_code == 201, planned.text
    sid = planned.json()["inspection_id"]
    assert planned.json()["plan"]["sample_size"] == 3
    assert call(audit, "POST", f"/spot-checks/{sid}/commitments", inspector,
                {"commitment": commitment(b"i-secret")}).status_code == 200
    early = call(audit, "POST", f"/spot-checks/{sid}/reveals", inspector, {"secret": b"i-secret".hex()})
    assert early.status_code == 409  # only one party has committed
    assert call(audit, "POST", f"/spot-checks/{sid}/commitments", supervisor,
                {"commitment": commitment(b"s-secret")}).status_code == 200
    assert call(audit, "POST", f"/spot-checks/{sid}/beacon", auth_header("bureau"),
                {"beacon": "2023-11-01 lottery 12345"}).status_code == 200
    assert call(audit, "POST", f"/spot-checks/{sid}/reveals", inspector,
                {"secret": b"i-secret".hex()}).json()["stage"] == "revealing"
    wrong = call(audit, "POST", f"/spot-checks/{sid}/reveals", supervisor, {"secret": b"other".hex()})
    assert wrong.status_code == 400
    drawn = call(audit, "POST", f"/spot-checks/{sid}/reveals", supervisor, {"secret": b"s-secret".hex()}).json()
    assert drawn["stage"] == "drawn" and len(drawn["case_ids"]) == 3
    assert verify_sample_receipt(drawn["receipt"]) == []
    result = call(audit, "POST", f"/inspections/{sid}/results", inspector,
                  {"case_id": drawn["case_ids"][0], "outcome": "issues_found", "notes": "材料缺页"})
    assert result.status_code == 201
    not_sampled = next(f"C{i:02d}" for i in range(30) if f"C{i:02d}" not in drawn["case_ids"])
    assert call(audit, "POST", f"/inspections/{sid}/results", inspector,
                {"case_id": not_sampled, "outcome": "compliant"}).status_code == 404
    view = call(audit, "GET", f"/inspections/{sid}", supervisor).json()
    assert view["results"][0]["outcome"] == "issues_found" and view["receipt"]["selected"] == drawn["case_ids"]


def test_patrols_and_key_supervision_select_every_case(audit, clock, auth_header):
    seed(audit, clock, [envelope("submission_accepted", "intake", i, case_id=f"C{i}",
                                 committee_id="K7" if i < 4 else "K8",
                                 industry="建筑" if i % 2 else "教育") for i in range(8)])
    inspector = auth_header("inspector")
    patrol = call(audit, "POST", "/patrols", inspector, {"industry": "建筑"}).json()
    assert patrol["case_ids"] == ["C1", "C3", "C5", "C7"]
    key = call(audit, "POST", "/key-supervision", inspector, {"committee_id": "K8", "reason": "violations"})
    assert key.status_code == 201 and key.json()["case_ids"] == ["C4", "C5", "C6", "C7"]
    assert call(audit, "POST", "/key-supervision", inspector, {"committee_id": "K8"}).status_code == 409
    assert call(audit, "POST", "/patrols", inspector, {}).status_code == 400


def test_events_published_by_services_reach_the_chained_store(start_service, clock, auth_header, wait):
    from services.intake.service import IntakeService

    audit = start_service(AuditService, AUDIT_SIGNING_KEY=SEED_HEX, PERSON_KEY="person-key")
    start_service(IntakeService)
    inspector = auth_header("inspector")
    wait(lambda: {"audit_started", "intake_started"} <= {
        i["event_type"] for i in call(audit, "GET", "/records", inspector).json()["items"]},
        timeout=20, message="start events recorded")
    assert call(audit, "GET", "/verify", inspector).json()["intact"]
