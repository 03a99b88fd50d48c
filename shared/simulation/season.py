"""A whole 2023 review season (评审年度), played against running services through their public
HTTP and AMQP interfaces only: the demo (`zhicheng demo`) and the end-to-end tests.

The driver sets every service's clock (operator token → ``PUT /admin/clock``) and walks the
notice's steps: the bureau publishes the 2023 plan (a deadline change without approval is refused,
one with a recorded approval accepted); committee offices form three expert pools (and add one
expert each by a change request the bureau approves); the simulated portal sends a few hundred
applications over AMQP, one for each acceptance rule that must refuse; the portal reads its answers
from intake's events; qualification (one fails with reasons); the pre-review notice with two
objections (one dismissed, one upheld → withdrawn); the notices end by the clock; one meeting per
committee with a panel drawn by two parties (commit → reveal → finalize), the sealed panel read by
the committee office, one approved emergency draw; anonymous votes (some fail → ``applicant_failed``
→ intake's performance archive); the post-review notice; publication; certificates (one verified
through the public endpoint); an audit spot check; audit's chain verification.

The bureau's refused unapproved deadline change is recorded by intake (``*_refused``,
shared/refusals.py) and reported by audit: the one violation such a season expects
(``attempt_unapproved_deadline=False`` gives a clean season with none).

Every step checks what must have happened; :meth:`Season.run` returns a :class:`SeasonSummary`
and raises :class:`SeasonFailed` listing every expectation that was not met.

Only hashing helpers are imported from the services (the published draw and spot-check
commitment formulas a party must compute on its own side).
"""
from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import requests
from kombu import Connection, Exchange, Queue

from services.audit.sampling import commitment as spot_check_commitment
from services.experts.draw import party_commitment
from shared.auth import issue_token
from shared.clock import CHINA
from shared.events.envelope import build_envelope, encode
from shared.messaging import envelopes_in
from shared.personal import applicant_key
from shared.simulation.portal import REFUSALS, ApplicationFactory, PortalPublisher

YEAR = 2023
COMMITTEES = ("R22", "D01", "D02")
# the committees' pools at the experts service: name, organising unit, specialties the experts cover
POOLS = {
    "R22": ("绍兴市水利工程技术人员中级评委会", "绍兴市水利局",
            ["水利规划设计", "技术开发", "建设管理", "运行管理"]),
    "D01": ("上虞区建设工程中级评委会", "上虞区住房和城乡建设局", ["建筑施工"]),
    "D02": ("上虞区中小学教师中级评委会", "上虞区教育体育局", ["中小学教师"]),
}
EXPERT_EMPLOYERS = ("浙江大学", "浙江工业大学", "绍兴文理学院", "浙江省水利水电勘测设计院",
                    "绍兴市建筑设计院", "浙江省建工集团", "绍兴市第一中学", "杭州师范大学",
                    "宁波大学", "浙江水利水电学院", "绍兴市勘察测绘院", "嘉兴学院")
PARTIES = ("committee_office", "supervisor")


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA)


# the season's calendar (China time); working days follow the official 2023 calendar
POOL_FORMED = at(2023, 3, 1)          # pools formed before their term (2023-04-01)
PLAN_PUBLISHED = at(2023, 4, 10)
POOL_CHANGES = at(2023, 4, 20)        # during the term: change requests, bureau approval
APPLICATIONS_OPEN = at(2023, 8, 10)   # before R22's (August) and D01/D02's deadlines
QUALIFICATION = at(2023, 8, 14)
PRE_REVIEW_STARTS = "2023-08-15"      # Tue: 15 16 17 18 21 → closes 2023-08-22 00:00
OBJECTIONS = at(2023, 8, 16, 10)
PRE_REVIEW_OVER = at(2023, 8, 22)
MEETING_STARTS = at(2023, 9, 5)
VOTING = at(2023, 9, 5, 11)
POST_REVIEW_STARTS = "2023-09-06"     # Wed: 6 7 8 11 12 → closes 2023-09-13 00:00
POST_REVIEW_OVER = at(2023, 9, 13)
PUBLICATION = at(2023, 9, 14)
INSPECTION = at(2023, 9, 20)


class SeasonFailed(AssertionError):
    """Something in the season did not happen as expected (every such thing is listed)."""

    def __init__(self, problems: list[str], summary: "SeasonSummary | None" = None) -> None:
        self.problems = problems
        self.summary = summary
        super().__init__("the season did not go as expected:\n- " + "\n- ".join(problems))


