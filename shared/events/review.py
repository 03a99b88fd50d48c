"""Event types produced by the review service (owned by that service; the contract others read).

Every payload names its case by ``case_id`` with intake's ``submission_id`` and the
``committee_id``, and carries ``at`` (when the move happened, China time). No payload carries an
identity number or a name: the applicant is intake's pseudonymous ``applicant_key``; objection
grounds stay in review's database.
"""
from marshmallow import fields, validate

from shared.events.catalogue import PayloadSchema, register
from shared.refusals import RefusalFields

PHASES = ("pre_review", "post_review")          # 评前公示 / 评后公示
OUTCOMES = ("passed", "failed", "no_quorum")


class CaseRef(PayloadSchema):
    case_id = fields.String(required=True)
    submission_id = fields.String(required=True)
    committee_id = fields.String(required=True)
    at = fields.DateTime(required=True)


class CaseOpened(CaseRef):
    year = fields.Integer(required=True)
    recommendation = fields.Boolean(required=True)


class QualificationPassed(CaseRef):
    pass


class QualificationFailed(CaseRef):
    reasons = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


class PublicityStarted(CaseRef):
    phase = fields.String(required=True, validate=validate.OneOf(PHASES))
    starts_on = fields.Date(required=True)
    first_working_day = fields.Date(required=True)
    last_day = fields.Date(required=True)
    working_days = fields.Integer(required=True, validate=validate.Range(min=1))
    opens_at = fields.DateTime(required=True)
    closes_at = fields.DateTime(required=True)


class PublicityEnded(CaseRef):
    phase = fields.String(required=True, validate=validate.OneOf(PHASES))
    last_day = fields.Date(required=True)
    objections = fields.Integer(required=True)


class ObjectionFiled(CaseRef):
    objection_id = fields.String(required=True)
    phase = fields.String(required=True, validate=validate.OneOf(PHASES))


class ObjectionResolved(ObjectionFiled):
    resolution = fields.String(required=True, validate=validate.OneOf(("upheld", "dismissed")))


class CaseWithdrawn(CaseRef):
    objection_id = fields.String(required=True)
    reason = fields.String(required=True)


class MaterialsSupplemented(CaseRef):
    document_kinds = fields.List(fields.String(), required=True)


class MaterialsFrozen(CaseRef):
    meeting_id = fields.String(required=True)


class MeetingRef(PayloadSchema):
    meeting_id = fields.String(required=True)
    committee_id = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    at = fields.DateTime(required=True)
    panel_size = fields.Integer(required=True, validate=validate.Range(min=1))


class MeetingScheduled(MeetingRef):
    case_ids = fields.List(fields.String(), required=True)
    submission_ids = fields.List(fields.String(), required=True)


class PanelApplicant(PayloadSchema):
    """An applicant on the docket by case id (opaque) and employer, for 回避 by employer."""

    applicant_ref = fields.String(required=True)
    employer = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PanelRequested(MeetingRef):
    specialties = fields.List(fields.String(), required=True)
    applicants = fields.List(fields.Nested(PanelApplicant), required=True)


class Tally(PayloadSchema):
    panel_size = fields.Integer(required=True)
    present = fields.Integer(required=True)
    yes = fields.Integer(required=True)
    no = fields.Integer(required=True)
    abstain = fields.Integer(required=True)


class VotesRecorded(CaseRef):
    meeting_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    quorum_met = fields.Boolean(required=True)
    pass_share_met = fields.Boolean(required=True)
    failed_rules = fields.List(fields.String(), required=True)
    tally = fields.Nested(Tally, required=True)


class CaseDecided(CaseRef):
    meeting_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("passed", "failed")))
    failed_rules = fields.List(fields.String(), required=True)
    recommendation = fields.Boolean(required=True)


