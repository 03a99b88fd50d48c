"""The review service (评审, port 8002): nameko entrypoints only (load, call a handler, dump).

Roles: the committee office (``committee_office``) reviews qualification, runs the public notices
and objections, schedules meetings and records votes; the bureau (``bureau``) publishes results,
issues certificates and forwards recommendations. A token scoped to committees acts only for
those. ``GET /certificates/<number>`` is public and shows only title, specialty, committee and
date. Public notices end by the clock: a timer every ``REVIEW_TICK_SECONDS`` (default 60) and
``POST /admin/tick`` for operators and demos.
"""
from __future__ import annotations

import logging
import os

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from shared.auth import Principal
from shared.config import consumer_batch_size
from shared.errors import Conflict, RuleRefused, ZhichengError
from shared.messaging import consume_event_batches, inbox_queue_name
from shared.platform import Database, ServiceBase
from shared.refusals import record_refusal
from shared.web import PUBLIC, http, query_int, read_json

from services.review import handlers, models, schemas
from services.review.policy import load_policy
from services.review.rules import ReviewPolicy

log = logging.getLogger(__name__)

OFFICE = "committee_office"
BUREAU = "bureau"
READERS = (OFFICE, BUREAU, "inspector")
ANYONE = Principal(subject="review", roles=frozenset({OFFICE}))  # reads a case's committee
TICK_SECONDS = float(os.environ.get("REVIEW_TICK_SECONDS", "60"))


class Policy(DependencyProvider):
    """The review policy: policy.yaml and REVIEW_* variables; ``REVIEW_POLICY`` in the container
    config (a ReviewPolicy) replaces it in tests."""

    def setup(self) -> None:
        given = self.container.config.get("REVIEW_POLICY")
        self.policy: ReviewPolicy = given if isinstance(given, ReviewPolicy) else load_policy()

    def get_dependency(self, worker_ctx) -> ReviewPolicy:
        return self.policy


