"""Marshmallow schemas of intake's inputs: every field validated, errors naming the field.

The shape is checked here; the notice's rules (check digit, committee, scope, deadlines…) are
checked by ``rules.py`` so a refusal can cite its clause.
"""
from __future__ import annotations

from typing import Any

from marshmallow import (RAISE, ValidationError, fields, post_load, validate,
                         validates_schema)

from services.intake.application import (
    CLASSIFICATIONS, EDUCATION_LEVELS, INDUSTRIES, LOCATIONS, OWNERSHIPS, PATHS, Achievement,
    Applicant, Application, Education, Employer, Material, PreviousDetermination)
from services.intake.initial_determination import default_table
from services.intake.rules import COMMITTEE_PATHS, required_materials
from shared.compiled_schema import CompiledSchema

PORTAL_ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$",
                            error="1-64 letters, digits, '.', '_', ':' or '-'")
CONTENT_HASH = validate.Regexp(r"^(sha256:)?[0-9a-f]{64}$",
                               error="a SHA-256 hex digest (optionally prefixed 'sha256:')")
LEVELS = tuple(default_table().levels)


def _text(max_len: int, **kw) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_len), **kw)


class StrictSchema(CompiledSchema):
    """Unknown fields are refused; the field loop is compiled (the portal's applications are
    the hottest input intake reads)."""

    class Meta:
        unknown = RAISE


class NonBlank(validate.Validator):
    def __call__(self, value: str) -> str:
        if not value.strip():
            raise ValidationError("must not be blank")
        return value


def _words(max_len: int, **kw) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_len), NonBlank()], **kw)


class ApplicantSchema(StrictSchema):
    identity_number = fields.String(required=True, validate=validate.Length(min=1, max=32))
    name = _words(64, required=True)


class EmployerSchema(StrictSchema):
    name = _words(200, required=True)
    location = fields.String(required=True, validate=validate.OneOf(sorted(LOCATIONS)))
    ownership = fields.String(required=True, validate=validate.OneOf(sorted(OWNERSHIPS)))
    industry = fields.String(required=True, validate=validate.OneOf(sorted(INDUSTRIES)))
    self_appraisal_unit = fields.Boolean(load_default=False)
    socialized_evaluation_unit = fields.Boolean(load_default=False)
    private_self_evaluation_unit = fields.Boolean(load_default=False)


class EducationSchema(StrictSchema):
    level = fields.String(required=True, validate=validate.OneOf(sorted(EDUCATION_LEVELS)))
    major = _words(100, required=True)
    major_matches_specialty = fields.Boolean(required=True)
    graduated_on = fields.Date(required=True)


class PreviousDeterminationSchema(StrictSchema):
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    education = fields.String(required=True, validate=validate.OneOf(sorted(EDUCATION_LEVELS)))
    determined_on = fields.Date(load_default=None, allow_none=True)


class MaterialSchema(StrictSchema):
    kind = fields.String(required=True,
                         validate=validate.OneOf(sorted(required_materials()["kinds"])))
    title = _words(200, required=True)
    content_hash = fields.String(required=True, validate=CONTENT_HASH)
    classification = fields.String(load_default="public",
                                   validate=validate.OneOf(sorted(CLASSIFICATIONS)))


class AchievementSchema(StrictSchema):
    title = _words(200, required=True)
    dated = fields.Date(required=True)
    representative = fields.Boolean(load_default=False)
    kind = fields.String(load_default="other", validate=validate.Length(min=1, max=40))


class ApplicationSchema(StrictSchema):
    """一份申报 as the portal sends it (HTTP body or queue message)."""

    portal_id = fields.String(required=True, validate=PORTAL_ID)
    plan_year = fields.Integer(required=True, strict=True, validate=validate.Range(2000, 2100))
    path = fields.String(required=True, validate=validate.OneOf(sorted(PATHS)))
    applicant = fields.Nested(ApplicantSchema, required=True)
    employer = fields.Nested(EmployerSchema, required=True)
    education = fields.Nested(EducationSchema, required=True)
    professional_work_years = fields.Float(required=True, allow_nan=False,
                                           validate=validate.Range(0, 60))
    title = _words(50, required=True)
    specialty = _words(100, required=True)
    committee_code = fields.String(load_default=None, allow_none=True,
                                   validate=validate.Length(min=1, max=8))
    current_title = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Length(min=1, max=50))
    series = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(sorted(default_table().series_titles)))
    recognition_basis = fields.String(load_default=None, allow_none=True,
                                      validate=validate.Length(min=1, max=40))
    previous_determination = fields.Nested(PreviousDeterminationSchema, load_default=None,
                                           allow_none=True)
    materials = fields.List(fields.Nested(MaterialSchema), load_default=list,
                            validate=validate.Length(max=100))
    achievements = fields.List(fields.Nested(AchievementSchema), load_default=list,
                               validate=validate.Length(max=200))

    @validates_schema
    def _committee_for_committee_paths(self, data: dict[str, Any], **kwargs) -> None:
        if data.get("path") in COMMITTEE_PATHS and not data.get("committee_code"):
            raise ValidationError("required for review, recommendation and recognition",
                                  field_name="committee_code")
        if data.get("path") == "recognition" and not data.get("recognition_basis"):
            raise ValidationError("required for recognition (认定)", field_name="recognition_basis")

    @post_load
    def _to_domain(self, data: dict[str, Any], **kwargs) -> Application:
        prev = data.get("previous_determination")
        return Application(
            portal_id=data["portal_id"], plan_year=data["plan_year"], path=data["path"],
            applicant=Applicant(**data["applicant"]), employer=Employer(**data["employer"]),
            education=Education(**data["education"]),
            professional_work_years=float(data["professional_work_years"]),
            title=data["title"].strip(), specialty=data["specialty"].strip(),
            committee_code=data.get("committee_code"), current_title=data.get("current_title"),
            series=data.get("series"), recognition_basis=data.get("recognition_basis"),
            previous_determination=PreviousDetermination(**prev) if prev else None,
            materials=tuple(Material(**m) for m in data.get("materials") or ()),
            achievements=tuple(Achievement(**a) for a in data.get("achievements") or ()))


class ApprovalSchema(StrictSchema):
    approved_by = _words(100, required=True)
    reason = _words(500, required=True)
    approved_at = fields.AwareDateTime(required=True, format="iso")


class DeadlineChangeSchema(StrictSchema):
    """A bureau's request to move one committee's material deadline."""

    new_deadline = fields.Date(required=True)
    approval = fields.Nested(ApprovalSchema, load_default=None, allow_none=True)


class AttemptSchema(StrictSchema):
    """An attempt entered into the performance archive (业绩档案) by a committee office."""

    applicant_key = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{32}$"))
    year = fields.Integer(required=True, strict=True, validate=validate.Range(2000, 2100))
    committee_code = fields.String(required=True, validate=validate.Length(min=1, max=8))
    title = _words(50, required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("passed", "failed")))
    decided_on = fields.Date(required=True)


APPLICATION_SCHEMA = ApplicationSchema()
DEADLINE_CHANGE_SCHEMA = DeadlineChangeSchema()
ATTEMPT_SCHEMA = AttemptSchema()