class ApplicantFailed(CaseRef):
    applicant_key = fields.String(required=True)
    year = fields.Integer(required=True)
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    stage = fields.String(required=True, validate=validate.OneOf(("review",)))
    failed_rules = fields.List(fields.String(), required=True)


class ResultPublished(CaseRef):
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    year = fields.Integer(required=True)
    recommendation = fields.Boolean(required=True)


class CertificateIssued(CaseRef):
    certificate_number = fields.String(required=True)
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    committee_name = fields.String(required=True)
    issued_on = fields.Date(required=True)
    applicant_key = fields.String(required=True)


class RecommendationForwarded(CaseRef):
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    forwarded_to = fields.String(required=True)
    applicant_key = fields.String(required=True)


def _review(name, schema, description, consumers=()):
    register(name, producer="review", schema=schema, description=description,
             consumers=consumers)


_review("case_opened", CaseOpened,
        "review opened a case for a submission intake accepted (受理)")
_review("qualification_passed", QualificationPassed, "the case passed qualification review (资格审查)")
_review("qualification_failed", QualificationFailed,
        "the case failed qualification review, with the reasons (资格审查不通过)")
_review("publicity_started", PublicityStarted,
        "a public notice of the case started: pre_review (评前公示) or post_review (评后公示), "
        "with its working-day window")
_review("publicity_ended", PublicityEnded,
        "the case's public notice ended (window over, no objection open)")
_review("objection_filed", ObjectionFiled,
        "an objection (异议) was filed during a public notice; the case is held")
_review("objection_resolved", ObjectionResolved,
        "an objection was resolved: upheld (the case is withdrawn) or dismissed (it goes on)")
_review("case_withdrawn", CaseWithdrawn, "the case was withdrawn after an upheld objection")
_review("materials_supplemented", MaterialsSupplemented,
        "materials were supplemented (补充材料) before the case went on a docket")
_review("materials_frozen", MaterialsFrozen,
        "the case is on a meeting's docket: its materials are frozen (三(三) 不再补充)",
        consumers=("intake",))
_review("meeting_scheduled", MeetingScheduled,
        "a committee office scheduled a review meeting (评审会议) with its docket")
_review("panel_requested", PanelRequested,
        "review asks the experts service to draw a panel for a meeting (随机抽取评委)",
        consumers=("experts",))
_review("votes_recorded", VotesRecorded,
        "the anonymous tally on one case (yes/no/abstain, attendance) and what it decided")
_review("case_decided", CaseDecided, "the meeting decided the case: passed or failed")
_review("applicant_failed", ApplicantFailed,
        "the applicant failed review this year: next year intake checks new achievements "
        "(三(二) 对上年度参评未通过人员，要严格审查申报对象新增业绩)",
        consumers=("intake",))
_review("result_published", ResultPublished,
        "the result was published after the post-review notice (公布)")
_review("certificate_issued", CertificateIssued,
        "a certificate was issued (发证) with its verifiable number")
_review("recommendation_forwarded", RecommendationForwarded,
        "a recommendation case (推荐) was forwarded to the higher committee")


# --- refused attempts by officials (shared/refusals.py): nothing changed, the attempt is on record
class MeetingSchedulingRefused(RefusalFields):
    committee_id = fields.String(required=True)
    starts_at = fields.String(required=True)
    case_ids = fields.List(fields.String(), required=True)


class MaterialsSupplementRefused(RefusalFields):
    case_id = fields.String(required=True)
    committee_id = fields.String(required=True, allow_none=True)
    document_kinds = fields.List(fields.String(), required=True)


_review("meeting_scheduling_refused", MeetingSchedulingRefused,
        "a committee office tried to schedule a meeting and a rule refused it (e.g. a case's "
        "pre-review notice had not ended): no meeting, the attempt is on record")
_review("materials_supplement_refused", MaterialsSupplementRefused,
        "a committee office tried to change a case's materials and a rule refused it (e.g. "
        "frozen for its meeting, 不再补充): nothing changed, the attempt is on record")
