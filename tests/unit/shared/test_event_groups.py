"""How a relay's outbox rows become messages (groups of one event type), and how a batch of
independent requests orders its events so that they form such groups."""
import json
from types import SimpleNamespace

import pytest

from shared.db import UnitOfWork
from shared.messaging import ENVELOPES_HEADER, envelope_count, envelopes_in, group_rows


def row(n: int, event_type: str, exchange: str = "intake.events", size: int = 10):
    envelope = json.dumps({"event_id": f"e{n}", "event_type": event_type, "pad": "x" * size})
    return SimpleNamespace(id=n, event_id=f"e{n}", event_type=event_type, exchange=exchange,
                           envelope=envelope)


def shape(groups):
    return [[r.id for r in group] for group in groups]


def test_consecutive_rows_of_one_type_share_a_message_and_the_order_is_kept():
    rows = [row(1, "a"), row(2, "a"), row(3, "b"), row(4, "a"), row(5, "a"), row(6, "a")]
    assert shape(group_rows(rows)) == [[1, 2], [3], [4, 5, 6]]


def test_the_same_type_on_another_exchange_is_another_message():
    rows = [row(1, "a"), row(2, "a", exchange="review.events"), row(3, "a")]
    assert shape(group_rows(rows)) == [[1], [2], [3]]


def test_a_group_stays_within_its_byte_limit_and_an_oversized_row_travels_alone():
    rows = [row(n, "a", size=100) for n in range(1, 8)]
    one = len(rows[0].envelope)
    groups = group_rows(rows, max_bytes=3 * one + 4)
    assert shape(groups) == [[1, 2, 3], [4, 5, 6], [7]]
    for group in groups:  # the body the relay builds stays within the limit
        assert len("[" + ",".join(r.envelope for r in group) + "]") <= 3 * one + 4
    big = [row(1, "a", size=5000), row(2, "a")]
    assert shape(group_rows(big, max_bytes=1000)) == [[1], [2]]


def test_a_reader_gets_every_envelope_of_a_group_and_a_single_one_alike():
    assert envelopes_in(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]
    assert envelopes_in('{"a": 1}') == [{"a": 1}]
    with pytest.raises(ValueError):
        envelopes_in(b"not json")


@pytest.mark.parametrize("headers, count", [
    ({ENVELOPES_HEADER: 7}, 7), ({}, 1), (None, 1), ({ENVELOPES_HEADER: "7"}, 1),
    ({ENVELOPES_HEADER: 0}, 1), ({ENVELOPES_HEADER: -3}, 1), ({ENVELOPES_HEADER: 10**9}, 1)])
def test_a_delivery_counts_its_envelopes_from_a_well_formed_header_only(headers, count):
    assert envelope_count(SimpleNamespace(headers=headers)) == count


def emitting(uow: UnitOfWork, requests: list[list[str]]) -> list[tuple[int, str]]:
    """Emit each request's event types (rows by hand: the ordering is all that is tested)."""
    with uow.independent_requests() as next_request:
        for number, kinds in enumerate(requests):
            next_request()
            uow._outbox_rows.extend({"event_type": k, "request": number} for k in kinds)
    return [(r["request"], r["event_type"]) for r in uow._outbox_rows]


def test_independent_requests_emit_in_runs_of_a_type_each_request_in_its_own_order():
    uow = UnitOfWork(database=None, clock=None)
    requests = [["received", "accepted", "granted"], ["received", "rejected"],
                ["received", "accepted"], ["received", "rejected"], ["received"]]
    got = emitting(uow, requests)
    assert got == [(0, "received"), (1, "received"), (2, "received"), (3, "received"),
                   (4, "received"), (0, "accepted"), (2, "accepted"), (1, "rejected"),
                   (3, "rejected"), (0, "granted")]
    for number, kinds in enumerate(requests):
        assert [k for n, k in got if n == number] == kinds


def test_events_emitted_before_the_block_stay_first_and_a_flush_inside_leaves_order_alone():
    uow = UnitOfWork(database=None, clock=None)
    uow._outbox_rows.append({"event_type": "earlier", "request": -1})
    assert emitting(uow, [["a", "b"], ["a", "b"]]) == [
        (-1, "earlier"), (0, "a"), (1, "a"), (0, "b"), (1, "b")]

    uow = UnitOfWork(database=None, clock=None)
    with uow.independent_requests() as next_request:
        next_request()
        uow._outbox_rows.extend([{"event_type": "a"}, {"event_type": "b"}])
        uow._outbox_generation += 1  # what flush_events() and rollback() do
        uow._outbox_rows[:] = [{"event_type": "b"}]
        next_request()
        uow._outbox_rows.append({"event_type": "a"})
    assert [r["event_type"] for r in uow._outbox_rows] == ["b", "a"]


# -- how a batch consumer takes its next batch

def consumer(batch_size: int, linger: float):
    import eventlet.queue

    from shared.messaging import BatchJsonConsumer

    c = BatchJsonConsumer("audit.events", batch_size=batch_size)
    c._arrived = eventlet.queue.LightQueue()
    c.linger = linger
    return c


def delivery(name: str, envelopes: int | None = None):
    return SimpleNamespace(name=name, headers={ENVELOPES_HEADER: envelopes} if envelopes else {})


def arriving(c, at: dict[float, str]) -> None:
    import eventlet

    for seconds, name in at.items():
        eventlet.spawn_after(seconds, c._arrived.put, delivery(name))


def names(batch) -> list[str]:
    return [m.name for m in batch]


def test_without_a_linger_a_batch_is_what_has_arrived():
    c = consumer(batch_size=10, linger=0)
    c._arrived.put(delivery("a"))
    arriving(c, {0.05: "b"})
    assert names(c._take_batch()) == ["a"]
    assert names(c._take_batch()) == ["b"]


def test_a_batch_waits_for_more_within_its_linger_and_no_longer():
    import time

    c = consumer(batch_size=10, linger=0.15)
    c._arrived.put(delivery("a"))
    arriving(c, {0.03: "b", 0.06: "c", 0.5: "late"})
    started = time.monotonic()
    assert names(c._take_batch()) == ["a", "b", "c"]
    assert 0.14 <= time.monotonic() - started < 0.45
    assert names(c._take_batch()) == ["late"]


def test_a_full_batch_does_not_wait_and_a_group_counts_its_envelopes():
    import time

    c = consumer(batch_size=10, linger=5.0)
    for name, count in (("g1", 6), ("g2", 6), ("next", None)):
        c._arrived.put(delivery(name, count))
    started = time.monotonic()
    assert names(c._take_batch()) == ["g1", "g2"]  # 12 envelopes: the group is not split
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("value", ["-1", "1001", "soon"])
def test_a_wrong_linger_setting_is_refused_with_its_name(monkeypatch, value):
    from shared.config import consumer_linger_ms

    monkeypatch.setenv("ZHICHENG_CONSUMER_LINGER_MS", value)
    with pytest.raises(ValueError, match="ZHICHENG_CONSUMER_LINGER_MS"):
        consumer_linger_ms()


def test_the_linger_setting_reaches_the_service_config(monkeypatch):
    from shared.config import Settings

    monkeypatch.setenv("ZHICHENG_CONSUMER_LINGER_MS", "5")
    assert Settings(service="audit").nameko_config()["CONSUMER_LINGER_MS"] == 5.0
    monkeypatch.delenv("ZHICHENG_CONSUMER_LINGER_MS")
    assert Settings(service="audit").nameko_config()["CONSUMER_LINGER_MS"] == 20.0
