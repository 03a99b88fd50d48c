"""Event types produced by the experts service (owned by that service; the contract others read).

The pool (专家库): ``expert_registered``, ``pool_change_requested`` / ``_approved`` / ``_rejected``,
``expert_term_expired``, ``expert_disciplined``.

Draws (评委随机抽取), in the order a round produces them: ``draw_committed`` (the inputs, fixed
before any randomness exists) → ``draw_party_committed`` (one per party, before any reveal) →
``panel_drawn`` / ``emergency_panel_drawn`` (the panel exists; only its digest is published while
it is sealed) → ``draw_seed_revealed`` (when the meeting starts: seed, secrets and members, so
anyone can replay the draw). ``emergency_draw_approved`` records the bureau's approval.

The panel request (the contract by which the review service asks for a panel):
``panel_requested`` is produced by review and consumed by experts. Review owns that type; if
review has not registered it, it is registered here with the payload experts reads (see
:class:`PanelRequested`). The same request is accepted over RPC (``experts.request_panel``) and
HTTP (``POST /panel-requests``).
"""
from marshmallow import fields, validate

from shared.events.catalogue import CATALOGUE, PayloadSchema, register
from shared.refusals import RefusalFields

_ID = dict(required=True, validate=validate.Length(min=1, max=64))
_HEX64 = validate.Regexp(r"^[0-9a-f]{64}$")


class Applicant(PayloadSchema):
    """An applicant on the docket, by opaque reference and employer (for 回避)."""

    applicant_ref = fields.String(**_ID)
    employer = fields.String(required=True, validate=validate.Length(min=1, max=200))


class BeaconName(PayloadSchema):
    source = fields.String(required=True, validate=validate.Length(min=1, max=100))
    round = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PanelRequested(PayloadSchema):
    """Review asks for a panel for a meeting. ``applicants`` and ``reserves`` are what experts
    needs beyond review's meeting fields: without employers no 回避 by employer is possible."""

    meeting_id = fields.String(**_ID)
    committee_id = fields.String(**_ID)
    starts_at = fields.AwareDateTime(required=True, format="iso")
    at = fields.AwareDateTime(load_default=None, format="iso")
    panel_size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    reserves = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=0, max=50))
    specialties = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                              load_default=list)
    applicants = fields.List(fields.Nested(Applicant), load_default=list)
    declared_conflicts = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                                     load_default=dict)
    beacon = fields.Nested(BeaconName, load_default=None, allow_none=True)


if "panel_requested" not in CATALOGUE.types:
    register("panel_requested", producer="review", schema=PanelRequested, consumers=("experts",),
             description="review asks experts for a panel drawn at random for a meeting "
                         "(docket specialties, applicants' employers for 回避, panel size)")


class ExpertRegistered(PayloadSchema):
    expert_id = fields.String(**_ID)
    committee_ids = fields.List(fields.String(), required=True)
    employer = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(
        ["enterprise", "association", "institution"]))
    title = fields.String(required=True)
    title_level = fields.String(required=True)
    specialties = fields.List(fields.String(), required=True)
    term_start = fields.Date(required=True)
    term_end = fields.Date(required=True)
    via = fields.String(required=True, validate=validate.OneOf(["direct", "change_request"]))
    registered_by = fields.String(required=True)


register("expert_registered", producer="experts", schema=ExpertRegistered,
         description="an expert entered a committee's pool (directly while the pool was being "
                     "formed, or by an approved change request); no name or identity number")


class PoolChangeRequested(PayloadSchema):
    request_id = fields.String(**_ID)
    committee_id = fields.String(**_ID)
    kind = fields.String(required=True, validate=validate.OneOf(["add", "update", "remove"]))
    expert_id = fields.String(**_ID)
    reason = fields.String(required=True)
    requested_by = fields.String(required=True)
    requested_at = fields.AwareDateTime(required=True, format="iso")


register("pool_change_requested", producer="experts", schema=PoolChangeRequested,
         description="a committee office asks the bureau to add, change or remove a pool expert "
                     "during the pool's term (报备); nothing changes until approved")


