"""The experts service: nameko entrypoints only (load, call a handler, dump).

HTTP on 8003 (roles in brackets):

- ``POST /committees`` [bureau]; ``GET /committees/<id>/pool-report`` [bureau, committee_office,
  inspector]
- ``POST /experts`` [committee_office] (pool being formed only); ``GET /experts/<id>``
- ``POST /committees/<id>/change-requests`` [committee_office];
  ``GET /change-requests?status=`` [bureau, committee_office];
  ``POST /change-requests/<id>/approve|reject`` [bureau] (备案同意)
- ``POST /experts/<id>/discipline`` [committee_office, bureau]
- ``POST /panel-requests`` [committee_office] (also the ``panel_requested`` event and the
  ``experts.request_panel`` RPC)
- ``GET /draws/<round>``; ``POST /draws/<round>/commitments|reveals`` [the party's role];
  ``POST /draws/<round>/beacon`` [bureau]; ``POST /draws/<round>/finalize`` [committee_office,
  bureau]; ``GET /draws/<round>/receipt`` (sealed); ``POST /draws/<round>/abandon`` [bureau]
  (a party never revealed) then ``POST /meetings/<id>/redraw`` [committee_office]
- ``GET /meetings/<id>/panel`` (sealed: committee_office only until the meeting starts)
- ``POST /meetings/<id>/emergency-approvals`` [bureau];
  ``POST /meetings/<id>/emergency-draws`` [committee_office]
- ``POST /admin/sweep`` [operator, bureau]: expire terms, unseal started meetings (a timer does
  it every few seconds too)
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from datetime import date
from typing import Any

import yaml
from marshmallow import EXCLUDE
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer

from services.experts import handlers, models, schemas
from services.experts.handlers import Actor
from services.experts.rules import ExpertsPolicy, policy_from_mapping
from shared.errors import Forbidden, InvalidInput, RuleRefused, ZhichengError
from shared.messaging import consume_events, inbox_queue_name
from shared.platform import Database, ServiceBase
from shared.refusals import record_refusal
from shared.schemas import load
from shared.web import http, read_json

log = logging.getLogger(__name__)

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.yaml")
READERS = ("committee_office", "bureau", "supervisor", "inspector")
OFFICE_BUREAU_INSPECTOR = ("committee_office", "bureau", "inspector")
# roles that may be configured as draw parties; the handler checks the round's actual parties
PARTY_ROLES = ("committee_office", "supervisor", "bureau", "inspector")


class ExpertsSettings:
    def __init__(self, policy: ExpertsPolicy, parties: tuple[str, ...]) -> None:
        self.policy = policy
        self.parties = parties


class Settings(DependencyProvider):
    """The experts policy (numbers from regulation) and the draw parties, from configuration:
    ``EXPERTS_POLICY`` (a mapping) or the YAML file named by ``ZHICHENG_EXPERTS_POLICY_FILE``;
    ``EXPERTS_DRAW_PARTIES`` / ``ZHICHENG_EXPERTS_DRAW_PARTIES`` (comma-separated roles)."""

    def setup(self) -> None:
        config = self.container.config
        data = config.get("EXPERTS_POLICY")
        path = os.environ.get("ZHICHENG_EXPERTS_POLICY_FILE") or str(DEFAULT_POLICY_FILE)
        if data is None:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        parties = config.get("EXPERTS_DRAW_PARTIES") or os.environ.get(
            "ZHICHENG_EXPERTS_DRAW_PARTIES") or ",".join(handlers.DEFAULT_PARTIES)
        if isinstance(parties, str):
            parties = [p.strip() for p in parties.split(",") if p.strip()]
        unknown = [p for p in parties if p not in PARTY_ROLES]
        if unknown or len(set(parties)) < 2:
            raise RuntimeError(f"draw parties must be at least two of {PARTY_ROLES}")
        self.settings = ExpertsSettings(policy_from_mapping(data), tuple(parties))

    def get_dependency(self, worker_ctx) -> ExpertsSettings:
        return self.settings


class _EventPanelRequest(schemas.PanelRequestIn):
    class Meta:
        unknown = EXCLUDE


EVENT_PANEL_REQUEST = _EventPanelRequest()


class ExpertsService(ServiceBase):
    name = "experts"
    db = Database(models.metadata)
    settings = Settings()

    # -- helpers ---------------------------------------------------------------------------------
    def _actor(self, request, *roles: str) -> Actor:
        p = self.auth.require(request, *roles)
        return Actor(subject=p.subject, roles=frozenset(p.roles), committees=p.committees)

    @property
    def _policy(self) -> ExpertsPolicy:
        return self.settings.policy

    # -- committees and the pool -----------------------------------------------------------------
    @http("POST", "/committees", roles=("bureau",))
    def create_committee(self, request):
        self._actor(request, "bureau")
        data = read_json(request, schemas.COMMITTEE_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.create_committee(uow, data, now=self.clock.now())
            uow.commit()
        return 201, out

    @http("GET", "/committees/<committee_id>/pool-report", roles=OFFICE_BUREAU_INSPECTOR)
    def pool_report(self, request, committee_id):
        actor = self._actor(request, "bureau", "committee_office", "inspector")
        if not actor.may_act_for(committee_id):
            raise Forbidden("this token is limited to other committees")
        day_text = request.args.get("day")
        try:
            day = date.fromisoformat(day_text) if day_text else self.clock.today()
        except ValueError:
            raise InvalidInput("day must be an ISO date") from None
        with self.db.unit_of_work() as uow:
            return handlers.pool_report(uow, committee_id, day=day, policy=self._policy)

    @http("POST", "/experts", roles=("committee_office",))
    def register_expert(self, request):
        actor = self._actor(request, "committee_office")
        data = read_json(request, schemas.REGISTER_EXPERT_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.register_expert(uow, data, actor=actor, now=self.clock.now(),
                                           policy=self._policy)
            uow.commit()
        return 201, out

    @http("GET", "/experts/<expert_id>", roles=OFFICE_BUREAU_INSPECTOR)
    def get_expert(self, request, expert_id):
        actor = self._actor(request, "committee_office", "bureau", "inspector")
        with self.db.unit_of_work() as uow:
            return handlers.get_expert(uow, expert_id, actor=actor, today=self.clock.today())

    @http("POST", "/committees/<committee_id>/change-requests", roles=("committee_office",))
    def file_change_request(self, request, committee_id):
        actor = self._actor(request, "committee_office")
        data = read_json(request, schemas.CHANGE_REQUEST_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.file_change_request(uow, committee_id, data, actor=actor,
                                               now=self.clock.now(), policy=self._policy)
            uow.commit()
        return 201, out

    @http("GET", "/change-requests", roles=("bureau", "committee_office"))
    def list_change_requests(self, request):
        actor = self._actor(request, "bureau", "committee_office")
        status = request.args.get("status") or None
        if status not in (None, "pending", "approved", "rejected"):
            raise InvalidInput("status is pending, approved or rejected")
        with self.db.unit_of_work() as uow:
            return {"items": handlers.list_change_requests(uow, status=status, actor=actor)}

    def _decide(self, request, request_id: str, approve: bool):
        actor = self._actor(request, "bureau")
        data = read_json(request, schemas.DECISION_IN) if request.get_data() else {}
        with self.db.unit_of_work() as uow:
            out = handlers.decide_change_request(uow, request_id, approve=approve, actor=actor,
                                                 now=self.clock.now(), note=data.get("note"),
                                                 policy=self._policy)
            uow.commit()
        return out

    @http("POST", "/change-requests/<request_id>/approve", roles=("bureau",))
    def approve_change(self, request, request_id):
        return self._decide(request, request_id, True)

    @http("POST", "/change-requests/<request_id>/reject", roles=("bureau",))
    def reject_change(self, request, request_id):
        return self._decide(request, request_id, False)

    @http("POST", "/experts/<expert_id>/discipline", roles=("committee_office", "bureau"))
    def discipline(self, request, expert_id):
        actor = self._actor(request, "committee_office", "bureau")
        data = read_json(request, schemas.DISCIPLINE_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.discipline_expert(uow, expert_id, data, actor=actor,
                                             now=self.clock.now())
            uow.commit()
        return 201, out

    # -- panel requests (the contract with review) -------------------------------------------------
    @http("POST", "/panel-requests", roles=("committee_office",))
    def request_panel_http(self, request):
        actor = self._actor(request, "committee_office")
        data = read_json(request, schemas.PANEL_REQUEST_IN)
        if not actor.may_act_for(data["committee_id"]):
            raise Forbidden("this token is limited to other committees")
        with self.db.unit_of_work() as uow:
            out = handlers.request_panel(uow, data, now=self.clock.now(), policy=self._policy,
                                         parties=self.settings.parties)
            uow.commit()
        return 201, out

    @rpc
    def request_panel(self, request: dict[str, Any]) -> dict[str, Any]:
        """RPC form of a panel request (same fields as ``panel_requested``). Refusals come back
        as ``{"error": {...}}`` rather than as a remote exception."""
        try:
            data = load(schemas.PANEL_REQUEST_IN, request, what="panel request")
            with self.db.unit_of_work() as uow:
                out = handlers.request_panel(uow, data, now=self.clock.now(),
                                             policy=self._policy, parties=self.settings.parties)
                uow.commit()
            return out
        except ZhichengError as exc:
            return exc.as_dict()

    @rpc
    def verify_receipt(self, receipt: dict[str, Any],
                       expected_digest: str | None = None) -> dict[str, Any]:
        """Replay a draw receipt (the same check as ``zhicheng draw verify``)."""
        return handlers.verify(receipt, expected_digest)

    @consume_events(inbox_queue_name("experts"))
    def on_event(self, envelope):
        """``panel_requested`` from review: open the meeting's draw round, or say why not."""
        with self.db.unit_of_work() as uow:
            uow.caused_by(envelope)
            if not uow.claim(envelope):
                return
            if envelope["event_type"] != "panel_requested":
                uow.commit()
                return
            try:
                data = load(EVENT_PANEL_REQUEST, envelope["payload"], what="panel request")
                handlers.request_panel(uow, data, now=self.clock.now(), policy=self._policy,
                                       parties=self.settings.parties,
                                       request_event_id=envelope["event_id"])
            except ZhichengError as exc:
                uow.rollback()
                uow.claim(envelope)
                uow.emit("panel_request_refused",
                         handlers.panel_request_refused_payload(envelope["payload"], exc))
            uow.commit()

    # -- draw rounds -----------------------------------------------------------------------------
    @http("GET", "/draws/<round_id>", roles=READERS)
    def get_round(self, request, round_id):
        self._actor(request, *READERS)
        with self.db.unit_of_work() as uow:
            return handlers.get_round(uow, round_id, policy=self._policy)

    @http("POST", "/draws/<round_id>/commitments", roles=PARTY_ROLES)
    def commit(self, request, round_id):
        actor = self._actor(request, *PARTY_ROLES)
        data = read_json(request, schemas.COMMITMENT_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.commit_party(uow, round_id, data["commitment"].lower(), actor=actor,
                                        now=self.clock.now(), policy=self._policy,
                                        party=request.args.get("party") or None)
            uow.commit()
        return out

    @http("POST", "/draws/<round_id>/reveals", roles=PARTY_ROLES)
    def reveal(self, request, round_id):
        actor = self._actor(request, *PARTY_ROLES)
        data = read_json(request, schemas.REVEAL_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.reveal_party(uow, round_id, data["secret"].lower(), actor=actor,
                                        now=self.clock.now(), policy=self._policy,
                                        party=request.args.get("party") or None)
            uow.commit()
        return out

    @http("POST", "/draws/<round_id>/beacon", roles=("bureau",))
    def beacon(self, request, round_id):
        self._actor(request, "bureau")
        data = read_json(request, schemas.BEACON_VALUE_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.enter_beacon(uow, round_id, data["value"], now=self.clock.now(),
                                        policy=self._policy)
            uow.commit()
        return out

    @http("POST", "/draws/<round_id>/finalize", roles=("committee_office", "bureau"))
    def finalize(self, request, round_id):
        actor = self._actor(request, "committee_office", "bureau")
        with self.db.unit_of_work() as uow:
            out = handlers.finalize_round(uow, round_id, actor=actor, now=self.clock.now(),
                                          policy=self._policy)
            uow.commit()
        return out

    @http("POST", "/draws/<round_id>/abandon", roles=("bureau",))
    def abandon(self, request, round_id):
        actor = self._actor(request, "bureau")
        data = read_json(request, schemas.ABANDON_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.abandon_round(uow, round_id, data["reason"], actor=actor,
                                         now=self.clock.now(), policy=self._policy)
            uow.commit()
        return out

    @http("POST", "/meetings/<meeting_id>/redraw", roles=("committee_office",))
    def redraw(self, request, meeting_id):
        actor = self._actor(request, "committee_office")
        data = read_json(request, schemas.REDRAW_IN)
        with self.db.unit_of_work() as uow:
            out = handlers.redraw(uow, meeting_id, data, actor=actor, now=self.clock.now(),
                                  policy=self._policy, parties=self.settings.parties)
            uow.commit()
        return 201, out

    @http("GET", "/draws/<round_id>/receipt", roles=READERS)
    def receipt(self, request, round_id):
        actor = self._actor(request, *READERS)
        with self.db.unit_of_work() as uow:
            return handlers.receipt(uow, round_id, actor=actor, now=self.clock.now(),
                                    policy=self._policy)

    @http("GET", "/meetings/<meeting_id>/panel", roles=READERS)
    def meeting_panel(self, request, meeting_id):
        actor = self._actor(request, *READERS)
        with self.db.unit_of_work() as uow:
            return handlers.meeting_panel(uow, meeting_id, actor=actor, now=self.clock.now(),
                                          policy=self._policy)

    @http("POST", "/meetings/<meeting_id>/emergency-approvals", roles=("bureau",))
    def approve_emergency(self, request, meeting_id):
        actor = self._actor(request, "bureau")
        data = read_json(request, schemas.EMERGENCY_APPROVAL_IN)
        try:
            with self.db.unit_of_work() as uow:
                out = handlers.approve_emergency(uow, meeting_id, data, actor=actor,
                                                 now=self.clock.now(), policy=self._policy)
                uow.commit()
        except RuleRefused as refused:  # the attempt is on record (shared/refusals.py)
            record_refusal(self.db, "emergency_draw_refused", refused, now=self.clock.now(),
                           by=actor.subject, meeting_id=meeting_id, stage="approval",
                           seats=data["seats"], approval_id=None)
            raise
        return 201, out

    @http("POST", "/meetings/<meeting_id>/emergency-draws", roles=("committee_office",))
    def emergency_draw(self, request, meeting_id):
        actor = self._actor(request, "committee_office")
        data = read_json(request, schemas.EMERGENCY_DRAW_IN)
        try:
            with self.db.unit_of_work() as uow:
                out = handlers.open_emergency_round(uow, meeting_id, data, actor=actor,
                                                    now=self.clock.now(), policy=self._policy,
                                                    parties=self.settings.parties)
                uow.commit()
        except RuleRefused as refused:  # the attempt is on record (shared/refusals.py)
            record_refusal(self.db, "emergency_draw_refused", refused, now=self.clock.now(),
                           by=actor.subject, meeting_id=meeting_id, stage="draw",
                           seats=data["seats"], approval_id=data.get("approval_id"))
            raise
        return 201, out

    # -- the clock's work --------------------------------------------------------------------------
    def _sweep(self) -> dict[str, Any]:
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            expired = handlers.expire_terms(uow, today=now.date())
            unsealed = handlers.publish_due_seeds(uow, now=now, policy=self._policy)
            uow.commit()
        return {"expired": expired, "unsealed_rounds": unsealed}

    @timer(interval=5)
    def sweep_by_timer(self):
        try:
            self._sweep()
        except Exception as exc:  # the database may be down; the next tick retries
            log.warning("experts sweep failed: %s", type(exc).__name__)

    @http("POST", "/admin/sweep", roles=("operator", "bureau"))
    def sweep(self, request):
        self._actor(request, "operator", "bureau")
        return self._sweep()
