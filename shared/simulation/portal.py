"""The upstream declaration portal (申报平台), simulated: realistic applications for the 2023
plan, and applications that a given intake rule must refuse.

Every application is plain JSON as the portal sends it (the intake ``ApplicationSchema``).
Identity numbers are generated with valid GB 11643 check characters for Shaoxing's districts.
"""
from __future__ import annotations

import copy
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator

from kombu import Connection, Producer

from shared.messaging import PORTAL_SUBMISSIONS_QUEUE, declare_topology
from shared.personal import identity_check_char

# 越城 柯桥 上虞 诸暨 嵊州 新昌
SHAOXING_REGIONS = ("330602", "330603", "330604", "330681", "330683", "330624")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文斌辉玲红梅鑫鹏飞宇浩晨欣怡佳琳雪婷俊豪博凯"


def identity_number(rng: random.Random, born_year: int | None = None) -> str:
    region = rng.choice(SHAOXING_REGIONS)
    year = born_year or rng.randint(1965, 1998)
    born = date(year, rng.randint(1, 12), rng.randint(1, 28))
    first17 = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + identity_check_char(first17)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def content_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def material(kind: str, title: str, classification: str = "public") -> dict[str, Any]:
    return {"kind": kind, "title": title, "content_hash": content_hash(kind + title),
            "classification": classification}


@dataclass(frozen=True)
class Template:
    """A committee the simulated season applies to, with an employer and education that pass."""

    committee_code: str
    title: str
    specialties: tuple[str, ...]
    employer_names: tuple[str, ...]
    location: str
    ownership: str
    industry: str
    majors: tuple[str, ...]
    current_title: str


TEMPLATES: dict[str, Template] = {
    # 绍兴市水利工程技术人员中级评委会: 工程师, 全市, material deadline August, review October
    "R22": Template("R22", "工程师", ("水利规划设计", "技术开发", "建设管理", "运行管理"),
                    ("上虞水务集团有限公司", "绍兴市曹娥江水利工程有限公司", "诸暨市水利建设有限公司"),
                    "shangyu", "state", "water_conservancy", ("水利水电工程", "水文与水资源工程"),
                    "助理工程师"),
    # 上虞区建设工程中级评委会 (下放): 工程师 建筑施工, 上虞区, deadline September, review December
    "D01": Template("D01", "工程师", ("建筑施工",),
                    ("上虞建工集团有限公司", "浙江舜江建设集团有限公司", "上虞城建工程有限公司"),
                    "shangyu", "private", "construction", ("土木工程", "建筑工程技术"),
                    "助理工程师"),
    # 上虞区中小学教师中级评委会 (下放): 一级教师, 上虞区, deadline November, review December
    "D02": Template("D02", "一级教师", ("中小学教师",),
                    ("上虞区实验小学", "上虞区春晖中学", "上虞区百官中学"),
                    "shangyu", "public_institution", "education", ("汉语言文学", "数学与应用数学"),
                    "二级教师"),
}


