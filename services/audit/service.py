"""The audit service (监督): consumes every event of every service through one durable queue into
an append-only, hash-chained, Merkle-tree store; signs tree heads; answers inspectors.

Who may call what (the authorization matrix test checks every row):

| endpoint | roles |
|---|---|
| ``GET /records``, ``/records/<position>``, ``/cases/<id>/timeline``, ``/committees/<id>/records``, ``/experts/<id>/records``, ``POST /applicants/records`` | inspector |
| ``GET /verify`` | inspector, operator |
| ``GET /heads``, ``/heads/latest``, ``/proofs/inclusion``, ``/proofs/consistency``, ``/export`` | inspector |
| ``POST /heads`` (sign now) | inspector, operator |
| ``GET /violations`` | inspector, bureau |
| ``POST /violations/<id>/acknowledge``, ``GET /key-supervision/proposals``, ``POST /key-supervision``, ``POST /patrols``, ``POST /spot-checks``, ``POST /inspections/<id>/results`` | inspector |
| ``POST /spot-checks/<id>/commitments``, ``/reveals`` | inspector, supervisor (each as its own party) |
| ``POST /spot-checks/<id>/beacon`` | bureau |
| ``GET /inspections/<id>`` | inspector, supervisor |
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction

from nameko.extensions import DependencyProvider
from nameko.timer import timer
from werkzeug.wrappers import Response

from services.audit import handlers
from services.audit import models
from services.audit.checkpoint import HeadSigner, SigningKeyError, load_signing_key, \
    private_key_pem
from services.audit.policy import policy_from_settings
from shared.config import consumer_batch_size, var_dir
from shared.errors import InvalidInput, NotFound, Unavailable
from shared.messaging import AUDIT_QUEUE, consume_event_batches
from shared.platform import Database, ServiceBase
from shared.web import http, query_int, read_json

log = logging.getLogger(__name__)

SIGN_INTERVAL_SECONDS = float(os.environ.get("AUDIT_SIGN_INTERVAL_SECONDS", "300"))
READ_ROLES = ("inspector",)


def _setting(config, name: str) -> str | None:
    value = config.get(name)
    if value in (None, ""):
        value = os.environ.get(name)
    return value or None


def _dev_secret_file(name: str, make: bytes) -> str:
    """A per-checkout development secret under var/ (never in the repository)."""
    path = var_dir() / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(make)
        log.warning("no %s configured: generated a development one under var/", name)
    return str(path)


def settings_from_config(config) -> handlers.AuditSettings:
    """Signing key: ``AUDIT_SIGNING_KEY`` (PEM, hex/base64 seed, or a file path, e.g. a mounted
    Kubernetes Secret) or ``AUDIT_SIGNING_KEY_FILE``; without one (development) a key is
    generated under var/. Applicants are looked up by the platform's pseudonym key
    (``ZHICHENG_PERSON_KEY``, shared/personal.py; ``PERSON_KEY`` in the container config for
    tests)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    source = (_setting(config, "AUDIT_SIGNING_KEY")
              or _setting(config, "ZHICHENG_AUDIT_SIGNING_KEY")  # deploy/k8s's Secret
              or _setting(config, "AUDIT_SIGNING_KEY_FILE"))
    if source is None:
        source = _dev_secret_file("audit-signing.key",
                                  private_key_pem(Ed25519PrivateKey.generate()))
    try:
        key = load_signing_key(source)
    except SigningKeyError as exc:
        raise RuntimeError(f"audit signing key: {exc}") from None
    person_key = config.get("PERSON_KEY")
    log_id = _setting(config, "AUDIT_LOG_ID") or "zhicheng-audit"
    env = {k: v for k, v in {**os.environ, **{k: str(v) for k, v in config.items()
                                               if isinstance(k, str)}}.items()
           if k.startswith("AUDIT_POLICY_")}
    return handlers.AuditSettings(log_id=log_id, signer=HeadSigner(key, log_id),
                                  person_key=person_key.encode() if person_key else None,
                                  policy=policy_from_settings(env))


class AuditLogProvider(DependencyProvider):
    """One :class:`handlers.AuditLog` per container (ledger + monitors + signer)."""

    def setup(self) -> None:
        self.log = handlers.AuditLog(settings_from_config(self.container.config))

    def get_dependency(self, worker_ctx) -> handlers.AuditLog:
        return self.log


