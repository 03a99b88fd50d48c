"""What the portal submits (申报材料) and what the platform keeps about an applicant (业绩档案).

Pure domain objects; ``services/intake/schemas.py`` builds them from the wire format.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from shared import personal

#: Where an employer is (用人单位所在地): Shaoxing's districts and counties, the Hangzhou Bay
#: Shangyu zone (part of 上虞区), Shanghai (for Shaoxing firms based there) or elsewhere.
LOCATIONS = {
    "yuecheng": "越城区",
    "keqiao": "柯桥区",
    "shangyu": "上虞区",
    "zhuji": "诸暨市",
    "shengzhou": "嵊州市",
    "xinchang": "新昌县",
    "hangzhou_bay_shangyu_zone": "杭州湾上虞经济开发区",
    "shanghai": "上海市（驻沪）",
    "outside": "绍兴市外",
}
#: 全市: the districts and counties of Shaoxing (the zone lies in 上虞区).
SHAOXING_LOCATIONS = frozenset({"yuecheng", "keqiao", "shangyu", "zhuji", "shengzhou", "xinchang",
                                "hangzhou_bay_shangyu_zone"})
SHANGYU_LOCATIONS = frozenset({"shangyu", "hangzhou_bay_shangyu_zone"})

OWNERSHIPS = {
    "state": "国有企业",
    "private": "民营企业",
    "collective": "集体企业",
    "foreign": "外资企业",
    "public_institution": "事业单位",
    "government": "机关",
    "social_organization": "社会组织",
}

INDUSTRIES = {
    "industrial": "工业",
    "construction": "建筑",
    "survey_design": "勘察设计",
    "water_conservancy": "水利",
    "transport": "交通",
    "commerce_service": "商贸服务",
    "education": "教育",
    "health": "卫生",
    "culture_media": "文化传媒",
    "agriculture": "农业",
    "research": "科研",
    "legal_services": "法律服务",
    "public_administration": "公共管理",
    "other": "其他",
}

PATHS = {
    "review": "评审",
    "recommendation": "推荐",
    "initial_determination": "初定",
    "recognition": "认定",
}

#: 认定: staff back from aid/dispatch assignments, post-doctoral leavers, transfers from other provinces.
RECOGNITION_BASES = {
    "aid_dispatch_return": "执行援派任务返回",
    "postdoc_exit": "博士后出站",
    "interprovincial_transfer": "外省调入",
}

EDUCATION_LEVELS = {
    "secondary_vocational": "中专",
    "junior_college": "大专",
    "bachelor": "本科",
    "second_bachelor": "第二学士",
    "postgraduate_class": "研究生班",
    "master": "硕士",
    "doctorate": "博士",
}

#: 严禁上传涉密资料: these markings make a material classified.
CLASSIFIED_MARKINGS = ("绝密", "机密", "秘密", "涉密")
_CLASSIFIED_MARKING = re.compile("|".join(CLASSIFIED_MARKINGS))
CLASSIFICATIONS = {"public": "公开", "internal": "内部", "绝密": "绝密", "机密": "机密",
                   "秘密": "秘密", "涉密": "涉密"}


@dataclass(frozen=True)
class Applicant:
    identity_number: str
    name: str


@dataclass(frozen=True)
class Employer:
    """用人单位: where it is, who owns it, what it does, and how its staff are evaluated."""

    name: str
    location: str
    ownership: str
    industry: str
    self_appraisal_unit: bool = False          # 自主评聘单位
    socialized_evaluation_unit: bool = False   # 社会化评价单位
    private_self_evaluation_unit: bool = False  # 民营企业自主评价单位

    @property
    def is_private_industrial(self) -> bool:
        """民营工业企业 (建筑、水利、交通、商贸服务等非工业企业除外)."""
        return self.ownership == "private" and self.industry == "industrial"


@dataclass(frozen=True)
class Education:
    level: str
    major: str
    major_matches_specialty: bool
    graduated_on: date


@dataclass(frozen=True)
class Material:
    """One uploaded material: what it is, its content hash and its classification marking."""

    kind: str
    title: str
    content_hash: str
    classification: str = "public"

    @cached_property
    def is_classified(self) -> bool:
        """Marked classified, or its title carries a marking (asked several times per check)."""
        return (self.classification in CLASSIFIED_MARKINGS
                or _CLASSIFIED_MARKING.search(self.title or "") is not None)


@dataclass(frozen=True)
class Achievement:
    """业绩: a dated achievement; representative ones (代表性成果) are flagged."""

    title: str
    dated: date
    representative: bool = False
    kind: str = "other"


@dataclass(frozen=True)
class PreviousDetermination:
    """An earlier 初定: the level and the education it was based on."""

    level: str
    education: str
    determined_on: date | None = None


@dataclass(frozen=True)
class Application:
    """一份申报: everything the portal submits for one applicant, one path, one year."""

    portal_id: str
    plan_year: int
    path: str
    applicant: Applicant
    employer: Employer
    education: Education
    professional_work_years: float
    title: str
    specialty: str
    committee_code: str | None = None
    current_title: str | None = None
    series: str | None = None
    recognition_basis: str | None = None
    previous_determination: PreviousDetermination | None = None
    materials: tuple[Material, ...] = ()
    achievements: tuple[Achievement, ...] = ()

    def without_classified_materials(self) -> "Application":
        from dataclasses import replace
        return replace(self, materials=tuple(m for m in self.materials if not m.is_classified))


@dataclass(frozen=True)
class Attempt:
    """An earlier application reviewed by a committee, and how it ended."""

    year: int
    committee_code: str
    title: str
    outcome: str              # passed | failed
    decided_on: date


@dataclass
class PerformanceArchive:
    """业绩档案: an applicant's achievements and review attempts over the years.

    Keyed by a pseudonymous applicant key, never by the identity number in clear.
    """

    applicant_key: str
    achievements: list[Achievement] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def failed_attempt_in(self, year: int) -> Attempt | None:
        failed = [a for a in self.attempts if a.year == year and a.outcome == "failed"]
        return max(failed, key=lambda a: a.decided_on) if failed else None

    def achievements_after(self, moment: date) -> list[Achievement]:
        return [a for a in self.achievements if a.dated > moment]

    def record_attempt(self, attempt: Attempt) -> None:
        if attempt not in self.attempts:
            self.attempts.append(attempt)

    def add_achievements(self, achievements: list[Achievement] | tuple[Achievement, ...]) -> None:
        for a in achievements:
            if a not in self.achievements:
                self.achievements.append(a)

    def as_dict(self) -> dict[str, Any]:
        return {
            "applicant_key": self.applicant_key,
            "achievements": [{"title": a.title, "dated": a.dated.isoformat(),
                              "representative": a.representative, "kind": a.kind}
                             for a in self.achievements],
            "attempts": [{"year": a.year, "committee_code": a.committee_code, "title": a.title,
                          "outcome": a.outcome, "decided_on": a.decided_on.isoformat()}
                         for a in self.attempts],
        }



# one implementation for the platform (shared/personal.py): masks and the applicant pseudonym
mask_identity_number = personal.mask_identity
mask_name = personal.mask_name
derive_applicant_key = personal.applicant_key
