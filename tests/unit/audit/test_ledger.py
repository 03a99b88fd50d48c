"""The in-memory ledger head: appending, reloading, refusing to run ahead of the store."""
from datetime import datetime

import pytest

from shared.clock import CHINA
from services.audit.chain import verify_chain
from services.audit.ledger import Ledger, StaleLedger

pytestmark = pytest.mark.unit

WHEN = datetime(2023, 11, 1, 9, 0, tzinfo=CHINA)


def env(i):
    return {"event_id": f"e{i}", "event_type": "meeting_held", "payload": {"meeting_id": "M1"}}


def test_records_appended_through_the_ledger_form_a_valid_chain_and_tree():
    ledger = Ledger()
    stored = []
    for i in range(9):
        record = ledger.prepare(env(i), WHEN)
        stored.append(record)
        ledger.advance(record)
    assert verify_chain(stored).intact
    assert ledger.size == 9 and ledger.head == stored[-1].chain_hash
    assert b'"position":3' in stored[3].content


def test_a_reloaded_ledger_continues_where_the_store_ends():
    first = Ledger()
    stored = []
    for i in range(5):
        r = first.prepare(env(i), WHEN)
        first.advance(r)
        stored.append(r)
    second = Ledger()
    second.load((r.position, r.leaf_hash, r.chain_hash) for r in stored)
    assert second.tree.root() == first.tree.root()
    assert second.prepare(env(5), WHEN) == first.prepare(env(5), WHEN)


def test_a_prepared_record_is_not_part_of_the_ledger_until_committed():
    ledger = Ledger()
    a = ledger.prepare(env(0), WHEN)
    assert ledger.size == 0
    ledger.advance(a)
    with pytest.raises(StaleLedger):
        ledger.advance(a)
    with pytest.raises(StaleLedger):
        Ledger().load([(1, a.leaf_hash, a.chain_hash)])


def test_a_record_built_from_stored_columns_equals_its_canonical_encoding():
    from services.audit.chain import canonical_bytes
    from services.audit.ledger import envelope_text, record_content, record_content_from_text

    envelope = {"payload": {"名": "张三", "n": 1.5, "z": [None, True]}, "event_id": "e1"}
    expected = canonical_bytes({"position": 7, "recorded_at": WHEN.isoformat(), "event": envelope})
    assert record_content(7, WHEN, envelope) == expected
    assert record_content_from_text(7, WHEN.isoformat(), envelope_text(envelope)) == expected
