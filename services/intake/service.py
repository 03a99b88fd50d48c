"""The intake service: nameko entrypoints only (load, call a handler, dump).

HTTP:
  GET  /plans/<year>                                 the year's review plan (public)
  PUT  /plans/<year>                                 load a draft plan document (bureau)
  POST /plans/<year>/publish                         publish the plan (bureau)
  POST /plans/<year>/committees/<code>/deadline      move a material deadline (bureau)
  POST /submissions                                  an application from the portal (portal)
  GET  /submissions/<portal_id>                      the answer given to it
  POST /archives/attempts                            a review attempt into 业绩档案
  GET  /archives/<applicant_key>                     an applicant's performance archive
AMQP:
  intake.submissions                                 the portal's durable queue; answers are the
                                                     submission_accepted / _rejected events
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.intake import handlers, models
from services.intake.plan import PLANS_DIR
from services.intake.schemas import (APPLICATION_SCHEMA, ATTEMPT_SCHEMA, DEADLINE_CHANGE_SCHEMA)
from shared.clock import CHINA
from shared.errors import InvalidInput, RuleRefused
from shared.events import CATALOGUE
from shared.config import consumer_batch_size
from shared.messaging import PORTAL_SUBMISSIONS_QUEUE, consume_events, consume_json_batches
from shared.platform import Database, ServiceBase
from shared.refusals import record_refusal
from shared.schemas import load
from shared.web import PUBLIC, http, read_json

APPLICATIONS = ("intake_applications", "Applications by outcome (accepted, rejected, replayed, "
                "invalid), path and channel", ["outcome", "path", "channel"])
VIOLATIONS = ("intake_rule_violations", "Rule violations in rejected applications, by rule id",
              ["rule"])
KNOWN_PATHS = {"review", "recommendation", "initial_determination", "recognition"}


def read_portal_message(body: Any) -> dict[str, Any]:
    """Queue reader: a malformed application raises InvalidInput and is dead-lettered unread."""
    app = load(APPLICATION_SCHEMA, body, what="application")
    return {"application": app, "hash": handlers.request_hash(body)}


def _consumes(event_type: str) -> bool:
    return event_type in CATALOGUE.types and "intake" in CATALOGUE.get(event_type).consumers


class IntakeService(ServiceBase):
    name = "intake"
    db = Database(models.metadata)

    # -- helpers -----------------------------------------------------------------------------
    @property
    def _plans_dir(self) -> Path:
        return Path(self.config.get("PLANS_DIR") or PLANS_DIR)

    @property
    def _person_key(self) -> bytes | None:
        """The platform's applicant-pseudonym key (ZHICHENG_PERSON_KEY; tests may set
        PERSON_KEY in the container config)."""
        explicit = self.config.get("PERSON_KEY")
        return str(explicit).encode() if explicit else None

    def _count(self, outcome: str, path: str, channel: str, rules: list[str] = ()) -> None:
        m = self.metrics
        path = path if path in KNOWN_PATHS else "unknown"
        m.counter(*APPLICATIONS).labels(m.service, outcome, path, channel).inc()
        for rule in rules:
            m.counter(*VIOLATIONS).labels(m.service, rule).inc()

    def _submit(self, app, raw_hash: str, channel: str) -> handlers.SubmissionAnswer:
        for attempt in range(2):
            try:
                with self.db.unit_of_work() as uow:
                    answer = handlers.submit(uow, app, raw_hash=raw_hash, channel=channel,
                                             now=self.clock.now(),
                                             applicant_secret=self._person_key)
                    if not answer.replayed:
                        uow.commit()
                break
            except IntegrityError:
                # the same portal id committed concurrently: the second pass reads its answer
                if attempt:
                    raise
        self._count_answer(answer, app.path, channel)
        return answer

    def _count_answer(self, answer: handlers.SubmissionAnswer, path: str, channel: str) -> None:
        if answer.replayed:
            self._count("replayed", path, channel)
        else:
            self._count(answer.body["status"], path, channel, answer.body["rules"])

    # -- plans -------------------------------------------------------------------------------
    @http("GET", "/plans/<int:year>", roles=PUBLIC)
    def get_plan(self, request, year: int):
        """The year's review plan: committees, titles, specialties, scopes, months, contacts."""
        with self.db.unit_of_work() as uow:
            return handlers.show_plan(uow, year, self._plans_dir)

    @http("PUT", "/plans/<int:year>", roles=("bureau",))
    def put_plan(self, request, year: int):
        """Load another year's plan document as a draft (bureau)."""
        self.auth.require(request, "bureau")
        document = read_json(request, what="plan document")
        with self.db.unit_of_work() as uow:
            out = handlers.load_plan_document(uow, year, document, self.clock.now())
            uow.commit()
        return 201, out

    @http("POST", "/plans/<int:year>/publish", roles=("bureau",))
    def publish_plan(self, request, year: int):
        """draft → published: deadlines frozen from now on (bureau)."""
        self.auth.require(request, "bureau")
        with self.db.unit_of_work() as uow:
            out = handlers.publish_plan(uow, year, self.clock.now(), self._plans_dir)
            uow.commit()
        return out

    @http("POST", "/plans/<int:year>/committees/<code>/deadline", roles=("bureau",))
    def change_deadline(self, request, year: int, code: str):
        """Move a committee's material deadline; after publication only with a special approval."""
        principal = self.auth.require(request, "bureau")
        body = read_json(request, DEADLINE_CHANGE_SCHEMA, what="deadline change")
        try:
            with self.db.unit_of_work() as uow:
                out = handlers.change_deadline(uow, year, code, body["new_deadline"],
                                               body.get("approval"), self.clock.now(),
                                               principal.subject, self._plans_dir)
                uow.commit()
        except RuleRefused as refused:  # the attempt is on record (shared/refusals.py)
            record_refusal(self.db, "plan_deadline_change_refused", refused,
                           now=self.clock.now(), by=principal.subject, year=year,
                           committee_code=code, new_deadline=body["new_deadline"].isoformat())
            raise
        return out

    # -- submissions -------------------------------------------------------------------------
    @http("POST", "/submissions", roles=("portal",))
    def post_submission(self, request):
        """An application from the portal; the answer is synchronous (idempotent on portal_id)."""
        self.auth.require(request, "portal")
        raw = read_json(request, what="application")
        try:
            app = load(APPLICATION_SCHEMA, raw, what="application")
        except InvalidInput:
            path = raw.get("path") if isinstance(raw, dict) else None
            self._count("invalid", path if isinstance(path, str) else "unknown", "http")
            raise
        answer = self._submit(app, handlers.request_hash(raw), "http")
        if not answer.accepted:
            raise answer.refusal()
        return (200 if answer.replayed else 201), {**answer.body, "replayed": answer.replayed}

    @http("GET", "/submissions/<portal_id>", roles=("portal", "committee_office", "bureau"))
    def get_submission(self, request, portal_id: str):
        self.auth.require(request, "portal", "committee_office", "bureau")
        with self.db.unit_of_work() as uow:
            return handlers.stored_answer(uow, portal_id)

    @consume_json_batches(PORTAL_SUBMISSIONS_QUEUE, reader=read_portal_message,
                          batch_size=consumer_batch_size())
    def consume_submissions(self, messages: list[dict[str, Any]]):
        """Applications from the portal's durable queue, a batch per transaction; answered by
        events."""
        if len(messages) == 1:
            self._submit(messages[0]["application"], messages[0]["hash"], "amqp")
            return
        with self.db.unit_of_work() as uow:
            answers = handlers.submit_batch(
                uow, [(m["application"], m["hash"]) for m in messages], channel="amqp",
                now=self.clock.now(), applicant_secret=self._person_key)
            uow.commit()
        for message, answer in zip(messages, answers):
            self._count_answer(answer, message["application"].path, "amqp")

    # -- performance archive -----------------------------------------------------------------
    @http("POST", "/archives/attempts", roles=("committee_office", "bureau"))
    def post_attempt(self, request):
        """A review attempt and its outcome into the performance archive (committee office)."""
        principal = self.auth.require(request, "committee_office", "bureau")
        body = read_json(request, ATTEMPT_SCHEMA, what="attempt")
        with self.db.unit_of_work() as uow:
            out = handlers.record_attempt(uow, source=f"http:{principal.subject}"[:64], **body)
            uow.commit()
        return (201 if out["recorded"] else 200), out

    @http("GET", "/archives/<applicant_key>", roles=("committee_office", "bureau"))
    def get_archive(self, request, applicant_key: str):
        self.auth.require(request, "committee_office", "bureau")
        with self.db.unit_of_work() as uow:
            return handlers.archive_of(uow, applicant_key)

    if _consumes("applicant_failed") or _consumes("materials_frozen"):
        @consume_events("intake.inbox")
        def on_review_event(self, envelope: dict[str, Any]):
            """review's applicant_failed enters the archive (三(二) 新增业绩); materials_frozen is
            recorded on the submission (三(三) 不再补充). Each event once."""
            kind = envelope["event_type"]
            p = envelope["payload"]
            with self.db.unit_of_work() as uow:
                uow.caused_by(envelope)
                if not uow.claim(envelope):
                    return
                if kind == "applicant_failed":
                    decided = datetime.fromisoformat(p["at"]).astimezone(CHINA).date()
                    handlers.record_attempt(
                        uow, applicant_key=p["applicant_key"], year=int(p["year"]),
                        committee_code=p["committee_id"], title=p["title"], outcome="failed",
                        decided_on=decided, source=envelope["event_id"])
                elif kind == "materials_frozen":
                    handlers.materials_frozen(
                        uow, submission_id=p["submission_id"], meeting_id=p.get("meeting_id"),
                        at=datetime.fromisoformat(str(p["at"])).astimezone(CHINA))
                uow.commit()
