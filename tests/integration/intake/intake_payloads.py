"""Wire-format applications for intake's integration tests."""
from __future__ import annotations

import copy
import json

from sqlalchemy import func, select

from services.intake import models
from services.intake.rules import identity_check_char


def identity_number(region="330604", born="19900101", seq="123") -> str:
    first17 = region + born + seq
    return first17 + identity_check_char(first17)


def h(i: int) -> str:
    return "sha256:" + f"{i:064x}"


def review_application(portal_id="P-1", **changes) -> dict:
    """A review application to R22 (水利, 工程师) from a state water company in 上虞区."""
    body = {
        "portal_id": portal_id,
        "plan_year": 2023,
        "path": "review",
        "applicant": {"identity_number": identity_number(), "name": "张三"},
        "employer": {"name": "上虞某水务有限公司", "location": "shangyu", "ownership": "state",
                     "industry": "water_conservancy"},
        "education": {"level": "bachelor", "major": "水利水电工程", "major_matches_specialty": True,
                      "graduated_on": "2012-07-01"},
        "professional_work_years": 10,
        "title": "工程师",
        "specialty": "水利规划设计",
        "committee_code": "R22",
        "current_title": "助理工程师",
        "materials": [
            {"kind": "education_certificate", "title": "学历证书.pdf", "content_hash": h(1)},
            {"kind": "work_experience_proof", "title": "工作年限证明.pdf", "content_hash": h(2)},
            {"kind": "performance_materials", "title": "业绩材料.pdf", "content_hash": h(3)},
            {"kind": "current_title_certificate", "title": "助理工程师证书.pdf", "content_hash": h(4)},
        ],
        "achievements": [{"title": "某水库除险加固设计", "dated": "2022-05-01", "representative": True}],
    }
    for key, value in changes.items():
        body[key] = value
    return copy.deepcopy(body)


def determination_application(portal_id="P-D1", **changes) -> dict:
    body = review_application(
        portal_id, path="initial_determination", committee_code=None, title="助理工程师",
        specialty="机电制造", series="engineering", current_title=None,
        employer={"name": "上虞某机械有限公司", "location": "shangyu", "ownership": "state",
                  "industry": "industrial"},
        education={"level": "bachelor", "major": "机械设计制造及其自动化",
                   "major_matches_specialty": True, "graduated_on": "2022-05-01"},
        professional_work_years=1,
        materials=[{"kind": "education_certificate", "title": "学历证书.pdf", "content_hash": h(1)},
                   {"kind": "work_experience_proof", "title": "工作年限证明.pdf", "content_hash": h(2)}],
        achievements=[])
    body.update(changes)
    return body


def outbox_events(svc, event_type=None) -> list[dict]:
    db = svc.database()
    with db.engine.connect() as conn:
        rows = conn.execute(select(db.outbox.c.envelope).order_by(db.outbox.c.id)).all()
    events = [json.loads(r.envelope) for r in rows]
    return [e for e in events if event_type is None or e["event_type"] == event_type]


def count_rows(svc, table) -> int:
    db = svc.database()
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def submissions(svc) -> int:
    return count_rows(svc, models.submissions)


def stored_materials(svc) -> list:
    db = svc.database()
    with db.engine.connect() as conn:
        return conn.execute(select(models.materials)).all()