def _order(request) -> bool:
    order = request.args.get("order", "oldest")
    if order not in ("oldest", "newest"):
        raise InvalidInput("order is oldest or newest",
                           details={"fields": {"order": ["oldest or newest"]}})
    return order == "newest"


def _cursor(request) -> int | None:
    if request.args.get("cursor") in (None, ""):
        return None
    return query_int(request, "cursor", 0, maximum=2 ** 62)


def _page(request) -> dict:
    return {"newest_first": _order(request), "cursor": _cursor(request),
            "limit": query_int(request, "limit", 50, minimum=1, maximum=500),
            "since": handlers.parse_time(request.args.get("since"), "since"),
            "until": handlers.parse_time(request.args.get("until"), "until"),
            "event_type": request.args.get("event_type") or None}


class AuditService(ServiceBase):
    name = "audit"
    db = Database(models.metadata)
    audit_log = AuditLogProvider()

    @consume_event_batches(AUDIT_QUEUE, batch_size=consumer_batch_size())
    def record(self, envelopes):
        """Every event of every service, recorded in arrival order, a batch per transaction."""
        with self.db.unit_of_work() as uow:
            handlers.record_events(uow, self.audit_log, envelopes, received_at=self.clock.now())

    @timer(interval=SIGN_INTERVAL_SECONDS)
    def sign_periodically(self):
        """Sign the tree head when records were added since the last one."""
        with self.db.unit_of_work() as uow:
            handlers.sign_head(uow, self.audit_log, self.clock)

    # --- the record -----------------------------------------------------------------------
    def _query(self, request, term=None):
        principal = self.auth.require(request, *READ_ROLES)
        masking = handlers.masking_for(principal.roles)
        with self.db.database.engine.connect() as conn:
            return handlers.query_records(conn, masking, term=term, **_page(request))

    @http("GET", "/records", roles=("inspector",))
    def records(self, request):
        """Every record, by type and time range: ``?event_type=&since=&until=&order=&cursor=``."""
        return self._query(request)

    @http("GET", "/records/<int:position>", roles=("inspector",))
    def record_at(self, request, position):
        principal = self.auth.require(request, *READ_ROLES)
        with self.db.database.engine.connect() as conn:
            row = handlers.repo.record_at(conn, position)
        if row is None:
            raise NotFound("no record at that position")
        return handlers.present(row, handlers.masking_for(principal.roles))

    @http("GET", "/cases/<string:case_id>/timeline", roles=("inspector",))
    def case_timeline(self, request, case_id):
        """The whole timeline of a case (案件全过程), from intake's submission on: a review case
        id or an intake submission id."""
        principal = self.auth.require(request, *READ_ROLES)
        masking = handlers.masking_for(principal.roles)
        with self.db.database.engine.connect() as conn:
            term = handlers.case_term(conn, case_id)
            return handlers.query_records(conn, masking, term=term, **_page(request))

    @http("GET", "/committees/<string:committee_id>/records", roles=("inspector",))
    def committee_records(self, request, committee_id):
        return self._query(request, ("committee", committee_id))

    @http("GET", "/experts/<string:expert_id>/records", roles=("inspector",))
    def expert_records(self, request, expert_id):
        return self._query(request, ("expert", expert_id))

    @http("POST", "/applicants/records", roles=("inspector",))
    def applicant_records(self, request):
        """Everything about an applicant, found by identity number (sent in the body, never in
        the URL), shown masked."""
        self.auth.require(request, *READ_ROLES)
        body = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("identity_number"), str):
            raise InvalidInput("send {\"identity_number\": ...}",
                               details={"fields": {"identity_number": ["required"]}})
        term = handlers.applicant_term(body["identity_number"], self.audit_log.settings.person_key)
        return self._query(request, term)

    # --- integrity ------------------------------------------------------------------------
    @http("GET", "/verify", roles=("inspector", "operator"))
    def verify(self, request):
        """Re-check the whole store: 200 when intact, 409 naming the first bad record."""
        self.auth.require(request, "inspector", "operator")
        report = handlers.verify_store(self.db.database.engine,
                                       self.audit_log.settings.signer.public_key)
        return (200 if report["intact"] else 409), report

    @http("GET", "/heads", roles=("inspector",))
    def heads(self, request):
        self.auth.require(request, *READ_ROLES)
        with self.db.database.engine.connect() as conn:
            heads = handlers.repo.heads(conn)
        return {"public_key": handlers.public_key_hex(self.audit_log),
                "items": [h.as_dict() for h in heads]}

    @http("GET", "/heads/latest", roles=("inspector",))
    def latest_head(self, request):
        self.auth.require(request, *READ_ROLES)
        with self.db.database.engine.connect() as conn:
            head = handlers.repo.latest_head(conn)
        if head is None:
            raise NotFound("no signed tree head yet")
        return {"public_key": handlers.public_key_hex(self.audit_log), "head": head.as_dict()}

    @http("POST", "/heads", roles=("inspector", "operator"))
    def sign_now(self, request):
        self.auth.require(request, "inspector", "operator")
        with self.db.unit_of_work() as uow:
            sth = handlers.sign_head(uow, self.audit_log, self.clock, force=True)
        if sth is None:
            raise Unavailable("nothing to sign")
        return 201, {"public_key": handlers.public_key_hex(self.audit_log), "head": sth.as_dict()}

    @http("GET", "/proofs/inclusion", roles=("inspector",))
    def proof_inclusion(self, request):
        """``?position=&tree_size=`` (default: the latest signed head)."""
        self.auth.require(request, *READ_ROLES)
        position = query_int(request, "position", -1, minimum=0, maximum=2 ** 62)
        size = request.args.get("tree_size")
        tree_size = query_int(request, "tree_size", 0, maximum=2 ** 62) if size else None
        with self.db.database.engine.connect() as conn:
            return handlers.inclusion_proof(conn, self.audit_log, position, tree_size)

    @http("GET", "/proofs/consistency", roles=("inspector",))
    def proof_consistency(self, request):
        """``?first=&second=`` (sizes of two signed heads; second defaults to the latest)."""
        self.auth.require(request, *READ_ROLES)
        first = query_int(request, "first", 0, maximum=2 ** 62)
        second = request.args.get("second")
        with self.db.database.engine.connect() as conn:
            return handlers.consistency_proof(
                conn, self.audit_log, first,
                query_int(request, "second", 0, maximum=2 ** 62) if second else None)

    @http("GET", "/export", roles=("inspector",))
    def export(self, request):
        """The export file (JSON Lines): every record up to the latest signed head, or
        ``?case_id=`` for one case's records with inclusion proofs. Contains full records (for
        re-hashing), hence inspectors only."""
        self.auth.require(request, *READ_ROLES)
        with self.db.database.engine.connect() as conn:
            if handlers.repo.latest_head(conn) is None:
                raise NotFound("no signed tree head yet; sign one first (POST /heads)")
        # streamed: a million records never sit in memory at once
        lines = handlers.export_lines(self.db.database.engine, self.audit_log, self.clock,
                                      case_id=request.args.get("case_id") or None)
        return Response(lines, status=200, mimetype="application/x-ndjson",
                        headers={"Content-Disposition": "attachment; filename=audit-export.jsonl"})

    # --- violations and notices -------------------------------------------------------------
    @http("GET", "/violations", roles=("inspector", "bureau"))
    def violations(self, request):
        """Notices (通报): ``?committee_id=&rule=&acknowledged=true|false&limit=&offset=``."""
        self.auth.require(request, "inspector", "bureau")
        ack = request.args.get("acknowledged")
        if ack not in (None, "", "true", "false"):
            raise InvalidInput("acknowledged is true or false")
        with self.db.database.engine.connect() as conn:
            rows = handlers.repo.list_violations(
                conn, committee_id=request.args.get("committee_id") or None,
                rule_id=request.args.get("rule") or None,
                acknowledged=None if not ack else ack == "true",
                limit=query_int(request, "limit", 50, minimum=1, maximum=500),
                offset=query_int(request, "offset", 0, maximum=10 ** 9))
        return {"items": [handlers.violation_view(r) for r in rows]}

    @http("POST", "/violations/<string:notice_id>/acknowledge", roles=("inspector",))
    def acknowledge(self, request, notice_id):
        principal = self.auth.require(request, "inspector")
        body = read_json(request) if request.get_data() else {}
        note = body.get("note") if isinstance(body, dict) else None
        with self.db.unit_of_work() as uow:
            return handlers.acknowledge_violation(uow, notice_id, principal.subject,
                                                  str(note) if note else None, self.clock.now())

    @http("GET", "/key-supervision/proposals", roles=("inspector",))
    def key_supervision_proposals(self, request):
        """Committees proposed for key supervision (重点督查) because of their violations."""
        self.auth.require(request, "inspector")
        with self.db.database.engine.connect() as conn:
            return {"items": handlers.key_supervision_proposals(
                conn, self.audit_log.settings.policy)}

    @http("POST", "/key-supervision", roles=("inspector",))
    def key_supervision(self, request):
        principal = self.auth.require(request, "inspector")
        body = read_json(request)
        committee = body.get("committee_id") if isinstance(body, dict) else None
        if not isinstance(committee, str) or not committee:
            raise InvalidInput("committee_id is required")
        with self.db.unit_of_work() as uow:
            return 201, handlers.start_key_supervision(uow, committee, body.get("reason"),
                                                       principal.subject, self.clock.now())

    # --- inspections ------------------------------------------------------------------------
    @http("POST", "/spot-checks", roles=("inspector",))
    def plan_spot_check(self, request):
        """Plan a spot check (随机抽查): ``{"committee_id", "share": "1/10"}``."""
        principal = self.auth.require(request, "inspector")
        body = read_json(request)
        committee = body.get("committee_id") if isinstance(body, dict) else None
        if not isinstance(committee, str) or not committee:
            raise InvalidInput("committee_id is required")
        share = None
        if body.get("share") is not None:
            try:
                share = Fraction(str(body["share"]))
            except (ValueError, ZeroDivisionError):
                raise InvalidInput("share is a fraction such as 1/10 or 0.1") from None
        with self.db.unit_of_work() as uow:
            return 201, handlers.plan_spot_check(uow, committee, share, principal.subject,
                                                 self.clock.now(),
                                                 self.audit_log.settings.policy)

    def _party(self, request):
        principal = self.auth.require(request, "inspector", "supervisor")
        body = read_json(request)
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object")
        party = body.get("party") or next(iter(sorted(
            principal.roles & {"inspector", "supervisor"})))
        if party not in principal.roles or party not in ("inspector", "supervisor"):
            raise InvalidInput("party is inspector or supervisor, and must be your own role")
        return party, body

    @http("POST", "/spot-checks/<string:inspection_id>/commitments", roles=("inspector", "supervisor"))
    def spot_check_commit(self, request, inspection_id):
        party, body = self._party(request)
        if not isinstance(body.get("commitment"), str):
            raise InvalidInput("commitment is required")
        with self.db.unit_of_work() as uow:
            return handlers.commit_contribution(uow, inspection_id, party, body["commitment"])

    @http("POST", "/spot-checks/<string:inspection_id>/beacon", roles=("bureau",))
    def spot_check_beacon(self, request, inspection_id):
        self.auth.require(request, "bureau")
        body = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("beacon"), str):
            raise InvalidInput("beacon is required")
        with self.db.unit_of_work() as uow:
            return handlers.enter_beacon(uow, inspection_id, body["beacon"])

    @http("POST", "/spot-checks/<string:inspection_id>/reveals", roles=("inspector", "supervisor"))
    def spot_check_reveal(self, request, inspection_id):
        party, body = self._party(request)
        if not isinstance(body.get("secret"), str):
            raise InvalidInput("secret is required")
        with self.db.unit_of_work() as uow:
            return handlers.reveal_contribution(uow, inspection_id, party, body["secret"])

    @http("POST", "/patrols", roles=("inspector",))
    def patrol(self, request):
        """An industry patrol (行业巡查): ``{"committee_id"}`` or ``{"industry"}``."""
        principal = self.auth.require(request, "inspector")
        body = read_json(request)
        if not isinstance(body, dict):
            raise InvalidInput("send a JSON object")
        with self.db.unit_of_work() as uow:
            return 201, handlers.start_patrol(uow, body.get("committee_id"), body.get("industry"),
                                              principal.subject, self.clock.now())

    @http("GET", "/inspections/<string:inspection_id>", roles=("inspector", "supervisor"))
    def inspection(self, request, inspection_id):
        self.auth.require(request, "inspector", "supervisor")
        with self.db.database.engine.connect() as conn:
            return handlers.inspection_view(conn, inspection_id)

    @http("POST", "/inspections/<string:inspection_id>/results", roles=("inspector",))
    def inspection_result(self, request, inspection_id):
        principal = self.auth.require(request, "inspector")
        body = read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("case_id"), str) \
                or not isinstance(body.get("outcome"), str):
            raise InvalidInput("case_id and outcome are required")
        with self.db.unit_of_work() as uow:
            return 201, handlers.record_inspection_result(
                uow, inspection_id, body["case_id"], body["outcome"], body.get("notes"),
                principal.subject, self.clock.now())
