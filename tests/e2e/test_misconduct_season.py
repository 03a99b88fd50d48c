"""A season with injected misconduct, caught by audit two ways, and nothing else raised:

(a) the officials try each act through the services: each is refused (prevention), and the
    refusing service records the attempt in a unit of work of its own (``*_refused``,
    shared/refusals.py), which audit's monitors report;
(b) the same acts, published as well-formed events by a rogue producer straight onto the
    service's exchange (bypassing its guards, as a buggy or compromised producer could), are
    caught by audit's monitors from the events themselves.

- a meeting before its cases' pre-review publicity ended  → AUDIT-PRE-REVIEW-PUBLICITY
- a fourth emergency draw on a panel of 11 (cap 30%: 3)   → AUDIT-EMERGENCY-DRAW
- a plan deadline changed after publication, no approval  → AUDIT-PLAN-DEADLINE
- materials supplemented after the case was frozen        → AUDIT-MATERIALS-FROZEN
"""
from collections import Counter

from shared.simulation.season import (
    MEETING_STARTS, OBJECTIONS, VOTING, RogueProducer, Season, SeasonFailed, at,
)
from tests.e2e.test_clean_season import season_settings

# (rule, how it was caught): refused attempts, rogue events
EXPECTED_BY_SOURCE = Counter({
    ("AUDIT-PRE-REVIEW-PUBLICITY", "refused"): 1, ("AUDIT-PRE-REVIEW-PUBLICITY", "rogue"): 1,
    # the fourth seat's approval, and a draw with no approval at all
    ("AUDIT-EMERGENCY-DRAW", "refused"): 2, ("AUDIT-EMERGENCY-DRAW", "rogue"): 1,
    ("AUDIT-PLAN-DEADLINE", "refused"): 1, ("AUDIT-PLAN-DEADLINE", "rogue"): 1,
    ("AUDIT-MATERIALS-FROZEN", "refused"): 1, ("AUDIT-MATERIALS-FROZEN", "rogue"): 1,
})
EXPECTED = Counter()
for (rule, _source), n in EXPECTED_BY_SOURCE.items():
    EXPECTED[rule] += n


def refused_by(response, rule: str) -> bool:
    return response.status_code == 422 and rule in response.text


