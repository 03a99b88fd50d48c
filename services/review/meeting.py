"""Review meetings (评审会议): scheduling a docket, receiving the panel, recording votes.

A committee office schedules a meeting for its committee with a date and a docket of cases whose
pre-review notice has ended. Scheduling freezes the docket's materials (三(三) 评审会议召开时，如有部分
申报材料缺失，不再补充) and asks the experts service for a panel drawn at random from the pool
(三(一)). Votes can be recorded once the panel is in and the meeting has started.

Pure domain.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from shared.errors import Conflict, InvalidInput, RuleRefused
from shared.rules import RuleViolation

from services.review.case import (
    Case,
    DomainEvent,
    docket_violations,
    place_on_docket,
    record_decision,
    china_time,
)
from services.review.rules import CASE_FLOW, MEETING_DOCKET, MEETING_PANEL, ReviewPolicy
from services.review.voting import Decision, Tally, decide


class MeetingState(str, Enum):
    SCHEDULED = "scheduled"      # 已安排，待抽取评委
    PANEL_DRAWN = "panel_drawn"  # 评委已抽取


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    committee_id: str
    starts_at: datetime
    docket: tuple[str, ...]
    panel_size_requested: int
    state: MeetingState
    scheduled_at: datetime
    panel_id: str | None = None
    panel_size: int | None = None
    panel_drawn_at: datetime | None = None

    @property
    def has_panel(self) -> bool:
        return self.state is MeetingState.PANEL_DRAWN and bool(self.panel_size)


@dataclass(frozen=True)
class VotesApplied:
    """The case after the votes, the events, and the meeting's decision (kept also when the
    quorum failed and the case itself records no decision)."""

    case: Case
    events: tuple[DomainEvent, ...]
    decision: Decision


@dataclass(frozen=True)
class MeetingScheduled:
    meeting: Meeting
    cases: tuple[Case, ...]
    events: tuple[DomainEvent, ...]


def schedule_meeting(*, meeting_id: str, committee_id: str, starts_at: datetime,
                     cases: list[Case] | tuple[Case, ...], panel_size: int,
                     now: datetime) -> MeetingScheduled:
    """Schedule a meeting; refused with every failing case and rule if any case cannot go on it."""
    now, starts_at = china_time(now), china_time(starts_at)
    violations: list[RuleViolation] = []
    if not cases:
        violations.append(MEETING_DOCKET.violation(field="docket", detail="the docket is empty"))
    ids = [c.case_id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        violations.append(MEETING_DOCKET.violation(field="docket", detail="a case is listed twice",
                                                   case_ids=duplicates))
    if starts_at <= now:
        violations.append(MEETING_DOCKET.violation(field="starts_at",
                                                   detail="the meeting must be in the future"))
    if not isinstance(panel_size, int) or isinstance(panel_size, bool) or panel_size < 1:
        violations.append(MEETING_DOCKET.violation(field="panel_size",
                                                   detail="a panel has at least one expert"))
    for case in cases:
        violations.extend(docket_violations(case, committee_id=committee_id, starts_at=starts_at))
    if violations:
        raise RuleRefused(violations)

    meeting = Meeting(meeting_id=meeting_id, committee_id=committee_id, starts_at=starts_at,
                      docket=tuple(ids), panel_size_requested=panel_size,
                      state=MeetingState.SCHEDULED, scheduled_at=now)
    moved: list[Case] = []
    frozen_events: list[DomainEvent] = []
    for case in cases:
        t = place_on_docket(case, meeting_id=meeting_id, committee_id=committee_id,
                            starts_at=starts_at, now=now)
        moved.append(t.case)
        frozen_events.extend(t.events)
    common = {"meeting_id": meeting_id, "committee_id": committee_id,
              "starts_at": starts_at.isoformat(), "at": now.isoformat()}
    events = [
        DomainEvent("meeting_scheduled", {**common, "case_ids": list(ids),
                                          "submission_ids": [c.submission_id for c in cases],
                                          "panel_size": panel_size}),
        *frozen_events,
        # applicants by case id (no applicant key leaves review here) with their employer, so
        # experts can keep the panel clear of colleagues (回避)
        DomainEvent("panel_requested", {**common, "panel_size": panel_size,
                                        "specialties": sorted({c.specialty for c in cases
                                                               if c.specialty}),
                                        "applicants": [{"applicant_ref": c.case_id,
                                                        "employer": c.employer}
                                                       for c in cases if c.employer]}),
    ]
    return MeetingScheduled(meeting, tuple(moved), tuple(events))


def record_panel(meeting: Meeting, *, panel_id: str, panel_size: int, now: datetime) -> Meeting:
    """The experts service drew the panel (评委抽取). The same panel again changes nothing."""
    now = china_time(now)
    if meeting.state is MeetingState.PANEL_DRAWN:
        if meeting.panel_id == panel_id and meeting.panel_size == panel_size:
            return meeting
        raise Conflict("this meeting already has a panel",
                       details={"meeting_id": meeting.meeting_id})
    if not isinstance(panel_size, int) or panel_size < 1 or not panel_id:
        raise InvalidInput("a drawn panel has an id and at least one expert")
    return replace(meeting, state=MeetingState.PANEL_DRAWN, panel_id=panel_id,
                   panel_size=panel_size, panel_drawn_at=now)


def record_votes(meeting: Meeting, case: Case, *, present: int, yes: int, no: int, abstain: int,
                 now: datetime, policy: ReviewPolicy) -> VotesApplied:
    """Record the anonymous tally for one case on the docket and apply the decision."""
    now = china_time(now)
    violations: list[RuleViolation] = []
    if not meeting.has_panel:
        violations.append(MEETING_PANEL.violation(field="panel", detail="no panel drawn yet",
                                                  meeting_id=meeting.meeting_id))
    if now < meeting.starts_at:
        violations.append(MEETING_PANEL.violation(
            field="now", detail=f"the meeting starts at {meeting.starts_at.isoformat()}",
            meeting_id=meeting.meeting_id))
    if case.case_id not in meeting.docket or case.meeting_id != meeting.meeting_id:
        violations.append(CASE_FLOW.violation(field="case_id", detail="not on this meeting's docket",
                                              case_id=case.case_id, meeting_id=meeting.meeting_id))
    tally = Tally(panel_size=meeting.panel_size or 0, present=present, yes=yes, no=no,
                  abstain=abstain)
    if meeting.has_panel:
        violations.extend(tally.violations())
    if violations:
        raise RuleRefused(violations)
    decision = decide(tally, policy)
    t = record_decision(case, meeting_id=meeting.meeting_id, decision=decision, now=now)
    return VotesApplied(t.case, t.events, decision)
