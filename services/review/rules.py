"""Review's rules (评审规则) and the policy numbers they use.

Every rule the review service enforces is defined here with the clause it comes from, so a refusal
names the sentence of the notice (虞人社职〔2023〕1号) or of the national regulation that justifies
it. The numbers taken from regulation (5 working days of publicity, 2/3 quorum, 2/3 to pass) are
:class:`ReviewPolicy` fields with defaults, loaded from ``policy.yaml`` by ``services.review.policy``.

Pure domain: no nameko, sqlalchemy, marshmallow or kombu imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from shared.rules import NATIONAL_REGULATION, NOTICE, define_rule

# --- the order of a case -------------------------------------------------------------------------

CASE_FLOW = define_rule(
    "REVIEW-CASE-FLOW", "二(二)",
    "a case moves through declaration, acceptance, qualification review, publicity, review, "
    "publication and certificate in that order; this step is not allowed in the case's state",
    "职称申报、受理、审核、公示、评审、公布、发证须按程序依次进行，当前状态不允许此操作",
    source=NOTICE,
)

QUALIFICATION_REASONS = define_rule(
    "REVIEW-QUALIFICATION-REASONS", "三(二)",
    "a qualification review that fails must state its reasons",
    "资格审查不通过的，须写明理由",
    source=NOTICE,
)

# --- publicity (公示) ----------------------------------------------------------------------------

PUBLICITY_DAYS = define_rule(
    "REVIEW-PUBLICITY-DAYS", "第三章 申报审核 / 第四章 组织评审",
    "a public notice lasts at least the minimum number of working days (5)",
    "公示期不少于5个工作日",
    source=NATIONAL_REGULATION,
)

PUBLICITY_START = define_rule(
    "REVIEW-PUBLICITY-START", "三(二)",
    "a public notice cannot start in the past",
    "公示不得倒签开始日期",
    source=NOTICE,
)

PUBLICITY_RUNNING = define_rule(
    "REVIEW-PUBLICITY-RUNNING", "三(二)",
    "a public notice ends only after its last working day",
    "公示期未满，不得结束公示",
    source=NOTICE,
)

MEETING_AFTER_PRE_REVIEW_PUBLICITY = define_rule(
    "REVIEW-MEETING-AFTER-PUBLICITY", "三(二)",
    "no case goes to a review meeting before its pre-review public notice has ended",
    "确保在职称平台上进行评前公示：评前公示结束前不得提交评审会议",
    source=NOTICE,
)

PUBLICATION_AFTER_POST_REVIEW_PUBLICITY = define_rule(
    "REVIEW-PUBLICATION-AFTER-PUBLICITY", "三(二)",
    "no result is published before its post-review public notice has ended",
    "确保在职称平台上进行评后公示：评后公示结束前不得公布评审结果",
    source=NOTICE,
)

# --- objections (异议) ---------------------------------------------------------------------------

OBJECTION_WINDOW = define_rule(
    "REVIEW-OBJECTION-WINDOW", "三(二)",
    "an objection is filed while a public notice of the case is open",
    "异议须在公示期内提出",
    source=NOTICE,
)

OBJECTION_HOLDS = define_rule(
    "REVIEW-OBJECTION-HOLDS", "三(二)",
    "an objection filed during a public notice holds the case until it is resolved",
    "公示期间有异议的，异议处理完毕前暂停办理",
    source=NOTICE,
)

OBJECTION_RESOLUTION = define_rule(
    "REVIEW-OBJECTION-RESOLUTION", "三(二)",
    "an objection is resolved once, as upheld (with the reason for withdrawing the case) or "
    "dismissed",
    "异议只处理一次：成立的（写明撤销理由）撤销申报，不成立的继续办理",
    source=NOTICE,
)

# --- meetings (评审会议) -------------------------------------------------------------------------

MATERIALS_FROZEN = define_rule(
    "REVIEW-MATERIALS-FROZEN", "三(三)",
    "once a case is on a review meeting's docket its materials are frozen: missing materials are "
    "not supplemented",
    "评审会议召开时，如有部分申报材料缺失，不再补充",
    source=NOTICE,
)

MEETING_COMMITTEE = define_rule(
    "REVIEW-MEETING-COMMITTEE", "三(二)",
    "a meeting reviews only cases accepted by its own committee",
    "评委会只评审本评委会受理的申报",
    source=NOTICE,
)

MEETING_DOCKET = define_rule(
    "REVIEW-MEETING-DOCKET", "三(二)",
    "a meeting is scheduled in the future with a docket of at least one case, each case once",
    "评审会议须在今后召开，且至少列入一件申报，每件只列一次",
    source=NOTICE,
)

MEETING_PANEL = define_rule(
    "REVIEW-MEETING-PANEL", "三(一)",
    "votes are recorded only at a meeting whose panel has been drawn from the expert pool, "
    "once the meeting has started",
    "评审会议须从专家库抽取评委，会议开始后方可记录表决结果",
    source=NOTICE,
)

# --- votes (表决) --------------------------------------------------------------------------------

VOTE_TALLY = define_rule(
    "REVIEW-VOTE-TALLY", "第四章 组织评审",
    "votes are anonymous tallies: every expert present casts exactly one ballot (yes, no or "
    "abstain) and no more experts are present than the panel has",
    "无记名投票，一人一票：同意、不同意、弃权票数之和等于出席专家人数，出席人数不超过评委人数",
    source=NATIONAL_REGULATION,
)

QUORUM = define_rule(
    "REVIEW-QUORUM", "第四章 组织评审",
    "a review meeting decides only when at least two thirds of its panel are present",
    "出席评审会议的专家人数应当不少于评审委员会（专家组）人数的2/3",
    source=NATIONAL_REGULATION,
)

PASS_THRESHOLD = define_rule(
    "REVIEW-PASS-THRESHOLD", "第四章 组织评审",
    "a case passes with yes votes from at least two thirds of the experts present",
    "同意票数达到出席评审会议的评审专家总数2/3以上的即为评审通过",
    source=NATIONAL_REGULATION,
)

# --- the end of a case ---------------------------------------------------------------------------

RECOMMENDATION_FORWARDED = define_rule(
    "REVIEW-RECOMMENDATION", "附件 评审计划（推荐）",
    "a recommendation case (推荐) is forwarded to the higher committee and gets no certificate "
    "here; a review case gets a certificate and is not forwarded",
    "推荐类申报评审通过后报送上级评委会，不在本级发证；评审类申报发证，不报送",
    source=NOTICE,
)

CERTIFICATE_NUMBER = define_rule(
    "REVIEW-CERTIFICATE-NUMBER", "二(二)",
    "a certificate number carries a valid check character",
    "证书编号须含正确的校验位",
    source=NOTICE,
)


@dataclass(frozen=True)
class ReviewPolicy:
    """Numbers from regulation, kept as configuration (``services/review/policy.yaml``).

    ``minimum_publicity_working_days`` is the regulation's floor; a committee may publish longer
    (``publicity_working_days``) but never shorter.
    """

    publicity_working_days: int = 5
    minimum_publicity_working_days: int = 5
    quorum_share: Fraction = Fraction(2, 3)
    pass_share: Fraction = Fraction(2, 3)
    certificate_prefix: str = "SY"

    def __post_init__(self) -> None:
        if self.minimum_publicity_working_days < 1:
            raise ValueError("minimum_publicity_working_days must be at least 1")
        if self.publicity_working_days < self.minimum_publicity_working_days:
            raise ValueError("publicity_working_days is below the regulation's minimum")
        for name in ("quorum_share", "pass_share"):
            value = getattr(self, name)
            if not isinstance(value, Fraction):
                object.__setattr__(self, name, Fraction(value))
                value = getattr(self, name)
            if not Fraction(0) < value <= Fraction(1):
                raise ValueError(f"{name} must be in (0, 1]")
        prefix = self.certificate_prefix
        if not prefix or not prefix.isascii() or not prefix.isalnum() or prefix.upper() != prefix:
            raise ValueError("certificate_prefix must be upper-case ASCII letters or digits")


DEFAULT_POLICY = ReviewPolicy()