class ApplicationFactory:
    """Applications as the portal would send them. Deterministic for a seed."""

    def __init__(self, seed: int = 2023, plan_year: int = 2023, prefix: str = "P") -> None:
        self.rng = random.Random(seed)
        self.plan_year = plan_year
        self.prefix = prefix
        self.counter = 0

    def next_portal_id(self) -> str:
        self.counter += 1
        return f"{self.prefix}-{self.plan_year}-{self.counter:06d}"

    def valid(self, template: str = "R22", **overrides: Any) -> dict[str, Any]:
        """An application built on the committee ``template`` that every intake rule accepts
        (``overrides`` replace top-level fields)."""
        t = TEMPLATES[template]
        rng = self.rng
        graduated = date(rng.randint(2005, 2016), 7, 1)
        app: dict[str, Any] = {
            "portal_id": self.next_portal_id(),
            "plan_year": self.plan_year,
            "path": "review",
            "applicant": {"identity_number": identity_number(rng), "name": person_name(rng)},
            "employer": {"name": rng.choice(t.employer_names), "location": t.location,
                         "ownership": t.ownership, "industry": t.industry},
            "education": {"level": "bachelor", "major": rng.choice(t.majors),
                          "major_matches_specialty": True,
                          "graduated_on": graduated.isoformat()},
            "professional_work_years": float(self.plan_year - graduated.year),
            "title": t.title,
            "specialty": rng.choice(t.specialties),
            "committee_code": t.committee_code,
            "current_title": t.current_title,
            "materials": [material("education_certificate", "学历证书.pdf"),
                          material("work_experience_proof", "工作年限证明.pdf"),
                          material("current_title_certificate", "现职称证书.pdf"),
                          material("performance_materials", "业绩材料.pdf")],
            "achievements": [{"title": f"代表性成果{rng.randint(1, 999)}",
                              "dated": date(self.plan_year - 1, rng.randint(1, 12), 15).isoformat(),
                              "representative": True, "kind": "project"}],
        }
        app.update(overrides)
        return app

    def refused(self, rule_id: str) -> dict[str, Any]:
        """An application that ``rule_id`` refuses (a valid one with one thing wrong)."""
        build = REFUSALS.get(rule_id)
        if build is None:
            raise KeyError(f"no refusal case for {rule_id}")
        return build(self)

    def season(self, count: int, committees: tuple[str, ...] = ("R22", "D01", "D02"),
               refusal_rules: tuple[str, ...] = ()) -> Iterator[tuple[dict[str, Any], str | None]]:
        """``count`` valid applications spread over ``committees``, then one refusal per rule:
        ``(application, expected refusing rule or None)``."""
        for i in range(count):
            yield self.valid(committees[i % len(committees)]), None
        for rule in refusal_rules:
            yield self.refused(rule), rule


