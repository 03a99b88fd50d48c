"""The platform's own identifiers are time-ordered UUIDs (version 7), so the indexes they key
grow at their end."""
import time
import uuid

from shared.events.envelope import build_envelope
from shared.ids import new_id


def test_new_ids_are_version_7_uuids_in_the_order_they_were_minted():
    ids = []
    for _ in range(2000):
        ids.append(new_id())
        if len(ids) % 500 == 0:
            time.sleep(0.002)  # across milliseconds too
    assert all(uuid.UUID(i).version == 7 and len(i) == 36 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_event_ids_are_time_ordered():
    from datetime import datetime, timezone

    envelopes = [build_envelope(event_type="intake_started", version=1, producer="intake",
                                payload={}, occurred_at=datetime.now(timezone.utc))
                 for _ in range(50)]
    ids = [e["event_id"] for e in envelopes]
    assert ids == sorted(ids) and uuid.UUID(ids[0]).version == 7
