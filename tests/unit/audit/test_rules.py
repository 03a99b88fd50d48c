"""Record indexing and masking of personal data."""
import json

import pytest

from shared.errors import InvalidInput
from services.audit.rules import (
    applicant_key, index_terms, mask_identity_number, mask_name, mask_personal_data,
    normalise_identity_number,
)

pytestmark = pytest.mark.unit

PEPPER = b"test-person-key"
ID = "11010519491231002X"


def envelope(**payload):
    return {"event_id": "e1", "event_type": "submission_accepted", "version": 1,
            "occurred_at": "2023-09-01T09:00:00+08:00", "producer": "intake", "payload": payload}


def test_a_valid_identity_number_is_normalised_and_an_invalid_one_refused_without_echo():
    assert normalise_identity_number(ID.lower()) == ID
    for bad in ["110105194912310021", "12345", "11010519491231002Y"]:
        with pytest.raises(InvalidInput) as caught:
            normalise_identity_number(bad)
        assert bad not in json.dumps(caught.value.as_dict())


def test_identity_numbers_and_names_are_masked():
    assert mask_identity_number(ID) == "110105********002X"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧**娜"


def test_masking_reaches_nested_payloads_and_can_spare_names():
    payload = {"applicant": {"identity_number": ID, "name": "张三"}, "experts": [{"expert_name": "李四"}],
               "case_id": "C1"}
    masked = mask_personal_data(payload)
    text = json.dumps(masked, ensure_ascii=False)
    assert ID not in text and "张三" not in text and "李四" not in text and "C1" in text
    assert mask_personal_data(payload, names=False)["applicant"]["name"] == "张三"


def test_index_terms_find_cases_committees_experts_and_applicants_anywhere():
    terms = index_terms(envelope(case_id="C1", committee_id="K7", applicant={"identity_number": ID},
                                 panel={"expert_ids": ["X1", "X2"]}, case_ids=["C2"],
                                 other={"applicant_key": "k" * 32}), PEPPER)
    assert terms.case_ids == {"C1", "C2"} and terms.committee_ids == {"K7"}
    assert terms.expert_ids == {"X1", "X2"}
    assert terms.applicant_keys == {applicant_key(ID, PEPPER), "k" * 32}
    assert terms.event_type == "submission_accepted" and terms.occurred_at.year == 2023


def test_the_applicant_key_hides_the_number_and_depends_on_the_key():
    key = applicant_key(ID, PEPPER)
    assert ID not in key and key != applicant_key(ID, b"other") and key == applicant_key(ID.lower(), PEPPER)


def test_index_terms_read_the_producers_real_field_names():
    terms = index_terms(envelope(committee_code="K7", submission_id="SUB-1", panel=["X1", "X2"],
                                 reserves=["X3"], applicant_key="a" * 32), PEPPER)
    assert terms.committee_ids == {"K7"} and terms.case_ids == {"SUB-1"}
    assert terms.expert_ids == {"X1", "X2", "X3"} and terms.applicant_keys == {"a" * 32}
    counted = index_terms(envelope(meeting_id="M1", panel_size=7, reserves=2), PEPPER)
    assert counted.expert_ids == frozenset()
