"""Request schemas of the experts service (marshmallow): shape only; rules live in the domain."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

_ID = dict(required=True, validate=validate.Length(min=1, max=64))
_TEXT = dict(validate=validate.Length(min=1, max=200))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class CommitteeIn(_Strict):
    committee_id = fields.String(**_ID)
    name = fields.String(required=True, **_TEXT)
    organising_unit = fields.String(required=True, **_TEXT)
    tier = fields.String(required=True, validate=validate.OneOf(["senior", "intermediate", "junior"]))
    scope = fields.String(required=True, validate=validate.OneOf(["series", "specialty"]))
    term_start = fields.Date(required=True)
    term_end = fields.Date(required=True)
    specialties = fields.List(fields.String(**_TEXT), load_default=list)


class ExpertIn(_Strict):
    expert_id = fields.String(**_ID)
    identity_number = fields.String(required=True, validate=validate.Length(equal=18))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    employer = fields.String(required=True, **_TEXT)
    specialties = fields.List(fields.String(**_TEXT), required=True,
                              validate=validate.Length(min=1))
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    title_level = fields.String(required=True,
                                validate=validate.OneOf(["junior", "intermediate", "senior"]))
    source = fields.String(required=True,
                           validate=validate.OneOf(["enterprise", "association", "institution"]))
    term_start = fields.Date(required=True)
    term_end = fields.Date(required=True)
    declared_relatives = fields.List(fields.String(**_TEXT), load_default=list)
    declared_conflicts = fields.List(fields.String(**_TEXT), load_default=list)


class RegisterExpertIn(ExpertIn):
    committee_id = fields.String(**_ID)


class ChangeRequestIn(_Strict):
    kind = fields.String(required=True, validate=validate.OneOf(["add", "update", "remove"]))
    expert_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    expert = fields.Nested(ExpertIn, load_default=None)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class DecisionIn(_Strict):
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class ApplicantIn(_Strict):
    applicant_ref = fields.String(**_ID)
    employer = fields.String(required=True, **_TEXT)


class BeaconIn(_Strict):
    source = fields.String(required=True, validate=validate.Length(min=1, max=100))
    round = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PanelRequestIn(Schema):
    """A panel request over HTTP or RPC (the same fields as the ``panel_requested`` event)."""

    class Meta:
        unknown = RAISE

    meeting_id = fields.String(**_ID)
    committee_id = fields.String(**_ID)
    starts_at = fields.AwareDateTime(required=True, format="iso")
    at = fields.AwareDateTime(load_default=None, format="iso")
    panel_size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    reserves = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=0, max=50))
    specialties = fields.List(fields.String(**_TEXT), load_default=list)
    applicants = fields.List(fields.Nested(ApplicantIn), load_default=list)
    declared_conflicts = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                                     load_default=dict)
    beacon = fields.Nested(BeaconIn, load_default=None, allow_none=True)


class CommitmentIn(_Strict):
    commitment = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"))


class RevealIn(_Strict):
    secret = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-fA-F]{2,1024}$"))


class BeaconValueIn(_Strict):
    value = fields.String(required=True, validate=validate.Length(min=1, max=512))


class EmergencyApprovalIn(_Strict):
    seats = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class EmergencyDrawIn(_Strict):
    approval_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    seats = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=99))
    beacon = fields.Nested(BeaconIn, load_default=None, allow_none=True)


class AbandonIn(_Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RedrawIn(_Strict):
    beacon = fields.Nested(BeaconIn, load_default=None, allow_none=True)


class DisciplineIn(_Strict):
    misconduct = fields.String(required=True,
                               validate=validate.OneOf(["discipline_violation", "leak"]))
    sanction = fields.String(required=True, validate=validate.OneOf(["suspend", "remove"]))
    meeting_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))


COMMITTEE_IN = CommitteeIn()
REGISTER_EXPERT_IN = RegisterExpertIn()
CHANGE_REQUEST_IN = ChangeRequestIn()
DECISION_IN = DecisionIn()
PANEL_REQUEST_IN = PanelRequestIn()
COMMITMENT_IN = CommitmentIn()
REVEAL_IN = RevealIn()
BEACON_VALUE_IN = BeaconValueIn()
EMERGENCY_APPROVAL_IN = EmergencyApprovalIn()
EMERGENCY_DRAW_IN = EmergencyDrawIn()
DISCIPLINE_IN = DisciplineIn()
ABANDON_IN = AbandonIn()
REDRAW_IN = RedrawIn()
