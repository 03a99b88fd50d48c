"""PROVISIONAL contracts of events review consumes whose producers have not registered them yet.

Owned by review until the producer registers the real one in ``shared/events/<producer>.py``:
this module is imported LAST, and each definition here is skipped when the producer's own module
already registered that event type, so the producer's contract always wins. The producer's
registration must list ``review`` among its consumers, or review's inbox will not receive it.

- ``submission_accepted`` (intake): what review needs to open a case.
- ``panel_drawn`` (experts): what review needs to record a meeting's panel (no expert identities:
  panels are sealed; review only needs the size for the quorum).
"""
from marshmallow import fields, validate

from shared.events.catalogue import CATALOGUE, PayloadSchema, register


class SubmissionAcceptedProvisional(PayloadSchema):
    submission_id = fields.String(required=True)
    applicant_key = fields.String(required=True)
    plan_year = fields.Integer(required=True)
    path = fields.String(required=True, validate=validate.OneOf(("review", "recommendation")))
    committee_code = fields.String(required=True)
    committee_name = fields.String(load_default="")
    title = fields.String(required=True)
    specialty = fields.String(required=True)
    accepted_at = fields.DateTime(load_default=None, allow_none=True)
    employer = fields.String(load_default="")  # optional: lets experts apply 回避 by employer


class PanelDrawnProvisional(PayloadSchema):
    meeting_id = fields.String(required=True)
    round_id = fields.String(required=True)
    committee_id = fields.String(load_default=None, allow_none=True)
    panel_size = fields.Integer(required=True, validate=validate.Range(min=1))


if "submission_accepted" not in CATALOGUE.types:
    register("submission_accepted", producer="intake", schema=SubmissionAcceptedProvisional,
             description="intake accepted a submission (受理); review opens a case "
                         "[provisional contract defined by review]",
             consumers=("review",))

if "panel_drawn" not in CATALOGUE.types:
    register("panel_drawn", producer="experts", schema=PanelDrawnProvisional,
             description="the experts service drew a meeting's panel (随机抽取) "
                         "[provisional contract defined by review]",
             consumers=("review",))
