"""Request schemas (marshmallow) and the JSON views of cases and meetings."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from services.review.case import Case
from services.review.meeting import Meeting


class QualificationRequest(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(("passed", "failed")))
    reasons = fields.List(fields.String(validate=validate.Length(max=500)), load_default=list)


class PublicityRequest(Schema):
    starts_on = fields.Date(load_default=None)
    working_days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=60))


class PublicityListRequest(PublicityRequest):
    case_ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=500))


class ObjectionRequest(Schema):
    grounds = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class ObjectionResolutionRequest(Schema):
    resolution = fields.String(required=True, validate=validate.OneOf(("upheld", "dismissed")))
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class MaterialsRequest(Schema):
    document_kinds = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                                 required=True, validate=validate.Length(min=1))


class MeetingRequest(Schema):
    committee_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    starts_at = fields.AwareDateTime(required=True)
    case_ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=500))
    panel_size = fields.Integer(required=True, validate=validate.Range(min=1, max=99))


class VotesRequest(Schema):
    case_id = fields.String(required=True)
    present = fields.Integer(required=True, validate=validate.Range(min=0))
    yes = fields.Integer(required=True, validate=validate.Range(min=0))
    no = fields.Integer(required=True, validate=validate.Range(min=0))
    abstain = fields.Integer(required=True, validate=validate.Range(min=0))


class ForwardRequest(Schema):
    forwarded_to = fields.String(load_default="", validate=validate.Length(max=200))


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def case_view(case: Case) -> dict[str, Any]:
    """What committee offices and the bureau see. The applicant appears only as intake's
    pseudonymous key; objection grounds are shown (the office has to weigh them)."""
    publicity = case.current_publicity
    return {
        "case_id": case.case_id, "submission_id": case.submission_id,
        "applicant_key": case.applicant_key, "committee_id": case.committee_id,
        "committee_name": case.committee_name, "title": case.title,
        "specialty": case.specialty, "employer": case.employer, "year": case.year,
        "recommendation": case.recommendation,
        "state": case.state.value, "final": case.state.is_final,
        "accepted_at": _iso(case.accepted_at),
        "qualification_reasons": list(case.qualification_reasons),
        "publicity": None if publicity is None else {
            "phase": publicity.phase.value, **publicity.window.as_dict(),
            "started_at": _iso(publicity.started_at)},
        "publicities": [{"phase": p.phase.value, **p.window.as_dict(),
                         "started_at": _iso(p.started_at), "ended_at": _iso(p.ended_at)}
                        for p in case.publicities],
        "held": case.is_held,
        "objections": [{"objection_id": o.objection_id, "phase": o.phase.value,
                        "filed_at": _iso(o.filed_at), "grounds": o.grounds,
                        "resolution": o.resolution.value if o.resolution else None,
                        "resolved_at": _iso(o.resolved_at), "reason": o.reason}
                       for o in case.objections],
        "meeting_id": case.meeting_id, "materials_frozen": case.materials_frozen,
        "materials_frozen_at": _iso(case.materials_frozen_at),
        "decision": case.decision.as_dict() if case.decision else None,
        "decided_at": _iso(case.decided_at), "withdrawal_reason": case.withdrawal_reason,
        "published_at": _iso(case.published_at), "certificate_number": case.certificate_number,
        "closed_at": _iso(case.closed_at),
        "history": [{"from": a, "to": b, "at": at.isoformat()} for a, b, at in case.history],
    }


def meeting_view(meeting: Meeting, tallies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"meeting_id": meeting.meeting_id, "committee_id": meeting.committee_id,
            "starts_at": _iso(meeting.starts_at), "docket": list(meeting.docket),
            "panel_size_requested": meeting.panel_size_requested, "state": meeting.state.value,
            "scheduled_at": _iso(meeting.scheduled_at), "panel_id": meeting.panel_id,
            "panel_size": meeting.panel_size, "panel_drawn_at": _iso(meeting.panel_drawn_at),
            "tallies": tallies or []}
