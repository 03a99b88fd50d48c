"""The contract between review and experts, checked on both sides of the catalogue."""
from __future__ import annotations

from datetime import datetime

import pytest

from services.experts.service import EVENT_PANEL_REQUEST
from shared.clock import CHINA
from shared.events import CATALOGUE
from shared.schemas import load

pytestmark = pytest.mark.unit


def review_panel_requested() -> dict:
    """A payload as review emits it (checked against review's own registration)."""
    payload = {"meeting_id": "M-1", "committee_id": "C-JIDIAN",
               "starts_at": datetime(2023, 11, 20, 9, tzinfo=CHINA).isoformat(),
               "at": datetime(2023, 11, 1, 9, tzinfo=CHINA).isoformat(), "panel_size": 9,
               "specialties": ["机电制造"],
               "applicants": [{"applicant_ref": "case-1", "employer": "上虞某电机厂"}]}
    CATALOGUE.check_payload("panel_requested", payload)
    return payload


def test_experts_reads_the_panel_request_review_emits():
    assert "experts" in CATALOGUE.get("panel_requested").consumers
    data = load(EVENT_PANEL_REQUEST, review_panel_requested())
    assert data["panel_size"] == 9 and data["reserves"] is None
    assert data["applicants"] == [{"applicant_ref": "case-1", "employer": "上虞某电机厂"}]
    assert data["starts_at"].tzinfo is not None


def test_experts_ignores_fields_review_may_add_later():
    payload = {**review_panel_requested(), "docket_size": 3}
    assert load(EVENT_PANEL_REQUEST, payload)["meeting_id"] == "M-1"


def test_panel_drawn_and_refusals_reach_review():
    for name in ("panel_drawn", "emergency_panel_drawn", "panel_request_refused"):
        t = CATALOGUE.get(name)
        assert t.producer == "experts" and "review" in t.consumers, name
    # what review reads from panel_drawn is required; the sealed members are not in it
    fields = CATALOGUE.get("panel_drawn").schema().fields
    assert all(fields[f].required for f in ("meeting_id", "round_id", "panel_size"))
    assert "panel" not in fields and "reserves_ids" not in fields
