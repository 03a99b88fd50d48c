"""Event types produced by the audit service (owned by that service; the contract others read).

Notices (通报) are events: every violation a compliance monitor finds is announced as
``notice_issued``; inspections (随机抽查, 行业巡查, 重点督查) and signed tree heads are announced
too, so they are themselves part of the tamper-evident record. Payloads carry ids, never names or
identity numbers.
"""
from marshmallow import fields, validate

from shared.events.catalogue import PayloadSchema, register


class NoticeIssued(PayloadSchema):
    notice_id = fields.String(required=True)
    rule_id = fields.String(required=True)
    clause = fields.String(required=True)
    committee_id = fields.String(required=True, allow_none=True)
    subject_kind = fields.String(required=True)
    subject_id = fields.String(required=True)
    notify_unit = fields.String(required=True, allow_none=True)
    detail = fields.String(required=True, allow_none=True)
    source_event_id = fields.String(required=True)
    source_position = fields.Integer(required=True)


class ViolationAcknowledged(PayloadSchema):
    notice_id = fields.String(required=True)
    acknowledged_by = fields.String(required=True)
    note = fields.String(required=True, allow_none=True)


class TreeHeadSigned(PayloadSchema):
    log_id = fields.String(required=True)
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True)
    timestamp = fields.String(required=True)
    key_id = fields.String(required=True)
    signature = fields.String(required=True)


class SpotCheckPlanned(PayloadSchema):
    inspection_id = fields.String(required=True)
    committee_id = fields.String(required=True)
    eligible_hash = fields.String(required=True)
    eligible_count = fields.Integer(required=True)
    share = fields.String(required=True)
    sample_size = fields.Integer(required=True)
    algorithm = fields.String(required=True)


class SpotCheckCommitted(PayloadSchema):
    inspection_id = fields.String(required=True)
    party = fields.String(required=True)
    commitment = fields.String(required=True)


class SpotCheckBeaconEntered(PayloadSchema):
    inspection_id = fields.String(required=True)
    beacon = fields.String(required=True)


class SpotCheckRevealed(PayloadSchema):
    inspection_id = fields.String(required=True)
    party = fields.String(required=True)
    secret = fields.String(required=True)


class SpotCheckDrawn(PayloadSchema):
    inspection_id = fields.String(required=True)
    committee_id = fields.String(required=True)
    seed = fields.String(required=True)
    case_ids = fields.List(fields.String(), required=True)
    receipt = fields.Dict(required=True)


class PatrolStarted(PayloadSchema):
    inspection_id = fields.String(required=True)
    committee_id = fields.String(required=True, allow_none=True)
    industry = fields.String(required=True, allow_none=True)
    case_ids = fields.List(fields.String(), required=True)


class KeySupervisionStarted(PayloadSchema):
    inspection_id = fields.String(required=True)
    committee_id = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    case_ids = fields.List(fields.String(), required=True)


class InspectionResultRecorded(PayloadSchema):
    inspection_id = fields.String(required=True)
    case_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(
        ("compliant", "issues_found", "referred")))
    inspector = fields.String(required=True)


register("notice_issued", producer="audit", schema=NoticeIssued,
         description="a compliance monitor found a violation: notice (通报) with rule id and clause "
                     "to the committee office, or to an expert's unit")
register("violation_acknowledged", producer="audit", schema=ViolationAcknowledged,
         description="an inspector acknowledged a notice")
register("tree_head_signed", producer="audit", schema=TreeHeadSigned,
         description="the audit log's Merkle tree head was signed with the bureau's Ed25519 key")
register("spot_check_planned", producer="audit", schema=SpotCheckPlanned,
         description="a spot check (随机抽查) was planned: eligible list hash, share, sample size and "
                     "algorithm committed before any randomness")
register("spot_check_committed", producer="audit", schema=SpotCheckCommitted,
         description="a party committed to its secret contribution to a spot check's seed")
register("spot_check_beacon_entered", producer="audit", schema=SpotCheckBeaconEntered,
         description="the bureau entered an external public beacon value for a spot check")
register("spot_check_revealed", producer="audit", schema=SpotCheckRevealed,
         description="a party revealed its secret contribution to a spot check's seed")
register("spot_check_drawn", producer="audit", schema=SpotCheckDrawn,
         description="a spot check's sample was drawn; the receipt replays it")
register("patrol_started", producer="audit", schema=PatrolStarted,
         description="an industry patrol (行业巡查) selected every case of a committee or industry")
register("key_supervision_started", producer="audit", schema=KeySupervisionStarted,
         description="a committee was put under key supervision (重点督查): every case inspected")
register("inspection_result_recorded", producer="audit", schema=InspectionResultRecorded,
         description="an inspector recorded the result of inspecting one case")