@dataclass
class SeasonSummary:
    applications: int = 0
    accepted: int = 0
    refusals_by_rule: dict[str, int] = field(default_factory=dict)
    cases_by_state: dict[str, int] = field(default_factory=dict)
    meetings: dict[str, str] = field(default_factory=dict)
    emergency_draws: int = 0
    certificates: int = 0
    failed_in_archive: int = 0
    spot_check_sample: list[str] = field(default_factory=list)
    audit_records: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    expected_violations: dict[str, int] = field(default_factory=dict)
    audit_chain_verified: bool = False
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        rows: list[tuple[str, str]] = [("applications sent (AMQP)", str(self.applications)),
                                       ("accepted", str(self.accepted))]
        rows += [(f"refused {rule}", str(n)) for rule, n in sorted(self.refusals_by_rule.items())]
        rows += [(f"cases {state}", str(n)) for state, n in sorted(self.cases_by_state.items())]
        rows += [(f"meeting {c}", m) for c, m in sorted(self.meetings.items())]
        rows += [("emergency draws", str(self.emergency_draws)),
                 ("certificates issued", str(self.certificates)),
                 ("failed attempts in intake's archive", str(self.failed_in_archive)),
                 ("spot check sample", ", ".join(self.spot_check_sample) or "-"),
                 ("audit records", str(self.audit_records))]
        rows += [(f"violation {rule}", str(n)) for rule, n in sorted(self.violations.items())]
        rows += [("violations found", str(sum(self.violations.values()))),
                 ("violations expected", str(sum(self.expected_violations.values()))),
                 ("audit chain verified", "yes" if self.audit_chain_verified else "NO"),
                 ("seconds", f"{self.seconds:.1f}"),
                 ("result", "OK" if self.ok else f"{len(self.problems)} problem(s)")]
        width = max(len(k) for k, _ in rows)
        line = "+" + "-" * (width + 2) + "+" + "-" * 42 + "+"
        out = [line] + [f"| {k:<{width}} | {v[:40]:<40} |" for k, v in rows] + [line]
        out += [f"PROBLEM: {p}" for p in self.problems]
        return "\n".join(out)


@dataclass
class SeasonSettings:
    """Where the platform is and the keys a season needs."""

    urls: dict[str, str]
    amqp_uri: str
    jwt_secret: str
    person_key: bytes
    applications: int = 270
    seed: int = 2023
    workers: int = 4
    timeout: float = 60.0
    log: Callable[[str], None] = lambda _m: None
    refusal_rules: tuple[str, ...] = tuple(REFUSALS)
    panel_sizes: dict[str, int] = field(default_factory=lambda: {c: 9 for c in COMMITTEES})
    emergency_draws: dict[str, int] = field(default_factory=lambda: {"R22": 1})
    experts_per_pool: int = 18
    attempt_unapproved_deadline: bool = True
    """The bureau tries to move a published deadline without approval: intake refuses
    (INTAKE-PLAN-DEADLINE-FROZEN) and records the attempt, which audit reports
    (AUDIT-PLAN-DEADLINE): the one violation such a season expects. Off: a clean season."""
    fail_every: int = 9


class Http:
    """Role tokens and JSON calls that check the status they expect."""

    def __init__(self, urls: dict[str, str], secret: str) -> None:
        self.urls = urls
        self.secret = secret
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self._tokens: dict[tuple[str, str], str] = {}

    def headers(self, role: str | None, subject: str | None = None) -> dict[str, str]:
        if role is None:
            return {}
        subject = subject or f"season-{role}"
        key = (role, subject)
        if key not in self._tokens:
            self._tokens[key] = issue_token(self.secret, subject, [role],
                                            now=datetime.now(timezone.utc),
                                            ttl=timedelta(hours=2))
        return {"Authorization": "Bearer " + self._tokens[key]}

    def call(self, method: str, service: str, path: str, role: str | None = None,
             body: Any = None, expect: int | Iterable[int] | None = 200,
             subject: str | None = None, params: dict | None = None) -> requests.Response:
        r = self.session.request(method, self.urls[service] + path, json=body, params=params,
                                 headers=self.headers(role, subject), timeout=30)
        expected = {expect} if isinstance(expect, int) else set(expect or ())
        if expected and r.status_code not in expected:
            raise SeasonFailed([f"{method} {service}{path} as {role}: HTTP {r.status_code} "
                                f"(expected {sorted(expected)}): {r.text[:500]}"])
        return r

    def json(self, *args, **kwargs) -> Any:
        return self.call(*args, **kwargs).json()


