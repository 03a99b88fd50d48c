"""Builders for expert-pool and draw tests (no broker, no database)."""
from __future__ import annotations

from datetime import date, datetime



from services.experts import draw
from services.experts.pool import (Committee, Expert, ExpertSource, ExpertStatus, TitleLevel)
from services.experts.rules import CommitteeScope, CommitteeTier
from shared.personal import identity_check_char
from shared.clock import CHINA

NOW = datetime(2023, 9, 1, 9, 0, tzinfo=CHINA)
MEETING_DAY = date(2023, 11, 20)


def identity_number(serial: int) -> str:
    """A well-formed (fictitious) identity number: region 330604, born 1970-01-01."""
    body = f"33060419700101{serial % 1000:03d}"
    return body + identity_check_char(body)


def make_expert(n: int, **overrides) -> Expert:
    values = dict(
        expert_id=f"E{n:05d}", identity_number=identity_number(n), name="张三",
        employer=f"单位{n:05d}", specialties=frozenset({"机电制造"}), title="高级工程师",
        title_level=TitleLevel.SENIOR, source=ExpertSource.ENTERPRISE,
        committees=frozenset({"C-JIDIAN"}), term_start=date(2023, 1, 1),
        term_end=date(2025, 12, 31), status=ExpertStatus.ACTIVE)
    values.update(overrides)
    return Expert(**values)


def make_committee(**overrides) -> Committee:
    values = dict(committee_id="C-JIDIAN", name="绍兴市机电制造工程技术人员中级评委会",
                  organising_unit="绍兴市经信局", tier=CommitteeTier.INTERMEDIATE,
                  scope=CommitteeScope.SPECIALTY, term_start=date(2023, 1, 1),
                  term_end=date(2025, 12, 31), specialties=frozenset({"机电制造"}))
    values.update(overrides)
    return Committee(**values)


PARTIES = ("bureau_supervisor", "committee_office")


def secret_for(party: str, i: int) -> str:
    """Fixed, independent-looking secrets so statistical tests are stable."""
    import hashlib
    return hashlib.sha256(f"{party}/{i}".encode()).hexdigest()


def open_test_round(eligible, *, panel_size=5, reserves=2, exclusions=(), parties=PARTIES,
                    beacon=None, round_id="R1", **kwargs) -> draw.DrawRound:
    return draw.open_round(round_id=round_id, committee_id="C-JIDIAN", meeting_id="M1",
                           meeting_date=MEETING_DAY.isoformat(), panel_size=panel_size,
                           reserves=reserves, eligible=sorted(eligible), exclusions=exclusions,
                           parties=parties, opened_at="2023-11-01T09:00:00+08:00",
                           beacon=beacon, **kwargs)


def run_round(rnd: draw.DrawRound, i: int = 0, beacon_value: str | None = None) -> draw.DrawResult:
    for p in rnd.record.parties:
        rnd.commit(p, draw.party_commitment(rnd.digest, p, secret_for(p, i)),
                   at="2023-11-01T09:05:00+08:00")
    if beacon_value is not None:
        rnd.enter_beacon(beacon_value)
    for p in rnd.record.parties:
        rnd.reveal(p, secret_for(p, i), at="2023-11-01T09:10:00+08:00")
    return rnd.finalize(at="2023-11-01T09:11:00+08:00")