class PoolChangeDecided(PayloadSchema):
    request_id = fields.String(**_ID)
    committee_id = fields.String(**_ID)
    kind = fields.String(required=True, validate=validate.OneOf(["add", "update", "remove"]))
    expert_id = fields.String(**_ID)
    decided_by = fields.String(required=True)
    decided_at = fields.AwareDateTime(required=True, format="iso")
    note = fields.String(load_default=None, allow_none=True)


register("pool_change_approved", producer="experts", schema=PoolChangeDecided,
         description="the bureau approved a pool change (备案同意); the pool changed now")
register("pool_change_rejected", producer="experts", schema=PoolChangeDecided,
         description="the bureau rejected a pool change; the pool did not change")


class ExpertTermExpired(PayloadSchema):
    expert_id = fields.String(**_ID)
    committee_ids = fields.List(fields.String(), required=True)
    term_end = fields.Date(required=True)
    expired_on = fields.Date(required=True)


register("expert_term_expired", producer="experts", schema=ExpertTermExpired,
         description="an expert's term (at most three years) ended by the clock")


class Exclusion(PayloadSchema):
    expert_id = fields.String(**_ID)
    reasons = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


class EmergencyTerms(PayloadSchema):
    parent_round_id = fields.String(**_ID)
    parent_digest = fields.String(required=True, validate=_HEX64)
    approval_id = fields.String(**_ID)
    meeting_panel_size = fields.Integer(required=True)
    seats_before = fields.Integer(required=True)
    share_percent = fields.Integer(required=True)


class DrawCommitted(PayloadSchema):
    """The commitment record of a round (its digest is what every later step binds to)."""

    round_id = fields.String(**_ID)
    kind = fields.String(required=True, validate=validate.OneOf(["regular", "emergency"]))
    meeting_id = fields.String(**_ID)
    committee_id = fields.String(**_ID)
    meeting_date = fields.Date(required=True)
    commitment_digest = fields.String(required=True, validate=_HEX64)
    eligible_hash = fields.String(required=True, validate=_HEX64)
    eligible_count = fields.Integer(required=True)
    exclusions = fields.List(fields.Nested(Exclusion), required=True)
    # experts excluded only as already drawn for the meeting (an emergency round): withheld
    # while the panel is sealed, counted here; the receipt lists them
    sealed_exclusions = fields.Integer(load_default=0)
    panel_size = fields.Integer(required=True)
    reserves = fields.Integer(required=True)
    parties = fields.List(fields.String(), required=True)
    beacon = fields.Nested(BeaconName, required=True, allow_none=True)
    algorithm = fields.String(required=True)
    emergency = fields.Nested(EmergencyTerms, required=True, allow_none=True)
    opened_at = fields.AwareDateTime(required=True, format="iso")


register("draw_committed", producer="experts", schema=DrawCommitted,
         description="a draw round's inputs are fixed before any randomness exists: eligible "
                     "list hash, every exclusion with its reasons, sizes, parties, beacon, "
                     "algorithm")


class DrawPartyCommitted(PayloadSchema):
    round_id = fields.String(**_ID)
    commitment_digest = fields.String(required=True, validate=_HEX64)
    party = fields.String(required=True)
    party_commitment = fields.String(required=True, validate=_HEX64)
    committed_at = fields.AwareDateTime(required=True, format="iso")


register("draw_party_committed", producer="experts", schema=DrawPartyCommitted,
         description="one party committed to its secret (a hash), before any secret is revealed")


class PanelDrawn(PayloadSchema):
    """The panel exists. While sealed only its digest travels; members come with
    ``draw_seed_revealed`` when the meeting starts. Experts always sends every field; consumers
    (review) rely only on ``meeting_id``, ``round_id`` and ``panel_size``, which alone are
    required."""

    round_id = fields.String(**_ID)
    meeting_id = fields.String(**_ID)
    panel_size = fields.Integer(required=True)
    panel_id = fields.String(validate=validate.Length(min=1, max=64))
    committee_id = fields.String(validate=validate.Length(min=1, max=64))
    reserves = fields.Integer()
    commitment_digest = fields.String(validate=_HEX64)
    panel_digest = fields.String(validate=_HEX64)
    drawn_at = fields.AwareDateTime(format="iso")
    meeting_starts_at = fields.AwareDateTime(format="iso")