class EventTap:
    """A private, auto-deleted queue bound to some event types of a service's exchange: how the
    portal reads its answers (and a rogue producer's view of the broker)."""

    def __init__(self, amqp_uri: str, exchange: str, routing_keys: Iterable[str]) -> None:
        self.connection = Connection(amqp_uri)
        self.connection.ensure_connection(max_retries=3)
        ex = Exchange(exchange, type="topic", durable=True)
        name = f"season-tap-{exchange}-{uuid.uuid4().hex[:8]}"
        channel = self.connection.channel()
        self.queue = Queue(name, auto_delete=True, exclusive=True)(channel)
        self.queue.declare()
        ex(channel).declare()
        for key in routing_keys:
            self.queue.bind_to(exchange=exchange, routing_key=key)
        self.channel = channel
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def drain(self, until: Callable[[list[dict[str, Any]]], bool], timeout: float,
              message: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.queue.get(no_ack=True)
            if got is not None:
                self.events.extend(envelopes_in(got.body))  # one, or a relay's group
                continue
            if until(self.events):
                return self.events
            if time.monotonic() > deadline:
                raise SeasonFailed([f"timed out waiting for {message} "
                                    f"({len(self.events)} events read)"])
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - closing best effort
            pass


class RogueProducer:
    """Publishes well-formed envelopes straight onto a service's exchange, bypassing the
    service's guards (a buggy or rogue producer): what audit must still catch."""

    def __init__(self, amqp_uri: str) -> None:
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.connection.ensure_connection(max_retries=3)
        self.producer = self.connection.Producer()

    def publish(self, producer: str, event_type: str, payload: dict[str, Any],
                occurred_at: datetime, correlation_id: str | None = None) -> dict[str, Any]:
        envelope = build_envelope(event_type=event_type, version=1, producer=producer,
                                  payload=payload, occurred_at=occurred_at,
                                  correlation_id=correlation_id)
        self.producer.publish(encode(envelope), exchange=f"{producer}.events",
                              routing_key=event_type, delivery_mode=2,
                              content_type="application/json", content_encoding="utf-8",
                              message_id=envelope["event_id"])
        return envelope

    def close(self) -> None:
        self.connection.close()


def wait_until(predicate: Callable[[], Any], timeout: float, message: str,
               interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SeasonFailed([f"timed out waiting for {message}"])
        time.sleep(interval)


def _identity(rng_serial: int) -> str:
    from shared.personal import identity_check_char
    body = f"3306041968{(rng_serial % 12) + 1:02d}{(rng_serial % 28) + 1:02d}{rng_serial % 1000:03d}"
    return body + identity_check_char(body)


class Season:
    """One season; :meth:`run` plays all of it, the steps can also be called one by one."""

    def __init__(self, settings: SeasonSettings) -> None:
        self.s = settings
        self.http = Http(settings.urls, settings.jwt_secret)
        self.factory = ApplicationFactory(seed=settings.seed, plan_year=YEAR)
        self.problems: list[str] = []
        self.summary = SeasonSummary()
        self.now: datetime | None = None
        self.cases: dict[str, dict[str, Any]] = {}       # case_id -> case view
        self.meetings: dict[str, str] = {}               # committee -> meeting id
        self.failed_cases: list[str] = []
        self.passed_cases: list[str] = []
        self.withdrawn_case: str | None = None
        self.qualification_failed_case: str | None = None
        self.certificates: list[str] = []
        self.expected_counts: Counter = Counter()        # event type -> at least this many
        self.expected_violations: Counter = Counter()    # rule id -> exactly this many
        self.pool = ThreadPoolExecutor(max_workers=settings.workers)

    # -- small helpers -------------------------------------------------------------------------
    def log(self, message: str) -> None:
        self.s.log(message)

    def expect(self, condition: bool, problem: str) -> bool:
        if not condition:
            self.problems.append(problem)
        return condition

    def clock(self, instant: datetime) -> None:
        self.now = instant
        for service in self.s.urls:
            got = self.http.json("PUT", service, "/admin/clock", "operator",
                                 {"now": instant.isoformat(), "frozen": True})
            if not str(got.get("now", "")).startswith(instant.isoformat()[:16]):
                self.problems.append(f"{service}'s clock did not move to {instant}: {got}")

    def parallel(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return list(self.pool.map(fn, list(items)))

    # -- the season ----------------------------------------------------------------------------
    def run(self) -> SeasonSummary:
        started = time.monotonic()
        try:
            self.form_pools()
            self.publish_plan()
            self.change_pools()
            self.applications()
            self.qualification()
            self.pre_review_publicity()
            self.meetings_and_draws()
            self.votes()
            self.post_review_and_publication()
            self.certificates_step()
            self.inspection()
            self.audit_checks(self.expected_violations)
        except SeasonFailed as exc:
            self.problems.extend(exc.problems)
        finally:
            self.pool.shutdown(wait=False)
        self.summary.seconds = time.monotonic() - started
        self.summary.problems = list(self.problems)
        if self.problems:
            raise SeasonFailed(self.problems, self.summary)
        return self.summary

    def form_pools(self) -> None:
        """Three committees' pools, formed before their term (2023-04-01 .. 2026-03-31)."""
        self.log("expert pools")
        self.clock(POOL_FORMED)
        for code in COMMITTEES:
            name, unit, specialties = POOLS[code]
            self.http.call("POST", "experts", "/committees", "bureau", {
                "committee_id": code, "name": name, "organising_unit": unit,
                "tier": "intermediate", "scope": "specialty", "term_start": "2023-04-01",
                "term_end": "2026-03-31", "specialties": specialties}, expect=201)

            def register(i: int, code=code, specialties=specialties) -> None:
                self.http.call("POST", "experts", "/experts", "committee_office", {
                    "committee_id": code, "expert_id": f"{code}-E{i:02d}",
                    "identity_number": _identity(COMMITTEES.index(code) * 100 + i),
                    "name": "专家", "employer": EXPERT_EMPLOYERS[i % len(EXPERT_EMPLOYERS)],
                    "specialties": specialties, "title": "高级工程师", "title_level": "senior",
                    "source": ("institution", "enterprise", "association")[i % 3],
                    "term_start": "2023-04-01", "term_end": "2026-03-31"}, expect=201)
            for i in range(self.s.experts_per_pool):
                register(i)
            report = self.http.json("GET", "experts", f"/committees/{code}/pool-report",
                                    "committee_office", params={"day": "2023-04-01"})
            self.expected_counts["expert_registered"] += self.s.experts_per_pool
            self.expect(report.get("meets_minimums") is True and report.get("size", 0)
                        >= self.s.experts_per_pool,
                        f"pool {code} does not meet its minimums on its first day: {report}")

    def publish_plan(self) -> None:
        self.log("plan 2023")
        self.clock(PLAN_PUBLISHED)
        self.http.call("POST", "intake", f"/plans/{YEAR}/publish", "bureau")
        self.expected_counts["plan_published"] += 1
        if self.s.attempt_unapproved_deadline:
            self.unapproved_deadline_change()
        self.http.call("POST", "intake", f"/plans/{YEAR}/committees/R05/deadline", "bureau", {
            "new_deadline": "2023-07-20", "approval": {
                "approved_by": "区人力社保局", "reason": "疫情影响，经局务会特别批准",
                "approved_at": PLAN_PUBLISHED.isoformat()}})
        self.expected_counts["plan_deadline_changed"] += 1
        plan = self.http.json("GET", "intake", f"/plans/{YEAR}")
        self.expect("R05" in str(plan.get("deadline_changes", plan)),
                    "the approved deadline change is not on the published plan")

    def unapproved_deadline_change(self, code: str = "R05") -> None:
        refused = self.http.call("POST", "intake", f"/plans/{YEAR}/committees/{code}/deadline",
                                 "bureau", {"new_deadline": "2023-07-20"}, expect=422).json()
        self.expect("INTAKE-PLAN-DEADLINE-FROZEN" in str(refused),
                    f"a deadline change without approval was not refused by "
                    f"INTAKE-PLAN-DEADLINE-FROZEN: {refused}")
        self.expected_counts["plan_deadline_change_refused"] += 1
        self.expected_violations["AUDIT-PLAN-DEADLINE"] += 1

    def change_pools(self) -> None:
        """During the term each pool gets one more expert by a change request (报备) that
        changes nothing until the bureau approves it (备案同意)."""
        self.log("pool change requests")
        self.clock(POOL_CHANGES)
        for code in COMMITTEES:
            _name, _unit, specialties = POOLS[code]
            expert_id = f"{code}-E{self.s.experts_per_pool:02d}"
            direct = self.http.call("POST", "experts", "/experts", "committee_office", {
                "committee_id": code, "expert_id": expert_id + "X",
                "identity_number": _identity(600 + COMMITTEES.index(code)),
                "name": "专家", "employer": "宁波大学", "specialties": specialties,
                "title": "教授", "title_level": "senior", "source": "institution",
                "term_start": "2023-04-20", "term_end": "2026-03-31"}, expect=422).json()
            self.expect("EXPERTS-POOL-CHANGE-APPROVAL" in str(direct),
                        f"a direct registration during {code}'s term was not refused: {direct}")
            req = self.http.call("POST", "experts", f"/committees/{code}/change-requests",
                                 "committee_office", {
                                     "kind": "add", "reason": "补充专业覆盖", "expert": {
                                         "expert_id": expert_id,
                                         "identity_number": _identity(500 + COMMITTEES.index(code)),
                                         "name": "专家", "employer": "嘉兴学院",
                                         "specialties": specialties, "title": "教授",
                                         "title_level": "senior", "source": "institution",
                                         "term_start": "2023-04-20", "term_end": "2026-03-31"}},
                                 expect=201).json()
            self.http.call("POST", "experts", f"/change-requests/{req['request_id']}/approve",
                           "bureau", {"note": "同意"})
            self.expected_counts["pool_change_approved"] += 1
            self.http.json("GET", "experts", f"/experts/{expert_id}", "committee_office")

    def applications(self) -> None:
        """Last year's failed attempt into the archive, then the portal's applications over
        AMQP; the answers are read from intake's events."""
        self.log("applications over AMQP")
        self.clock(APPLICATIONS_OPEN)
        refusals = [(self.factory.refused(rule), rule) for rule in self.s.refusal_rules]
        for app, rule in refusals:
            if rule == "INTAKE-REAPPLICANT":
                key = applicant_key(app["applicant"]["identity_number"], self.s.person_key)
                self.http.call("POST", "intake", "/archives/attempts", "committee_office", {
                    "applicant_key": key, "year": YEAR - 1, "committee_code": "R22",
                    "title": "工程师", "outcome": "failed", "decided_on": "2022-11-20"},
                    expect=(200, 201))
                self.expected_counts["archive_attempt_recorded"] += 1
        valid = [self.factory.valid(COMMITTEES[i % len(COMMITTEES)])
                 for i in range(self.s.applications)]
        expected = {a["portal_id"]: None for a in valid}
        expected.update({a["portal_id"]: rule for a, rule in refusals})
        tap = EventTap(self.s.amqp_uri, "intake.events",
                       ["submission_accepted", "submission_rejected",
                        "initial_determination_granted"])
        try:
            with PortalPublisher(self.s.amqp_uri) as portal:
                for app in valid + [a for a, _ in refusals]:
                    portal.publish(app)
            self.summary.applications = len(expected)

            def answered(events):
                return len({e["payload"].get("portal_id") for e in events} & set(expected)) \
                    >= len(expected)
            events = tap.drain(answered, self.s.timeout, "intake's answers to every application")
        finally:
            tap.close()
        answers = {e["payload"]["portal_id"]: e for e in events
                   if e["payload"].get("portal_id") in expected}
        refusals_by_rule: Counter = Counter()
        accepted = 0
        for portal_id, rule in expected.items():
            answer = answers[portal_id]
            kind = answer["event_type"]
            if rule is None:
                if self.expect(kind == "submission_accepted",
                               f"application {portal_id} was not accepted: {kind} "
                               f"{answer['payload'].get('rules')}"):
                    accepted += 1
            else:
                rules = answer["payload"].get("rules") or []
                if self.expect(kind == "submission_rejected" and rule in rules,
                               f"application {portal_id} was not refused by {rule}: {kind} "
                               f"{rules}"):
                    refusals_by_rule[rule] += 1
        self.summary.accepted = accepted
        self.summary.refusals_by_rule = dict(refusals_by_rule)
        self.expected_counts["submission_accepted"] += accepted
        self.expected_counts["submission_rejected"] += sum(refusals_by_rule.values())
        self.expected_counts["submission_received"] += len(expected)
        self.accepted_submissions = {a["submission_id"] for a in
                                     (e["payload"] for e in answers.values()
                                      if e["event_type"] == "submission_accepted")}

        def opened():
            items = []
            for code in COMMITTEES:
                offset = 0
                while True:
                    page = self.http.json("GET", "review", "/cases", "committee_office",
                                          params={"committee_id": code, "limit": 1000,
                                                  "offset": offset})["items"]
                    items += page
                    if len(page) < 1000:
                        break
                    offset += 1000
            return items if len(items) >= accepted else None
        cases = wait_until(opened, self.s.timeout, "review opened a case per accepted application",
                           interval=0.3)
        self.cases = {c["case_id"]: c for c in cases}
        self.expect({c["submission_id"] for c in cases} == self.accepted_submissions,
                    "review's cases are not exactly intake's accepted submissions")
        self.expected_counts["case_opened"] += len(cases)

    def _by_committee(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {c: [] for c in COMMITTEES}
        for case_id, case in sorted(self.cases.items(), key=lambda kv: kv[1]["submission_id"]):
            out[case["committee_id"]].append(case_id)
        return out

    def docket_of(self, code: str) -> list[str]:
        return [c for c in self._by_committee()[code] if c in self.active]

    def qualification(self) -> None:
        self.log("qualification")
        self.clock(QUALIFICATION)
        ids = sorted(self.cases)
        self.qualification_failed_case = ids[0]
        self.http.call("POST", "review", f"/cases/{ids[0]}/qualification", "committee_office",
                       {"outcome": "failed", "reasons": ["现职称任职年限不足"]})
        self.parallel(lambda cid: self.http.call(
            "POST", "review", f"/cases/{cid}/qualification", "committee_office",
            {"outcome": "passed"}), ids[1:])
        got = self.http.json("GET", "review", f"/cases/{ids[0]}", "committee_office")
        self.expect(got["state"] == "qualification_failed" and got["qualification_reasons"],
                    f"the failed qualification has no reasons or wrong state: {got['state']}")
        self.expected_counts["qualification_passed"] += len(ids) - 1
        self.expected_counts["qualification_failed"] += 1

    def pre_review_publicity(self) -> None:
        self.start_pre_review()
        self.end_pre_review()

    def start_pre_review(self) -> None:
        self.log("pre-review publicity, objections")
        qualified = sorted(self.cases)[1:]
        self.parallel(lambda cid: self.http.call(
            "POST", "review", f"/cases/{cid}/publicity", "committee_office",
            {"starts_on": PRE_REVIEW_STARTS}), qualified)
        self.expected_counts["publicity_started"] += len(qualified)
        self.clock(OBJECTIONS)
        dismissed, upheld = qualified[0], qualified[1]
        for case_id, resolution in ((dismissed, "dismissed"), (upheld, "upheld")):
            filed = self.http.json("POST", "review", f"/cases/{case_id}/objections", "portal",
                                   {"grounds": "申报业绩与实际不符"}, expect=201)
            self.http.call("POST", "review",
                           f"/cases/{case_id}/objections/{filed['objection_id']}/resolution",
                           "committee_office", {"resolution": resolution,
                                                "reason": "经核查" + ("属实" if resolution == "upheld"
                                                                     else "不属实")})
        self.withdrawn_case = upheld
        state = self.http.json("GET", "review", f"/cases/{upheld}", "committee_office")["state"]
        self.expect(state == "withdrawn", f"an upheld objection did not withdraw the case: {state}")
        self.expected_counts.update({"objection_filed": 2, "objection_resolved": 2,
                                     "case_withdrawn": 1})
        self.qualified = qualified

    def end_pre_review(self) -> None:
        """The clock passes the notices' five working days; the tick ends them."""
        qualified, upheld = self.qualified, self.withdrawn_case
        self.clock(PRE_REVIEW_OVER)
        self.http.call("POST", "review", "/admin/tick", "operator")
        self.active = [c for c in qualified if c != upheld]
        states = Counter(self.parallel(lambda cid: self.http.json(
            "GET", "review", f"/cases/{cid}", "committee_office")["state"], self.active))
        self.expect(states == Counter({"awaiting_meeting": len(self.active)}),
                    f"the pre-review notices did not all end: {dict(states)}")
        self.expected_counts["publicity_ended"] += len(self.active)

    def _draw(self, round_id: str, digest: str, label: str) -> None:
        """Both parties commit before either reveals, then the office finalizes."""
        own = {p: secrets.token_hex(32) for p in PARTIES}
        for party in PARTIES:
            self.http.call("POST", "experts", f"/draws/{round_id}/commitments", party,
                           {"commitment": party_commitment(digest, party, own[party])},
                           subject=f"{label}-{party}")
        for party in PARTIES:
            self.http.call("POST", "experts", f"/draws/{round_id}/reveals", party,
                           {"secret": own[party]}, subject=f"{label}-{party}")
        self.http.call("POST", "experts", f"/draws/{round_id}/finalize", "committee_office",
                       subject=f"{label}-committee_office")

    def meetings_and_draws(self) -> None:
        self.log("meetings, panel draws, emergency draw")
        by_committee = self._by_committee()
        starts = MEETING_STARTS.isoformat()
        for code in COMMITTEES:
            docket = [c for c in by_committee[code] if c in self.active]
            meeting = self.http.json("POST", "review", "/meetings", "committee_office", {
                "committee_id": code, "starts_at": starts, "case_ids": docket,
                "panel_size": self.s.panel_sizes[code]}, expect=201)
            self.meetings[code] = meeting["meeting_id"]
        self.expected_counts["meeting_scheduled"] += len(COMMITTEES)
        self.expected_counts["materials_frozen"] += len(self.active)
        for code, meeting_id in self.meetings.items():
            panel = wait_until(lambda: (lambda r: r.json() if r.ok and r.json()["rounds"]
                                        else None)(self.http.call(
                                            "GET", "experts", f"/meetings/{meeting_id}/panel",
                                            "committee_office", expect=None)),
                               self.s.timeout, f"experts opened {code}'s draw round")
            rnd = panel["rounds"][0]
            self._draw(rnd["round_id"], rnd["commitment_digest"], code)
            wait_until(lambda: self.http.json("GET", "review", f"/meetings/{meeting_id}",
                                              "committee_office")["state"] == "panel_drawn",
                       self.s.timeout, f"review seated {code}'s panel")
            for n in range(self.s.emergency_draws.get(code, 0)):
                approval = self.http.json("POST", "experts",
                                          f"/meetings/{meeting_id}/emergency-approvals", "bureau",
                                          {"seats": 1, "reason": "一名评委因病无法到会"},
                                          expect=(200, 201))
                emergency = self.http.json("POST", "experts",
                                           f"/meetings/{meeting_id}/emergency-draws",
                                           "committee_office",
                                           {"approval_id": approval["approval_id"], "seats": 1},
                                           expect=(200, 201))
                self._draw(emergency["round_id"], emergency["commitment_digest"],
                           f"{code}-emergency{n}")
                self.summary.emergency_draws += 1
                self.expected_counts.update({"emergency_draw_approved": 1,
                                             "emergency_panel_drawn": 1})
            sealed = self.http.json("GET", "experts", f"/meetings/{meeting_id}/panel",
                                    "committee_office")
            regular = next(r for r in sealed["rounds"] if r.get("kind") == "regular")
            self.expect(len(regular.get("panel") or []) == self.s.panel_sizes[code],
                        f"the committee office did not read {code}'s sealed panel of "
                        f"{self.s.panel_sizes[code]}: {len(regular.get('panel') or [])}")
            self.expect(len(sealed["rounds"]) == 1 + self.s.emergency_draws.get(code, 0)
                        and all(r.get("panel") for r in sealed["rounds"]),
                        f"{code}'s emergency rounds are not all drawn")
            hidden = self.http.call("GET", "experts", f"/meetings/{meeting_id}/panel",
                                    "inspector", expect=None)
            self.expect(hidden.status_code in (403, 404, 409, 422) and "panel\"" not in hidden.text,
                        f"{code}'s sealed panel was shown to an inspector before the meeting")
            self.summary.meetings[code] = (f"{len(self.docket_of(code))} cases, panel "
                                           f"{self.s.panel_sizes[code]}, "
                                           f"{self.s.emergency_draws.get(code, 0)} emergency")
        self.expected_counts["panel_drawn"] += len(COMMITTEES)

    def votes(self) -> None:
        self.log("votes")
        self.clock(VOTING)
        self.http.call("POST", "experts", "/admin/sweep", "operator")  # unseal: seeds revealed
        by_committee = self._by_committee()
        jobs = []
        for code in COMMITTEES:
            size = self.s.panel_sizes[code]
            docket = [c for c in by_committee[code] if c in self.active]
            for i, case_id in enumerate(docket):
                fail = i % self.s.fail_every == 3
                yes = size // 3 if fail else size - 2
                jobs.append((self.meetings[code], case_id, size, yes, size - yes, fail))

        def vote(job):
            meeting_id, case_id, present, yes, no, fail = job
            got = self.http.json("POST", "review", f"/meetings/{meeting_id}/votes",
                                 "committee_office", {"case_id": case_id, "present": present,
                                                      "yes": yes, "no": no, "abstain": 0})
            return case_id, got["state"], fail
        for case_id, state, fail in self.parallel(vote, jobs):
            want = "failed" if fail else "passed"
            if self.expect(state == want, f"case {case_id} is {state} after its votes, not {want}"):
                (self.failed_cases if fail else self.passed_cases).append(case_id)
        self.expected_counts.update({"votes_recorded": len(jobs), "case_decided": len(jobs),
                                     "applicant_failed": len(self.failed_cases),
                                     "draw_seed_revealed": len(COMMITTEES)
                                     + sum(self.s.emergency_draws.values())})
        # review's applicant_failed reaches intake's performance archive (业绩档案)
        keys = [self.cases[c]["applicant_key"] for c in self.failed_cases]

        def archived():
            n = 0
            for key in keys:
                attempts = self.http.json("GET", "intake", f"/archives/{key}", "committee_office")
                n += any(a.get("outcome") == "failed" and int(a.get("year", 0)) == YEAR
                         for a in attempts.get("attempts", []))
            return n if n == len(keys) else None
        self.summary.failed_in_archive = wait_until(
            archived, self.s.timeout, "every failed applicant in intake's archive", interval=0.5)
        self.expected_counts["archive_attempt_recorded"] += len(keys)

    def post_review_and_publication(self) -> None:
        self.log("post-review publicity, publication")
        self.parallel(lambda cid: self.http.call(
            "POST", "review", f"/cases/{cid}/publicity", "committee_office",
            {"starts_on": POST_REVIEW_STARTS}), self.passed_cases)
        self.expected_counts["publicity_started"] += len(self.passed_cases)
        early = self.http.call("POST", "review", f"/cases/{self.passed_cases[0]}/publication",
                               "bureau", expect=422).json()
        self.expect("REVIEW-PUBLICATION-AFTER-PUBLICITY" in str(early) or
                    "REVIEW-CASE-FLOW" in str(early),
                    f"publication during the post-review notice was not refused: {early}")
        self.clock(POST_REVIEW_OVER)
        self.http.call("POST", "review", "/admin/tick", "operator")
        self.expected_counts["publicity_ended"] += len(self.passed_cases)
        self.clock(PUBLICATION)
        self.parallel(lambda cid: self.http.call(
            "POST", "review", f"/cases/{cid}/publication", "bureau"), self.passed_cases)
        self.expected_counts["result_published"] += len(self.passed_cases)

    def certificates_step(self) -> None:
        self.log("certificates")
        def issue(case_id: str) -> dict[str, Any]:
            # two certificates taking the same serial at once: review asks to retry (409)
            for attempt in range(10):
                r = self.http.call("POST", "review", f"/cases/{case_id}/certificate", "bureau",
                                   expect=(201, 409))
                if r.status_code == 201:
                    return r.json()
                time.sleep(0.05 * (attempt + 1))
            raise SeasonFailed([f"case {case_id}: no certificate after 10 tries: {r.text}"])
        # one at a time: review allocates serials as max + 1 and answers a concurrent clash with
        # 409 (on PostgreSQL parallel issuing kept clashing; see the season's report)
        got = [issue(c) for c in self.passed_cases]
        self.certificates = [g["certificate"]["number"] for g in got]
        self.summary.certificates = len(self.certificates)
        self.expected_counts["certificate_issued"] += len(self.certificates)
        public = self.http.json("GET", "review", f"/certificates/{self.certificates[0]}", None)
        self.expect(public.get("valid") is True, f"a certificate did not verify: {public}")
        number = self.certificates[0]
        wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
        forged = self.http.call("GET", "review", f"/certificates/{wrong}", None, expect=None)
        self.expect(forged.status_code != 200 or forged.json().get("valid") is not True,
                    "a certificate number with a wrong check character verified")
        states = Counter(self.parallel(lambda cid: self.http.json(
            "GET", "review", f"/cases/{cid}", "committee_office")["state"], sorted(self.cases)))
        self.summary.cases_by_state = dict(states)
        want = Counter({"certificate_issued": len(self.passed_cases),
                        "failed": len(self.failed_cases), "withdrawn": 1,
                        "qualification_failed": 1})
        self.expect(states == want, f"cases by state {dict(states)}, expected {dict(want)}")

    def inspection(self) -> None:
        """A spot check (随机抽查) of R22's cases: inspector and supervisor commit, then reveal."""
        self.log("audit spot check")
        self.clock(INSPECTION)
        wait_until(lambda: self._count("case_opened") >= self.expected_counts["case_opened"],
                   self.s.timeout, "audit recorded every case", interval=0.5)
        planned = self.http.json("POST", "audit", "/spot-checks", "inspector",
                                 {"committee_id": "R22", "share": "1/10"}, expect=201)
        sid = planned["inspection_id"]
        own = {p: secrets.token_bytes(32) for p in ("inspector", "supervisor")}
        for party, secret in own.items():
            self.http.call("POST", "audit", f"/spot-checks/{sid}/commitments", party,
                           {"commitment": spot_check_commitment(secret)})
        drawn = None
        for party, secret in own.items():
            drawn = self.http.json("POST", "audit", f"/spot-checks/{sid}/reveals", party,
                                   {"secret": secret.hex()})
        self.expect(drawn is not None and drawn.get("stage") == "drawn"
                    and len(drawn.get("case_ids") or []) == planned["plan"]["sample_size"] > 0,
                    f"the spot check did not draw its sample: {drawn}")
        self.summary.spot_check_sample = list((drawn or {}).get("case_ids") or [])
        if self.summary.spot_check_sample:
            self.http.call("POST", "audit", f"/inspections/{sid}/results", "inspector",
                           {"case_id": self.summary.spot_check_sample[0],
                            "outcome": "compliant"}, expect=(200, 201))

    def _count(self, event_type: str) -> int:
        n, cursor = 0, None
        while True:
            params = {"event_type": event_type, "limit": 500}
            if cursor is not None:
                params["cursor"] = cursor
            page = self.http.json("GET", "audit", "/records", "inspector", params=params)
            n += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return n

    def audit_checks(self, expected_violations: Counter | None = None) -> None:
        """Every expected event is in audit; the violations are exactly those expected (none in
        a clean season); the chain verifies."""
        self.log("audit: events, violations, chain")

        def caught_up():
            missing = {t: (self._count(t), n) for t, n in self.expected_counts.items()}
            missing = {t: v for t, v in missing.items() if v[0] < v[1]}
            return True if not missing else (setattr(self, "_missing", missing) or False)
        try:
            wait_until(caught_up, self.s.timeout, "audit to record every expected event",
                       interval=0.5)
        except SeasonFailed:
            self.problems.append(f"events missing in audit (recorded, expected): "
                                 f"{getattr(self, '_missing', {})}")
        # a case's whole story is one timeline, from intake's submission on
        sample = self.certificates and next(c for c in self.passed_cases)
        if sample:
            timeline = self.http.json("GET", "audit", f"/cases/{sample}/timeline", "inspector",
                                      params={"limit": 500})
            types = [i["event_type"] for i in timeline["items"]]
            for t in ("submission_accepted", "case_opened", "qualification_passed",
                      "publicity_started", "publicity_ended", "materials_frozen",
                      "votes_recorded", "case_decided", "result_published",
                      "certificate_issued"):
                self.expect(t in types, f"case {sample}'s audit timeline lacks {t}")
        self.check_violations(expected_violations or Counter())
        verified = self.http.call("GET", "audit", "/verify", "inspector", expect=None)
        self.summary.audit_chain_verified = verified.status_code == 200 and \
            bool(verified.json().get("intact"))
        self.expect(self.summary.audit_chain_verified,
                    f"audit's chain did not verify: {verified.text[:300]}")
        self.summary.audit_records = int(verified.json().get("records")
                                         or verified.json().get("tree_size") or 0)

    def violations(self) -> list[dict[str, Any]]:
        items, offset = [], 0
        while True:
            page = self.http.json("GET", "audit", "/violations", "inspector",
                                  params={"limit": 500, "offset": offset})["items"]
            items += page
            if len(page) < 500:
                return items
            offset += 500

    def check_violations(self, expected: Counter, settle: float = 1.5) -> None:
        """Wait until audit found at least ``expected`` (rule id → count), let it settle, and
        check it found exactly those."""
        def found():
            got = Counter(v["rule"] for v in self.violations())
            return True if all(got[r] >= n for r, n in expected.items()) else None
        try:
            wait_until(found, self.s.timeout, f"audit to find {dict(expected)}", interval=0.5)
        except SeasonFailed as exc:
            self.problems.extend(exc.problems)
        time.sleep(settle)
        got = Counter(v["rule"] for v in self.violations())
        self.summary.violations = dict(got)
        self.summary.expected_violations = dict(expected)
        self.expect(got == expected, f"audit found violations {dict(got)}, expected "
                                     f"{dict(expected) or 'none'}: "
                                     f"{[v['detail'] for v in self.violations()][:5]}")


def run_season(settings: SeasonSettings) -> SeasonSummary:
    return Season(settings).run()


__all__ = ["Season", "SeasonSettings", "SeasonSummary", "SeasonFailed", "RogueProducer",
           "EventTap", "run_season"]
