"""Event types produced by the intake service (owned by that service; the contract others read).

No payload carries an identity number or a name: applicants are named by ``applicant_key``, a
keyed pseudonym intake derives from the identity number.
"""
from marshmallow import fields, validate

from shared.events.catalogue import PayloadSchema, register
from shared.refusals import RefusalFields

PATHS = ("review", "recommendation", "initial_determination", "recognition")
COMMITTEE_PATHS = ("review", "recommendation", "recognition")
CHANNELS = ("http", "amqp")


class Violation(PayloadSchema):
    rule = fields.String(required=True)
    clause = fields.String(required=True)
    source = fields.String(required=True)
    field = fields.String(required=True, allow_none=True)
    message = fields.String(required=True)
    message_zh = fields.String(required=True)
    context = fields.Dict(keys=fields.String())


class SubmissionReceived(PayloadSchema):
    submission_id = fields.String(required=True)
    portal_id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    plan_year = fields.Integer(required=True)
    path = fields.String(required=True, validate=validate.OneOf(PATHS))
    committee_code = fields.String(required=True, allow_none=True)
    received_at = fields.String(required=True)


class SubmissionAccepted(PayloadSchema):
    """Accepted for a committee (review, recommendation or recognition): review opens a case.

    ``path`` is the path the plan gives it (a recommend-only title makes it ``recommendation``);
    ``requested_path`` what the portal asked. The required fields are the ones review reads.
    """

    submission_id = fields.String(required=True)
    applicant_key = fields.String(required=True)
    plan_year = fields.Integer(required=True)
    path = fields.String(required=True, validate=validate.OneOf(COMMITTEE_PATHS))
    committee_code = fields.String(required=True)
    committee_name = fields.String(required=True)
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    portal_id = fields.String(load_default=None, allow_none=True)
    requested_path = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf(PATHS))
    recognition_basis = fields.String(load_default=None, allow_none=True)
    notes = fields.List(fields.String(), load_default=list)
    accepted_at = fields.String(load_default=None, allow_none=True)
    employer = fields.String(load_default="")  # the employer's name: experts apply 回避 by it


class SubmissionRejected(PayloadSchema):
    submission_id = fields.String(required=True)
    portal_id = fields.String(required=True)
    year = fields.Integer(required=True)
    path = fields.String(required=True, validate=validate.OneOf(PATHS))
    committee_code = fields.String(required=True, allow_none=True)
    rules = fields.List(fields.String(), required=True)
    violations = fields.List(fields.Nested(Violation), required=True)
    route_to = fields.List(fields.String(), required=True)
    rejected_at = fields.String(required=True)


class InitialDeterminationGranted(PayloadSchema):
    submission_id = fields.String(required=True)
    portal_id = fields.String(required=True)
    applicant_key = fields.String(required=True)
    level = fields.String(required=True)
    level_zh = fields.String(required=True)
    title = fields.String(required=True)
    series = fields.String(required=True)
    education = fields.String(required=True)
    required_work_years = fields.Float(required=True)
    mismatch_extra_years = fields.Float(required=True)
    redetermination = fields.Boolean(required=True)
    granted_at = fields.String(required=True)


class RecognitionAccepted(PayloadSchema):
    submission_id = fields.String(required=True)
    portal_id = fields.String(required=True)
    applicant_key = fields.String(required=True)
    basis = fields.String(required=True, validate=validate.OneOf(
        ("aid_dispatch_return", "postdoc_exit", "interprovincial_transfer")))
    committee_code = fields.String(required=True)
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    accepted_at = fields.String(required=True)


class PlanLoaded(PayloadSchema):
    year = fields.Integer(required=True)
    source = fields.String(required=True, allow_none=True)
    committee_count = fields.Integer(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    loaded_at = fields.String(required=True)


class PlanPublished(PayloadSchema):
    year = fields.Integer(required=True)
    published_at = fields.String(required=True)
    committee_codes = fields.List(fields.String(), required=True)


class Approval(PayloadSchema):
    approved_by = fields.String(required=True)
    reason = fields.String(required=True)
    approved_at = fields.String(required=True)


class PlanDeadlineChanged(PayloadSchema):
    year = fields.Integer(required=True)
    committee_code = fields.String(required=True)
    old_deadline = fields.String(required=True)
    new_deadline = fields.String(required=True)
    changed_at = fields.String(required=True)
    plan_state = fields.String(required=True, validate=validate.OneOf(("draft", "published")))
    approval = fields.Nested(Approval, required=True, allow_none=True)


class ArchiveAttemptRecorded(PayloadSchema):
    applicant_key = fields.String(required=True)
    year = fields.Integer(required=True)
    committee_code = fields.String(required=True)
    title = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("passed", "failed")))
    decided_on = fields.String(required=True)


register("submission_received", producer="intake", schema=SubmissionReceived,
         description="an application arrived from the portal (HTTP or queue) and was read")
register("submission_accepted", producer="intake", schema=SubmissionAccepted, consumers=("review",),
         description="intake accepted an application (受理) for a committee: review, "
                     "recommendation (推荐) or recognition (认定); review opens a case")
register("submission_rejected", producer="intake", schema=SubmissionRejected,
         description="intake refused an application, listing every failed rule with its clause")
register("initial_determination_granted", producer="intake", schema=InitialDeterminationGranted,
         description="intake accepted an initial determination (初定) and granted a level and "
                     "title (no committee, no case)")
register("recognition_accepted", producer="intake", schema=RecognitionAccepted,
         description="a recognition (认定) application was accepted, with its basis recorded")
register("plan_loaded", producer="intake", schema=PlanLoaded,
         description="a year's review plan (评审计划) was loaded as a draft")
register("plan_published", producer="intake", schema=PlanPublished,
         description="a year's review plan was published; its deadlines are frozen from now on")
register("plan_deadline_changed", producer="intake", schema=PlanDeadlineChanged,
         description="a committee's material deadline moved (after publication only with a "
                     "recorded special approval)")


class PlanDeadlineChangeRefused(RefusalFields):
    year = fields.Integer(required=True)
    committee_code = fields.String(required=True)
    new_deadline = fields.String(required=True)


register("plan_deadline_change_refused", producer="intake", schema=PlanDeadlineChangeRefused,
         description="the bureau tried to move a material deadline and a rule refused it (e.g. "
                     "published, no special approval): nothing changed, the attempt is on record")
register("archive_attempt_recorded", producer="intake", schema=ArchiveAttemptRecorded,
         description="a review attempt and its outcome entered the applicant's performance "
                     "archive (业绩档案)")