register("panel_drawn", producer="experts", schema=PanelDrawn, consumers=("review",),
         description="a meeting's panel and reserves were drawn (members sealed: digest only)")


class EmergencyPanelDrawn(PanelDrawn):
    parent_round_id = fields.String(**_ID)
    approval_id = fields.String(**_ID)
    seats = fields.Integer(required=True)


register("emergency_panel_drawn", producer="experts", schema=EmergencyPanelDrawn,
         consumers=("review",),
         description="an approved emergency draw (应急抽取) filled seats of a meeting's panel "
                     "(members sealed: digest only)")


class DrawSeedRevealed(PayloadSchema):
    round_id = fields.String(**_ID)
    meeting_id = fields.String(**_ID)
    commitment_digest = fields.String(required=True, validate=_HEX64)
    seed = fields.String(required=True, validate=_HEX64)
    secrets = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    beacon_value = fields.String(required=True, allow_none=True)
    panel = fields.List(fields.String(), required=True)
    reserves = fields.List(fields.String(), required=True)
    revealed_at = fields.AwareDateTime(required=True, format="iso")


register("draw_seed_revealed", producer="experts", schema=DrawSeedRevealed,
         description="the meeting started: the draw's seed, every party's secret and the "
                     "members are published so anyone can replay it")


class DrawAbandoned(PayloadSchema):
    round_id = fields.String(**_ID)
    meeting_id = fields.String(**_ID)
    commitment_digest = fields.String(required=True, validate=_HEX64)
    reason = fields.String(required=True)
    abandoned_by = fields.String(required=True)
    abandoned_at = fields.AwareDateTime(required=True, format="iso")
    parties_committed = fields.List(fields.String(), required=True)
    parties_revealed = fields.List(fields.String(), required=True)


register("draw_abandoned", producer="experts", schema=DrawAbandoned,
         description="a draw round was stopped before a result (e.g. a party never revealed); "
                     "it stays on record and the meeting's next round is a new commitment")


class EmergencyDrawApproved(PayloadSchema):
    approval_id = fields.String(**_ID)
    meeting_id = fields.String(**_ID)
    seats = fields.Integer(required=True)
    approved_by = fields.String(required=True)
    approved_at = fields.AwareDateTime(required=True, format="iso")
    reason = fields.String(required=True)


register("emergency_draw_approved", producer="experts", schema=EmergencyDrawApproved,
         description="the bureau approved an emergency draw (报区人社部门同意) of some seats")


class ExpertDisciplined(PayloadSchema):
    expert_id = fields.String(**_ID)
    unit = fields.String(required=True)
    misconduct = fields.String(required=True, validate=validate.OneOf(
        ["discipline_violation", "leak"]))
    sanction = fields.String(required=True, validate=validate.OneOf(["suspend", "remove"]))
    meeting_id = fields.String(load_default=None, allow_none=True)
    recorded_by = fields.String(required=True)
    recorded_at = fields.AwareDateTime(required=True, format="iso")
    rule = fields.String(required=True)


register("expert_disciplined", producer="experts", schema=ExpertDisciplined,
         description="an expert broke review discipline or leaked review information and was "
                     "suspended or removed; names the expert's unit to notify (通报)")


class PanelRequestRefused(PayloadSchema):
    meeting_id = fields.String(**_ID)
    committee_id = fields.String(**_ID)
    code = fields.String(required=True)
    rule = fields.String(required=True, allow_none=True)
    message = fields.String(required=True)
    violations = fields.List(fields.Dict(), required=True)


register("panel_request_refused", producer="experts", schema=PanelRequestRefused,
         consumers=("review",),
         description="a panel request could not be drawn (e.g. too few eligible experts: the "
                     "shortfall is named; unknown committee); review decides what to do")


class EmergencyDrawRefused(RefusalFields):
    meeting_id = fields.String(**_ID)
    stage = fields.String(required=True, validate=validate.OneOf(("approval", "draw")))
    seats = fields.Integer(required=True)
    approval_id = fields.String(load_default=None, allow_none=True)


register("emergency_draw_refused", producer="experts", schema=EmergencyDrawRefused,
         description="an emergency draw or its approval was tried and a rule refused it (no "
                     "approval, beyond the 30% cap): nothing drawn, the attempt is on record")
