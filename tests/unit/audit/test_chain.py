"""The hash chain: canonical encoding and tamper detection that names the first bad record."""
import dataclasses

import pytest

from services.audit.chain import (
    GENESIS_HASH, CanonicalEncodingError, HashChain, canonical_bytes, iter_chain,
    verify_chain,
)

pytestmark = pytest.mark.unit


def records(n):
    return list(iter_chain({"position": i, "event": {"event_type": "submission_accepted",
                                                     "payload": {"case_id": f"C{i}", "名称": "评审"}}}
                           for i in range(n)))


def test_canonical_encoding_sorts_keys_drops_whitespace_and_keeps_utf8():
    assert canonical_bytes({"b": 1, "a": [True, None, "评审"]}) == '{"a":[true,null,"评审"],"b":1}'.encode()


def test_canonical_encoding_is_independent_of_key_insertion_order():
    assert canonical_bytes({"x": {"b": 2, "a": 1}, "y": 0}) == canonical_bytes({"y": 0, "x": {"a": 1, "b": 2}})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), b"raw", {1: "int key"}, object()])
def test_canonical_encoding_refuses_values_without_one_encoding(value):
    with pytest.raises(CanonicalEncodingError):
        canonical_bytes({"v": value})


def test_a_finite_float_encodes_in_its_shortest_round_trip_form():
    assert canonical_bytes({"score": 85.5, "ratio": 0.1}) == b'{"ratio":0.1,"score":85.5}'


def test_an_untouched_chain_verifies():
    rows = records(50)
    report = verify_chain(rows, expected_size=50)
    assert report.intact and report.checked == 50 and report.head == rows[-1].chain_hash


def test_a_changed_byte_is_detected_at_its_record():
    rows = records(20)
    content = bytearray(rows[7].content)
    content[content.index(b"C7")] = ord("D")
    rows[7] = dataclasses.replace(rows[7], content=bytes(content))
    report = verify_chain(rows)
    assert not report.intact
    assert report.fault.position == 7 and report.fault.reason == "content_changed"
    assert report.checked == 7


def test_a_changed_byte_with_recomputed_own_hashes_breaks_the_next_link():
    rows = records(20)
    forged = HashChain(7, rows[6].chain_hash).append(rows[7].content.replace(b"C7", b"D7"))
    rows[7] = forged
    report = verify_chain(rows)
    assert report.fault.position == 8 and report.fault.reason == "broken_link"


def test_a_deleted_row_is_detected_at_the_missing_position():
    rows = records(20)
    del rows[12]
    report = verify_chain(rows)
    assert report.fault.position == 12 and report.fault.reason == "missing_record"


def test_a_deleted_and_renumbered_row_is_detected_at_the_broken_link():
    rows = records(20)
    del rows[12]
    rows = [dataclasses.replace(r, position=i) for i, r in enumerate(rows)]
    report = verify_chain(rows)
    assert report.fault.position == 12 and report.fault.reason == "broken_link"


def test_a_row_deleted_from_the_end_is_detected_against_the_expected_size():
    rows = records(20)
    assert verify_chain(rows[:-1]).intact  # without a signed size the tail cannot be missed
    report = verify_chain(rows[:-1], expected_size=20)
    assert report.fault.position == 19 and report.fault.reason == "missing_record"


def test_two_swapped_rows_are_detected_at_the_first_of_them():
    rows = records(20)
    rows[4], rows[9] = rows[9], rows[4]
    report = verify_chain(rows)
    assert report.fault.position == 4 and report.fault.reason == "missing_record"


def test_two_rows_with_swapped_contents_are_detected_at_the_first_of_them():
    rows = records(20)
    a, b = rows[4], rows[9]
    rows[4] = dataclasses.replace(b, position=4)
    rows[9] = dataclasses.replace(a, position=9)
    report = verify_chain(rows)
    assert report.fault.position == 4 and report.fault.reason == "broken_link"


def test_verification_can_start_from_a_trusted_point():
    rows = records(30)
    report = verify_chain(rows[10:], start=10, previous=rows[9].chain_hash)
    assert report.intact and report.checked == 20
    assert not verify_chain(rows[10:], start=10, previous=GENESIS_HASH).intact