class ReviewService(ServiceBase):
    name = "review"
    db = Database(models.metadata)
    policy = Policy()

    # --- events from other services ----------------------------------------------------------

    @consume_event_batches(inbox_queue_name("review"), batch_size=consumer_batch_size())
    def consume(self, envelopes):
        """intake's submission_accepted opens a case; experts' panel_drawn seats a panel.
        A batch in one transaction; each event once."""
        with self.db.unit_of_work() as uow:
            handlers.handle_inbox(uow, envelopes, self.clock.now())
            uow.commit()

    # --- the clock ---------------------------------------------------------------------------

    @timer(interval=TICK_SECONDS)
    def publicity_clock(self):
        self._tick()

    @http("POST", "/admin/tick", roles=("operator", OFFICE, BUREAU))
    def tick(self, request):
        """End every public notice whose window is over by the service clock (and not held)."""
        self.auth.require(request, "operator", OFFICE, BUREAU)
        return self._tick()

    def _tick(self) -> dict:
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            due = handlers.due_publicities(uow, now)
        ended = []
        for case_id in due:
            try:
                with self.db.unit_of_work() as uow:
                    case = handlers.end_publicity(uow, case_id, now)
                    uow.commit()
            except Conflict:
                continue  # another worker moved it meanwhile: the next tick looks again
            if case is not None:
                ended.append({"case_id": case.case_id, "state": case.state.value})
        return {"now": now.isoformat(), "ended": ended}

    # --- reading -----------------------------------------------------------------------------

    @http("GET", "/cases", roles=READERS)
    def list_cases(self, request):
        principal = self.auth.require(request, *READERS)
        limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
        offset = query_int(request, "offset", 0, maximum=10**9)
        with self.db.unit_of_work() as uow:
            items = handlers.list_cases(
                uow, principal=principal, submission_id=request.args.get("submission_id"),
                state=request.args.get("state") or None,
                committee_id=request.args.get("committee_id") or None, limit=limit,
                offset=offset)
        return {"items": [schemas.case_view(c) for c in items]}

    @http("GET", "/cases/<string:case_id>", roles=READERS)
    def get_case(self, request, case_id):
        principal = self.auth.require(request, *READERS)
        with self.db.unit_of_work() as uow:
            case = handlers.get_case(uow, case_id, principal=principal)
        return schemas.case_view(case)

    @http("GET", "/meetings/<string:meeting_id>", roles=READERS)
    def get_meeting(self, request, meeting_id):
        principal = self.auth.require(request, *READERS)
        with self.db.unit_of_work() as uow:
            meeting, tallies = handlers.get_meeting(uow, meeting_id, principal=principal)
        return schemas.meeting_view(meeting, tallies)

    @http("GET", "/failed-applicants", roles=(BUREAU, OFFICE, "inspector"))
    def failed_applicants(self, request):
        """Who failed review in a year (pseudonymous keys), for next year's new-achievements
        check (三(二)); intake also receives each as ``applicant_failed``."""
        self.auth.require(request, BUREAU, OFFICE, "inspector")
        year = query_int(request, "year", self.clock.today().year, minimum=2000, maximum=2100)
        with self.db.unit_of_work() as uow:
            items = handlers.failed_applicants(uow, year)
        return {"year": year, "items": items}

    @http("GET", "/certificates/<string:number>", roles=PUBLIC)
    def verify_certificate(self, request, number):
        """Public: is this a certificate we issued? Title, specialty, committee and date only."""
        with self.db.unit_of_work() as uow:
            return handlers.verify_certificate(uow, number)

    # --- committee office ----------------------------------------------------------------------

    def _office_move(self, request, fn, schema=None, roles=(OFFICE,), status=200,
                     on_refused=None, **kwargs):
        principal = self.auth.require(request, *roles)
        body = read_json(request, schema) if schema is not None else {}
        try:
            with self.db.unit_of_work() as uow:
                result = fn(uow, principal=principal, now=self.clock.now(), body=body, **kwargs)
                uow.commit()
        except RuleRefused as refused:
            # by rule id only: never a case, person or free text in a label
            counter = self.metrics.counter("zhicheng_review_refusals_total",
                                           "Moves refused by a rule, by rule id", ["rule"])
            for violation in refused.violations:
                counter.labels(self.metrics.service, violation.rule.id).inc()
            if on_refused is not None and principal.has(OFFICE):
                # an official's refused attempt is on record, in a unit of work of its own
                event_type, payload = on_refused(body, **kwargs)
                record_refusal(self.db, event_type, refused, now=self.clock.now(),
                               by=principal.subject, **payload)
            raise
        self._count_moves(fn.__qualname__.split(".")[1] if "." in fn.__qualname__ else "move")
        return status, result

    def _count_moves(self, move: str) -> None:
        self.metrics.counter("zhicheng_review_moves_total", "Moves made, by endpoint",
                             ["move"]).labels(self.metrics.service, move).inc()

    @http("POST", "/cases/<string:case_id>/qualification", roles=(OFFICE,))
    def qualification(self, request, case_id):
        def run(uow, principal, now, body, case_id):
            case = handlers.record_qualification(uow, case_id, passed=body["outcome"] == "passed",
                                                 reasons=body["reasons"], principal=principal,
                                                 now=now)
            return schemas.case_view(case)
        return self._office_move(request, run, schemas.QualificationRequest(), case_id=case_id)

    @http("POST", "/cases/<string:case_id>/publicity", roles=(OFFICE,))
    def publicity(self, request, case_id):
        def run(uow, principal, now, body, case_id):
            return schemas.case_view(handlers.start_publicity(
                uow, case_id, starts_on=body["starts_on"], working_days=body["working_days"],
                policy=self.policy, principal=principal, now=now))
        return self._office_move(request, run, schemas.PublicityRequest(), case_id=case_id)

    @http("POST", "/publicity", roles=(OFFICE,))
    def publicity_list(self, request):
        """One notice for a list of cases (公示名单): all start or none, every refusal listed."""
        def run(uow, principal, now, body):
            started = handlers.start_publicity_list(
                uow, body["case_ids"], starts_on=body["starts_on"],
                working_days=body["working_days"], policy=self.policy, principal=principal,
                now=now)
            return {"items": [schemas.case_view(c) for c in started]}
        return self._office_move(request, run, schemas.PublicityListRequest())

    @http("POST", "/cases/<string:case_id>/objections", roles=(OFFICE, "portal"))
    def objection(self, request, case_id):
        """An objection (异议) received during a notice: from the office or relayed by the portal."""
        def run(uow, principal, now, body, case_id):
            case, objection_id = handlers.file_objection(uow, case_id, grounds=body["grounds"],
                                                         principal=principal, now=now)
            return {"objection_id": objection_id, "case": schemas.case_view(case)}
        return self._office_move(request, run, schemas.ObjectionRequest(),
                                 roles=(OFFICE, "portal"), status=201, case_id=case_id)

    @http("POST", "/cases/<string:case_id>/objections/<string:objection_id>/resolution",
          roles=(OFFICE,))
    def objection_resolution(self, request, case_id, objection_id):
        def run(uow, principal, now, body, case_id):
            return schemas.case_view(handlers.resolve_objection(
                uow, case_id, objection_id, resolution=body["resolution"], reason=body["reason"],
                principal=principal, now=now))
        return self._office_move(request, run, schemas.ObjectionResolutionRequest(),
                                 case_id=case_id)

    @http("POST", "/cases/<string:case_id>/materials", roles=(OFFICE, "portal"))
    def materials(self, request, case_id):
        """Supplemented materials (补充材料); refused once the case is on a docket (三(三))."""
        def run(uow, principal, now, body, case_id):
            return schemas.case_view(handlers.supplement_materials(
                uow, case_id, document_kinds=body["document_kinds"], principal=principal,
                now=now))
        def refused(body, case_id):
            return "materials_supplement_refused", {
                "case_id": case_id, "committee_id": self._committee_of(case_id),
                "document_kinds": list(body["document_kinds"])}
        return self._office_move(request, run, schemas.MaterialsRequest(),
                                 roles=(OFFICE, "portal"), on_refused=refused, case_id=case_id)

    @http("POST", "/meetings", roles=(OFFICE,))
    def schedule_meeting(self, request):
        def run(uow, principal, now, body):
            meeting = handlers.schedule_meeting(
                uow, committee_id=body["committee_id"], starts_at=body["starts_at"],
                case_ids=body["case_ids"], panel_size=body["panel_size"], principal=principal,
                now=now)
            return schemas.meeting_view(meeting)
        def refused(body):
            return "meeting_scheduling_refused", {
                "committee_id": body["committee_id"], "starts_at": body["starts_at"].isoformat(),
                "case_ids": list(body["case_ids"])}
        return self._office_move(request, run, schemas.MeetingRequest(), status=201,
                                 on_refused=refused)

    def _committee_of(self, case_id: str) -> str | None:
        try:
            with self.db.unit_of_work() as uow:
                return handlers.get_case(uow, case_id, principal=ANYONE).committee_id
        except ZhichengError:
            return None

    @http("POST", "/meetings/<string:meeting_id>/votes", roles=(OFFICE,))
    def votes(self, request, meeting_id):
        """The anonymous tally on one case of the docket, with the attendance."""
        def run(uow, principal, now, body, meeting_id):
            return schemas.case_view(handlers.record_votes(
                uow, meeting_id, case_id=body["case_id"], present=body["present"],
                yes=body["yes"], no=body["no"], abstain=body["abstain"], policy=self.policy,
                principal=principal, now=now))
        return self._office_move(request, run, schemas.VotesRequest(), meeting_id=meeting_id)

    # --- bureau --------------------------------------------------------------------------------

    @http("POST", "/cases/<string:case_id>/publication", roles=(BUREAU,))
    def publication(self, request, case_id):
        def run(uow, principal, now, body, case_id):
            return schemas.case_view(handlers.publish_result(uow, case_id, principal=principal,
                                                             now=now))
        return self._office_move(request, run, roles=(BUREAU,), case_id=case_id)

    @http("POST", "/cases/<string:case_id>/certificate", roles=(BUREAU,))
    def certificate(self, request, case_id):
        def run(uow, principal, now, body, case_id):
            case, cert = handlers.issue_certificate(uow, case_id, policy=self.policy,
                                                    principal=principal, now=now)
            return {"certificate": cert.public_view(), "case": schemas.case_view(case)}
        return self._office_move(request, run, roles=(BUREAU,), status=201, case_id=case_id)

    @http("POST", "/cases/<string:case_id>/forwarding", roles=(BUREAU,))
    def forwarding(self, request, case_id):
        def run(uow, principal, now, body, case_id):
            return schemas.case_view(handlers.forward_recommendation(
                uow, case_id, forwarded_to=body["forwarded_to"], principal=principal, now=now))
        return self._office_move(request, run, schemas.ForwardRequest(), roles=(BUREAU,),
                                 case_id=case_id)