def _with(app: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    app = copy.deepcopy(app)
    target = app
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return app


def _bad_check_digit(f: ApplicationFactory) -> dict[str, Any]:
    app = f.valid("R22")
    number = app["applicant"]["identity_number"]
    wrong = "0" if number[-1] != "0" else "1"
    return _with(app, "applicant.identity_number", number[:-1] + wrong)


def _reapplicant_without_new_achievements(f: ApplicationFactory) -> dict[str, Any]:
    """Needs the archive to hold a failed attempt of this applicant in the previous year first
    (:func:`failed_last_year`); its only achievement predates that attempt."""
    app = f.valid("R22")
    app["achievements"] = [{"title": "旧成果", "dated": f"{f.plan_year - 2}-06-01",
                            "representative": True, "kind": "project"}]
    return app


def _initial_determination(f: ApplicationFactory, **changes: Any) -> dict[str, Any]:
    app = f.valid("R22")
    app.update({"path": "initial_determination", "committee_code": None, "title": "助理工程师",
                "specialty": "机电制造", "series": "engineering", "current_title": None,
                "professional_work_years": 1.0,
                "employer": {"name": "上虞某机械有限公司", "location": "shangyu",
                             "ownership": "state", "industry": "industrial"},
                "education": {"level": "bachelor", "major": "机械设计制造及其自动化",
                              "major_matches_specialty": True, "graduated_on": f"{f.plan_year - 1}-07-01"},
                "materials": [material("education_certificate", "学历证书.pdf"),
                              material("work_experience_proof", "工作年限证明.pdf")],
                "achievements": []})
    for key, value in changes.items():
        app = _with(app, key, value)
    return app


def _mechatronics(f: ApplicationFactory, committee: str, **employer: Any) -> dict[str, Any]:
    """An 工程师 application in 机电制造 from an industrial employer in 上虞区."""
    base = {"name": "上虞某电机有限公司", "location": "shangyu", "ownership": "state",
            "industry": "industrial"}
    base.update(employer)
    specialty = "机电制造相关专业" if committee == "S07" else "生产制造（工艺）"
    return f.valid("R22", committee_code=committee, specialty=specialty, employer=base)


def _recognition(f: ApplicationFactory, basis: str) -> dict[str, Any]:
    app = f.valid("R22", path="recognition", recognition_basis=basis)
    app["materials"] = app["materials"] + [material("recognition_proof", "认定依据.pdf")]
    return app


REFUSALS = {
    "INTAKE-IDENTITY": _bad_check_digit,
    "INTAKE-COMMITTEE": lambda f: f.valid("R22", committee_code="R99"),
    "INTAKE-TITLE": lambda f: f.valid("R22", title="教授"),
    "INTAKE-SPECIALTY": lambda f: f.valid("R22", specialty="核电站运行"),
    # 上虞区 committee, employer in 柯桥区
    "INTAKE-SCOPE": lambda f: _with(f.valid("D01"), "employer.location", "keqiao"),
    # 自主评聘单位除外 (D02)
    "INTAKE-EXCLUDED-SELF-APPRAISAL": lambda f: _with(f.valid("D02"),
                                                      "employer.self_appraisal_unit", True),
    # R22's deadline is the end of August; the simulated portal sends to R13 (deadline June)
    "INTAKE-DEADLINE": lambda f: f.valid("R22", committee_code="R13", title="助理研究员",
                                         specialty="自然科学研究"),
    "INTAKE-MATERIALS-COMPLETE": lambda f: _with(f.valid("R22"), "materials",
                                                 [material("education_certificate", "学历证书.pdf")]),
    "INTAKE-CLASSIFIED": lambda f: _with(
        f.valid("R22"), "materials",
        f.valid("R22")["materials"] + [material("other", "内部设计图.pdf", "机密")]),
    "INTAKE-REAPPLICANT": _reapplicant_without_new_achievements,
    "INTAKE-INITIAL-QUALIFICATION": lambda f: _initial_determination(
        f, professional_work_years=0.0),
    "INTAKE-INITIAL-MAJOR": lambda f: _initial_determination(
        f, **{"education.major_matches_specialty": False}),
    # already determined 助理级 with the same bachelor degree: nothing new to determine
    "INTAKE-REDETERMINATION": lambda f: _initial_determination(
        f, previous_determination={"level": "assistant", "education": "bachelor",
                                   "determined_on": f"{f.plan_year - 1}-09-01"}),
    # 社会化评价、民营企业自主评价除外 (R07)
    "INTAKE-EXCLUDED-SOCIALIZED": lambda f: _mechatronics(f, "R07",
                                                          socialized_evaluation_unit=True),
    # a private industrial firm in 上虞区 belongs to the socialized committee S07, not R07
    "INTAKE-ROUTING": lambda f: _mechatronics(f, "R07", ownership="private"),
    # 限民营工业企业申报 (S07)
    "INTAKE-PRIVATE-INDUSTRIAL-ONLY": lambda f: _mechatronics(f, "S07", ownership="state"),
    # 安全工程专业中级为考试取得 (R32)
    "INTAKE-EXAM-ONLY": lambda f: f.valid("R22", committee_code="R32", specialty="安全工程"),
    "INTAKE-RECOGNITION": lambda f: _recognition(f, "ordinary_transfer"),
}


def portal_message(app: dict[str, Any]) -> bytes:
    return json.dumps(app, ensure_ascii=False).encode()


class PortalPublisher:
    """Publishes applications to intake's durable portal queue, with publisher confirms."""

    def __init__(self, amqp_uri: str) -> None:
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.connection.ensure_connection(max_retries=3)
        channel = self.connection.channel()
        declare_topology(channel)
        self.producer = Producer(channel)

    def publish(self, app: dict[str, Any]) -> None:
        self.producer.publish(portal_message(app), exchange="",
                              routing_key=PORTAL_SUBMISSIONS_QUEUE, delivery_mode=2,
                              content_type="application/json", content_encoding="utf-8",
                              message_id=app.get("portal_id"))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "PortalPublisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
