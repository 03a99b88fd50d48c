"""Rules of the expert pool (专家库) and of panel draws (评委抽取), and the numbers behind them.

Sources: the notice's clause 三(一) (规范管理评审专家库) and national regulation
(职称评审管理暂行规定, 人社部令第40号). The numbers (pool minimums, term length, emergency share,
outside-unit share) are configuration: :class:`ExpertsPolicy` holds the defaults and
:func:`policy_from_mapping` reads overrides (a YAML/JSON file or the environment, wired by the service).

Pure domain: no nameko, sqlalchemy, marshmallow or kombu imports.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import lru_cache
from fractions import Fraction
from typing import Any, Mapping

from shared.errors import InvalidInput
from shared.personal import identity_problem, mask_identity
from shared.personal import mask_name as _mask_name
from shared.rules import NATIONAL_REGULATION, NOTICE, define_rule

# --- rules -----------------------------------------------------------------------------------

POOL_TERM = define_rule(
    "EXPERTS-POOL-TERM", "三(一)",
    "an expert's term in the pool lasts at most three years",
    "专家库人员任期为三年", source=NOTICE)
POOL_CHANGE_APPROVAL = define_rule(
    "EXPERTS-POOL-CHANGE-APPROVAL", "三(一)",
    "adding or changing pool experts during a term takes effect only after the bureau's "
    "prior approval (备案同意)",
    "任期内专家库人员如需新增或调整，需事先将拟新增或调整情况报区人力社保局备案同意", source=NOTICE)
POOL_SIZE = define_rule(
    "EXPERTS-POOL-SIZE", "评审委员会组成（评审专家人数）",
    "a committee's expert pool has at least the minimum number of experts for its tier",
    "评审专家人数不少于规定数量", source=NATIONAL_REGULATION)
POOL_OUTSIDE_SHARE = define_rule(
    "EXPERTS-POOL-OUTSIDE-SHARE", "评审委员会组成（本单位以外专家）",
    "a committee's pool includes a share of experts from outside the organising unit",
    "评审专家中应有一定比例的本单位以外专家", source=NATIONAL_REGULATION)
PANEL_ODD = define_rule(
    "EXPERTS-PANEL-ODD", "评审委员会组成（单数）",
    "a review panel has an odd number of members",
    "评审委员会组成人员应当是单数", source=NATIONAL_REGULATION)
RECUSAL = define_rule(
    "EXPERTS-RECUSAL", "评审专家回避",
    "an expert with an interest in an applicant on the docket (same employer, relative, "
    "declared conflict) is not drawn",
    "评审专家与评审工作有利害关系或者其他关系可能影响客观公正的，应当回避", source=NATIONAL_REGULATION)
RANDOM_DRAW = define_rule(
    "EXPERTS-RANDOM-DRAW", "三(一)",
    "panel members are drawn at random: the randomness combines secrets that at least two "
    "parties commit to before any of them is revealed",
    "评审会议抽取评委时，应进行随机抽取", source=NOTICE)
DRAW_COMMIT_FIRST = define_rule(
    "EXPERTS-DRAW-COMMIT-FIRST", "三(一)",
    "no party reveals its secret before every party has committed to one",
    "各方均提交承诺后方可揭示随机数", source=NOTICE)
DRAW_REVEAL_MATCH = define_rule(
    "EXPERTS-DRAW-REVEAL-MATCH", "三(一)",
    "a revealed secret must match the commitment its party made",
    "揭示的随机数须与其承诺一致", source=NOTICE)
DRAW_SHORTFALL = define_rule(
    "EXPERTS-DRAW-SHORTFALL", "三(一)",
    "enough eligible experts to fill the panel and its reserves",
    "符合条件的专家人数须满足抽取人数", source=NOTICE)
EMERGENCY_APPROVAL = define_rule(
    "EXPERTS-EMERGENCY-APPROVAL", "三(一)",
    "an emergency draw needs the bureau's recorded approval covering its seats",
    "如有特殊情况，报区人社部门同意后，可个别应急抽取", source=NOTICE)
EMERGENCY_CAP = define_rule(
    "EXPERTS-EMERGENCY-CAP", "三(一)",
    "emergency draws fill at most 30% of the panel's seats over the meeting",
    "应急抽取比例原则上不超过评委人数的30%", source=NOTICE)
DISCIPLINE = define_rule(
    "EXPERTS-DISCIPLINE", "三(一)",
    "an expert who breaks review discipline or leaks review information is dealt with and "
    "the expert's unit is notified",
    "对违反评审纪律、泄露评审信息的专家进行严肃处理，并通报有关单位", source=NOTICE)


# --- configuration ---------------------------------------------------------------------------

class CommitteeTier(str, Enum):
    """评审委员会层级."""

    SENIOR = "senior"              # 高级
    INTERMEDIATE = "intermediate"  # 中级
    JUNIOR = "junior"              # 初级


class CommitteeScope(str, Enum):
    """How the committee is organised: by series (按系列) or by specialty (按专业)."""

    SERIES = "series"
    SPECIALTY = "specialty"


DEFAULT_POOL_MINIMUMS: dict[tuple[CommitteeTier, CommitteeScope], int] = {
    (CommitteeTier.SENIOR, CommitteeScope.SERIES): 25,
    (CommitteeTier.SENIOR, CommitteeScope.SPECIALTY): 11,
    (CommitteeTier.INTERMEDIATE, CommitteeScope.SERIES): 15,
    (CommitteeTier.INTERMEDIATE, CommitteeScope.SPECIALTY): 7,
    (CommitteeTier.JUNIOR, CommitteeScope.SERIES): 7,
    (CommitteeTier.JUNIOR, CommitteeScope.SPECIALTY): 7,
}


@dataclass(frozen=True)
class ExpertsPolicy:
    """Numbers from regulation, with defaults; override them from configuration, not in code."""

    pool_minimums: Mapping[tuple[CommitteeTier, CommitteeScope], int] = field(
        default_factory=lambda: dict(DEFAULT_POOL_MINIMUMS))
    # 人社部令第40号 asks for "a share" of outside experts without a number; one third is a
    # local choice and lives here so a bureau can set its own.
    outside_share_min: Fraction = Fraction(1, 3)
    term_max_years: int = 3                      # 任期为三年
    emergency_share_percent: int = 30            # 应急抽取比例不超过评委人数的30%
    panel_must_be_odd: bool = True               # 单数
    min_draw_parties: int = 2                    # at least two independent contributors
    secret_min_bytes: int = 32                   # each party's secret: 256 bits or more

    def pool_minimum(self, tier: CommitteeTier, scope: CommitteeScope) -> int:
        return int(self.pool_minimums[(CommitteeTier(tier), CommitteeScope(scope))])

    def emergency_cap(self, panel_size: int) -> int:
        """Emergency seats allowed over a meeting: floor(percent × panel size); 11 seats → 3."""
        return (panel_size * self.emergency_share_percent) // 100


DEFAULT_POLICY = ExpertsPolicy()


def policy_from_mapping(data: Mapping[str, Any] | None) -> ExpertsPolicy:
    """Build a policy from plain configuration data; missing keys keep their defaults.

    ``pool_minimums`` is ``{"senior": {"series": 25, "specialty": 11}, ...}``;
    ``outside_share_min`` is a string fraction ("1/3") or a number.
    """
    if not data:
        return DEFAULT_POLICY
    kwargs: dict[str, Any] = {}
    known = {"outside_share_min", "term_max_years", "emergency_share_percent",
             "panel_must_be_odd", "min_draw_parties", "secret_min_bytes", "pool_minimums"}
    unknown = set(data) - known
    if unknown:
        raise InvalidInput("unknown experts policy keys", details={"keys": sorted(unknown)})
    if "pool_minimums" in data:
        minimums = dict(DEFAULT_POOL_MINIMUMS)
        for tier, scopes in dict(data["pool_minimums"]).items():
            for scope, value in dict(scopes).items():
                minimums[(CommitteeTier(tier), CommitteeScope(scope))] = int(value)
        kwargs["pool_minimums"] = minimums
    if "outside_share_min" in data:
        kwargs["outside_share_min"] = Fraction(str(data["outside_share_min"]))
    for key in ("term_max_years", "emergency_share_percent", "min_draw_parties",
                "secret_min_bytes"):
        if key in data:
            kwargs[key] = int(data[key])
    if "panel_must_be_odd" in data:
        kwargs["panel_must_be_odd"] = bool(data["panel_must_be_odd"])
    policy = replace(DEFAULT_POLICY, **kwargs)
    if not 0 <= policy.emergency_share_percent <= 100:
        raise InvalidInput("emergency_share_percent must be between 0 and 100")
    if not 0 <= policy.outside_share_min <= 1:
        raise InvalidInput("outside_share_min must be between 0 and 1")
    if policy.min_draw_parties < 2:
        raise InvalidInput("min_draw_parties must be at least 2: one party alone could choose "
                           "the panel")
    return policy


# --- who may see a sealed panel --------------------------------------------------------------------

PANEL_ALWAYS_VISIBLE_TO = frozenset({"committee_office"})
PANEL_VISIBLE_FROM_MEETING_START_TO = frozenset({"committee_office", "bureau", "supervisor",
                                                 "inspector"})


def panel_visible(roles: frozenset[str] | set[str], now: datetime, meeting_starts_at: datetime) -> bool:
    """A drawn panel is sealed (封存): only the committee office sees its members until the
    meeting starts; then the bureau, its supervisor and inspectors may too. Never the portal."""
    if roles & PANEL_ALWAYS_VISIBLE_TO:
        return True
    return now >= meeting_starts_at and bool(roles & PANEL_VISIBLE_FROM_MEETING_START_TO)


# --- small value helpers ---------------------------------------------------------------------

@lru_cache(maxsize=65536)
def normalize_unit(name: str) -> str:
    """A unit (employer) name compared for 回避: full-width/half-width folded, spaces dropped."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name or "")).casefold()


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def identity_number_valid(number: str) -> bool:
    """GB 11643 citizen identity number (公民身份号码); the platform's one check."""
    return isinstance(number, str) and identity_problem(number) is None


# the platform's one mask each (shared/personal.py; empty stays empty)
mask_identity_number = mask_identity
mask_name = _mask_name
