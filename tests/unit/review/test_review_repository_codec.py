"""A case and a meeting survive the trip to a row and back, in every state."""
import pytest

from services.review.case import CaseState
from services.review.repository import (
    case_from_row, case_to_row, meeting_from_row, meeting_to_row,
)
from services.review import case as cases
from tests.unit.review.journey import T_IN_PRE, drive


@pytest.mark.parametrize("state", list(CaseState), ids=[s.value for s in CaseState])
def test_a_case_reads_back_equal_from_its_row(state):
    case = drive(state).case
    row = case_to_row(case)
    assert case_from_row(row) == case
    assert row["state"] == state.value


def test_a_held_case_row_says_held_and_when_its_notice_closes():
    case = drive(CaseState.PRE_REVIEW_PUBLICITY).case
    held = cases.file_objection(case, objection_id="o", now=T_IN_PRE, grounds="某某反映").case
    row = case_to_row(held)
    assert row["held"] is True
    assert row["publicity_closes_at"] == held.current_publicity.window.closes_at
    assert case_from_row(row) == held


def test_a_case_without_a_running_notice_has_no_closing_instant():
    assert case_to_row(drive(CaseState.AWAITING_MEETING).case)["publicity_closes_at"] is None


def test_a_meeting_reads_back_equal_from_its_row():
    meeting = drive(CaseState.ON_DOCKET).meeting
    assert meeting_from_row(meeting_to_row(meeting)) == meeting