class MisconductSeason(Season):
    """The clean season's steps, with each act of misconduct tried against the service (it must
    be refused, and a refusal is no violation) and then injected as a rogue event."""

    def run_with_misconduct(self):
        self.prevented: dict[str, bool] = {}
        self.rogue_event_ids: set[str] = set()
        self.form_pools()
        self.publish_plan()  # the bureau tries an unapproved deadline change (refused)
        self.prevented["deadline without approval"] = not any(
            "INTAKE-PLAN-DEADLINE-FROZEN" in p for p in self.problems)
        self.change_pools()
        self.applications()
        self.qualification()
        self.start_pre_review()
        # a meeting while the pre-review notice runs
        self.early_case = self.qualified[2]
        early = self.http.call("POST", "review", "/meetings", "committee_office", {
            "committee_id": self.cases[self.early_case]["committee_id"],
            "starts_at": at(2023, 8, 18).isoformat(), "case_ids": [self.early_case],
            "panel_size": 9}, expect=None)
        self.prevented["meeting before publicity ended"] = refused_by(
            early, "REVIEW-MEETING-AFTER-PUBLICITY")
        self.end_pre_review()
        self.meetings_and_draws()
        # a fourth emergency seat on R22's panel of 11
        fourth = self.http.call("POST", "experts",
                                f"/meetings/{self.meetings['R22']}/emergency-approvals",
                                "bureau", {"seats": 1, "reason": "又一名评委缺席"}, expect=None)
        self.prevented["fourth emergency draw"] = refused_by(fourth, "EXPERTS-EMERGENCY-CAP")
        unapproved = self.http.call("POST", "experts",
                                    f"/meetings/{self.meetings['R22']}/emergency-draws",
                                    "committee_office", {"seats": 1}, expect=None)
        self.prevented["emergency draw without approval"] = unapproved.status_code == 422
        # materials after the freeze
        self.frozen_case = self.docket_of("R22")[0]
        late = self.http.call("POST", "review", f"/cases/{self.frozen_case}/materials",
                              "committee_office",
                              {"document_kinds": ["performance_materials"]}, expect=None)
        self.prevented["materials after freeze"] = refused_by(late, "REVIEW-MATERIALS-FROZEN")
        self.votes()
        self.post_review_and_publication()
        self.certificates_step()
        self.rogue()
        self.audit_checks(EXPECTED)
        self.caught = Counter()
        for v in self.violations():
            record = self.http.json("GET", "audit", f"/records/{v['position']}", "inspector")
            source = ("rogue" if v["event_id"] in self.rogue_event_ids else
                      "refused" if record["event_type"].endswith("_refused") else
                      record["event_type"])
            self.caught[(v["rule"], source)] += 1
        self.pool.shutdown(wait=False)
        return self.problems

    def sent(self, rogue, *args):
        self.rogue_event_ids.add(rogue.publish(*args)["event_id"])

    def rogue(self) -> None:
        """The same four acts as events published straight onto the services' exchanges."""
        rogue = RogueProducer(self.s.amqp_uri)
        try:
            case = self.cases[self.early_case]
            self.sent(rogue,"review", "meeting_scheduled", {
                "meeting_id": "rogue-meeting", "committee_id": case["committee_id"],
                "starts_at": at(2023, 8, 18).isoformat(), "at": OBJECTIONS.isoformat(),
                "panel_size": 9, "case_ids": [self.early_case],
                "submission_ids": [case["submission_id"]]}, OBJECTIONS)
            meeting = self.meetings["R22"]
            regular = next(r["round_id"] for r in self.http.json(
                "GET", "experts", f"/meetings/{meeting}/panel", "committee_office")["rounds"]
                if r["kind"] == "regular")
            self.sent(rogue,"experts", "emergency_draw_approved", {
                "approval_id": "AP-rogue", "meeting_id": meeting, "seats": 1,
                "approved_by": "rogue", "approved_at": MEETING_STARTS.isoformat(),
                "reason": "无"}, at(2023, 9, 4))
            self.sent(rogue,"experts", "emergency_panel_drawn", {
                "round_id": "R-rogue", "meeting_id": meeting, "panel_size": 1,
                "committee_id": "R22", "parent_round_id": regular, "approval_id": "AP-rogue",
                "seats": 1, "drawn_at": at(2023, 9, 4, 10).isoformat()}, at(2023, 9, 4, 10))
            self.sent(rogue,"intake", "plan_deadline_changed", {
                "year": 2023, "committee_code": "R22", "old_deadline": "2023-08-31",
                "new_deadline": "2023-09-30", "changed_at": VOTING.isoformat(),
                "plan_state": "published", "approval": None}, VOTING)
            frozen = self.cases[self.frozen_case]
            self.sent(rogue,"review", "materials_supplemented", {
                "case_id": self.frozen_case, "submission_id": frozen["submission_id"],
                "committee_id": "R22", "at": VOTING.isoformat(),
                "document_kinds": ["performance_materials"]}, VOTING)
        finally:
            rogue.close()


def test_audit_raises_exactly_the_injected_misconduct_and_the_services_refuse_it(
        platform, platform_env):
    season = MisconductSeason(season_settings(
        platform, platform_env, applications=45, panel_sizes={"R22": 11, "D01": 9, "D02": 9},
        emergency_draws={"R22": 3}))
    try:
        problems = season.run_with_misconduct()
    except SeasonFailed as exc:
        problems = exc.problems

    assert season.prevented == {k: True for k in season.prevented} and len(season.prevented) == 5
    assert problems == [], "\n".join(problems)
    assert Counter(season.summary.violations) == EXPECTED
    assert season.caught == EXPECTED_BY_SOURCE
    assert season.summary.emergency_draws == 3
    assert season.summary.audit_chain_verified
