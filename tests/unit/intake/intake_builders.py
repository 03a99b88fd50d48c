"""Builders for intake unit tests: a valid application, changed one field at a time."""
from __future__ import annotations

from datetime import date, datetime

from shared.clock import CHINA
from services.intake.application import (
    Achievement, Applicant, Application, Education, Employer, Material, PerformanceArchive)
from services.intake.plan import load_plan_year
from services.intake.rules import identity_check_char


def identity_number(region: str = "330604", born: str = "19900101", seq: str = "123") -> str:
    first17 = region + born + seq
    return first17 + identity_check_char(first17)


VALID_ID = identity_number()


def china(y, m, d, hh=9, mm=0, ss=0, us=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=CHINA)


IN_TIME = china(2023, 7, 1)


def published_plan(year: int = 2023):
    plan = load_plan_year(year)
    plan.publish(china(year, 6, 1))
    return plan


def employer(**kw) -> Employer:
    base = dict(name="上虞某机械有限公司", location="shangyu", ownership="state", industry="industrial")
    base.update(kw)
    return Employer(**base)


def materials(*kinds: str, classification: str = "public") -> tuple[Material, ...]:
    return tuple(Material(kind=k, title=f"{k}.pdf", content_hash=f"sha256:{i:064x}",
                          classification=classification) for i, k in enumerate(kinds))


REVIEW_MATERIALS = materials("education_certificate", "work_experience_proof",
                             "performance_materials", "current_title_certificate")
DETERMINATION_MATERIALS = materials("education_certificate", "work_experience_proof")


def application(**kw) -> Application:
    """A review application to R22 (水利, 工程师) from a state water company in 上虞区 that passes."""
    base = dict(
        portal_id="P-0001", plan_year=2023, path="review",
        applicant=Applicant(identity_number=VALID_ID, name="张三"),
        employer=employer(industry="water_conservancy"),
        education=Education(level="bachelor", major="水利水电工程", major_matches_specialty=True,
                            graduated_on=date(2012, 7, 1)),
        professional_work_years=10.0, title="工程师", specialty="水利规划设计",
        committee_code="R22", current_title="助理工程师",
        materials=REVIEW_MATERIALS,
        achievements=(Achievement(title="某水库除险加固设计", dated=date(2022, 5, 1), representative=True),),
    )
    base.update(kw)
    return Application(**base)


def determination(**kw) -> Application:
    """An initial determination (初定) of a bachelor with one year in a 上虞 state factory."""
    base = dict(
        path="initial_determination", committee_code=None, title="助理工程师", specialty="机电制造",
        series="engineering", current_title=None, employer=employer(),
        education=Education(level="bachelor", major="机械设计制造及其自动化",
                            major_matches_specialty=True, graduated_on=date(2022, 7, 1)),
        professional_work_years=1.0, materials=DETERMINATION_MATERIALS, achievements=())
    base.update(kw)
    return application(**base)


def archive(**kw) -> PerformanceArchive:
    return PerformanceArchive(applicant_key="k-1", **kw)
