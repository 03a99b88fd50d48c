"""The batch consumer against the real broker: batches form from what is waiting, every message
is handled once, a refused message is dead-lettered alone, a failing dependency requeues."""
import json

import pytest
from kombu import Connection, Producer, Queue
from nameko.containers import ServiceContainer

from shared.errors import InvalidInput
from shared.messaging import (ENVELOPES_HEADER, PORTAL_SUBMISSIONS_QUEUE, RawQueueConsumer,
                              consume_json, consume_json_batches, declare_topology)

DEAD = f"{PORTAL_SUBMISSIONS_QUEUE}.dead-letters"


class Probe:
    """What the probe service's handler saw: batches tried, values committed."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.committed: list[int] = []
        self.refuse: set[int] = set()
        self.broken = False

    def handle(self, values: list[dict]) -> None:
        numbers = [v["n"] for v in values]
        self.batches.append(numbers)
        if self.broken:
            raise RuntimeError("the database is down")
        refused = self.refuse.intersection(numbers)
        if refused:
            raise InvalidInput("refused by the probe", details={"n": sorted(refused)})
        self.committed.extend(numbers)  # all or nothing, like a unit of work


PROBE = Probe()


def read_probe(body):
    if not isinstance(body, dict) or not isinstance(body.get("n"), int):
        raise InvalidInput("a probe message is {\"n\": int}")
    return body


class BatchProbeService:
    name = "batchprobe"

    @consume_json_batches(PORTAL_SUBMISSIONS_QUEUE, reader=read_probe, batch_size=25)
    def handle(self, values):
        PROBE.handle(values)


@pytest.fixture
def probe(amqp_uri):
    yield from probing(amqp_uri, Probe(), BatchProbeService)


def probing(amqp_uri, state, default_service):
    """Install ``state`` as what the probe services report to; yields it and ``start(service)``
    (default: ``default_service``); stops what was started."""
    global PROBE
    PROBE = state
    with Connection(amqp_uri) as conn:
        declare_topology(conn.channel())
    containers = []

    def start(service=default_service):
        container = ServiceContainer(service, {"AMQP_URI": amqp_uri, "max_workers": 4})
        container.start()
        containers.append(container)
        return container

    yield PROBE, start
    for container in containers:
        container.stop()


def publish(amqp_uri, bodies):
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for body in bodies:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            producer.publish(raw, exchange="", routing_key=PORTAL_SUBMISSIONS_QUEUE,
                             content_type="application/json", content_encoding="utf-8",
                             delivery_mode=2)


def dead_letters(amqp_uri):
    got = []
    with Connection(amqp_uri) as conn:
        queue = Queue(DEAD)(conn.channel())
        while (message := queue.get(no_ack=True)) is not None:
            got.append((message.headers["x-zhicheng-reason"], message.body))
    return got


def test_waiting_messages_are_handled_in_batches_each_once(probe, amqp_uri, vhost, wait):
    state, start = probe
    publish(amqp_uri, [{"n": i} for i in range(120)])
    start()
    wait(lambda: len(state.committed) == 120, timeout=20, message="all 120 handled")
    assert sorted(state.committed) == list(range(120))
    assert state.committed == list(range(120)), "one batch at a time, in arrival order"
    sizes = [len(b) for b in state.batches]
    assert max(sizes) > 1 and max(sizes) <= 25
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="all acked")
    assert dead_letters(amqp_uri) == []


def test_a_refused_message_is_dead_lettered_alone_and_its_batch_mates_are_handled(
        probe, amqp_uri, vhost, wait):
    state, start = probe
    state.refuse = {7}
    publish(amqp_uri, [{"n": i} for i in range(20)] + [b"not json", {"m": "wrong shape"}])
    start()
    wait(lambda: vhost.count(DEAD) == 3, timeout=20, message="three dead letters")
    wait(lambda: len(state.committed) == 19, timeout=10, message="the other 19 handled")
    assert sorted(state.committed) == [i for i in range(20) if i != 7]
    assert [7] in state.batches, "the refused one was retried alone"
    reasons = sorted(reason for reason, _body in dead_letters(amqp_uri))
    assert reasons == ["invalid_schema", "not_json", "rejected"]
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="all settled")


def test_a_failing_dependency_requeues_the_batch_until_it_recovers(probe, amqp_uri, vhost, wait):
    state, start = probe
    state.broken = True
    publish(amqp_uri, [{"n": i} for i in range(10)])
    start()
    wait(lambda: len(state.batches) >= 3, timeout=20, message="retries while broken")
    assert state.committed == []
    assert vhost.count(DEAD) == 0, "nothing is dead-lettered for a failing dependency"
    state.broken = False
    wait(lambda: len(set(state.committed)) == 10, timeout=20, message="handled after recovery")
    assert sorted(state.committed) == list(range(10)), "each exactly once"
    assert dead_letters(amqp_uri) == []


# -- a relay's groups: one message carrying several envelopes (a JSON array)

class GroupProbe(Probe):
    """Idempotent by value, like a consumer that claims event ids: a value seen again (its
    group redelivered after a failure part-way) is skipped, and counted."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[int, int] = {}  # value -> how many more times it fails
        self.repeats: list[int] = []

    def handle(self, values: list[dict]) -> None:
        numbers = [v["n"] for v in values]
        self.batches.append(numbers)
        failing = [n for n in numbers if self.failures.get(n)]
        if failing:
            for n in failing:
                self.failures[n] -= 1
            raise RuntimeError("the database went away")
        refused = self.refuse.intersection(numbers)
        if refused:
            raise InvalidInput("refused by the probe", details={"n": sorted(refused)})
        for n in numbers:
            if n in self.committed:
                self.repeats.append(n)
            else:
                self.committed.append(n)


class GroupBatchProbeService:
    name = "groupbatchprobe"

    @consume_json_batches(PORTAL_SUBMISSIONS_QUEUE, reader=read_probe, batch_size=10,
                          groups=True)
    def handle(self, values):
        PROBE.handle(values)


class GroupSingleProbeService:
    name = "groupsingleprobe"

    @consume_json(PORTAL_SUBMISSIONS_QUEUE, reader=read_probe, groups=True)
    def handle(self, value):
        PROBE.handle([value])


@pytest.fixture
def group_probe(amqp_uri):
    yield from probing(amqp_uri, GroupProbe(), GroupBatchProbeService)


def publish_groups(amqp_uri, groups):
    """Each of ``groups`` as one message: a list as a relay's group (with its count header),
    anything else as it is."""
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for group in groups:
            headers = {ENVELOPES_HEADER: len(group)} if isinstance(group, list) else {}
            raw = group if isinstance(group, bytes) else json.dumps(group).encode()
            producer.publish(raw, exchange="", routing_key=PORTAL_SUBMISSIONS_QUEUE,
                             content_type="application/json", content_encoding="utf-8",
                             delivery_mode=2, headers=headers)


def test_groups_are_handled_envelope_by_envelope_in_order_and_never_split(
        group_probe, amqp_uri, vhost, wait):
    state, start = group_probe
    groups = [[{"n": n} for n in range(i, i + 7)] for i in range(0, 70, 7)]
    groups.insert(3, {"n": 1000})  # a single envelope between groups
    publish_groups(amqp_uri, groups)
    start()
    wait(lambda: len(state.committed) == 71, timeout=20, message="all 71 handled")
    assert state.committed == [n for g in groups for n in
                               ([e["n"] for e in g] if isinstance(g, list) else [g["n"]])]
    for batch in state.batches:  # a batch holds whole groups: a multiple of 7, or 7k + 1
        assert len(batch) % 7 in (0, 1), batch
    assert max(len(b) for b in state.batches) >= 14, "batches fill up to at least the limit"
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="all acked")
    assert dead_letters(amqp_uri) == [] and state.repeats == []


def test_a_bad_envelope_in_a_group_is_dead_lettered_alone_as_a_message_of_its_own(
        group_probe, amqp_uri, vhost, wait):
    state, start = group_probe
    state.refuse = {3}
    publish_groups(amqp_uri, [[{"n": 1}, {"m": "wrong shape"}, {"n": 2}, {"n": 3}, {"n": 4}],
                              [], b"[not json"])
    start()
    wait(lambda: vhost.count(DEAD) == 4, timeout=20, message="four dead letters")
    wait(lambda: len(state.committed) == 3, timeout=10, message="the other three handled")
    assert state.committed == [1, 2, 4]
    letters = sorted(dead_letters(amqp_uri))
    assert [reason for reason, _ in letters] == ["empty_group", "invalid_schema", "not_json",
                                                 "rejected"]
    bodies = {reason: body for reason, body in letters}
    assert json.loads(bodies["invalid_schema"]) == {"m": "wrong shape"}
    assert json.loads(bodies["rejected"]) == {"n": 3}
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="all settled")


def test_a_group_that_fails_part_way_is_requeued_whole_and_each_envelope_lands_once(
        group_probe, amqp_uri, vhost, wait):
    state, start = group_probe
    # the batch fails; retried one by one, 0-4 land and 5 fails again: the message goes back
    # whole, and when it comes back 0-4 are repeats
    state.failures = {5: 2}
    publish_groups(amqp_uri, [[{"n": n} for n in range(10)]])
    start()
    wait(lambda: len(state.committed) == 10, timeout=20, message="all ten handled")
    assert state.committed == list(range(10))
    assert state.repeats == [0, 1, 2, 3, 4]
    assert vhost.count(DEAD) == 0, "a failing dependency dead-letters nothing"
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="acked")


def test_a_group_fails_on_one_envelope_then_the_message_comes_back_and_repeats_are_skipped(
        group_probe, amqp_uri, vhost, wait):
    state, start = group_probe
    publish_groups(amqp_uri, [[{"n": n} for n in range(6)]])
    state.failures = {3: 1}
    start(GroupSingleProbeService)  # one envelope at a time: 0-2 land, 3 fails, all come back
    wait(lambda: len(state.committed) == 6, timeout=20, message="all six handled")
    assert state.committed == list(range(6))
    assert state.repeats == [0, 1, 2], "the redelivered group's first three were skipped"
    assert vhost.count(DEAD) == 0
    wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="acked")


def test_the_portal_queue_without_groups_treats_an_array_as_a_bad_message(
        probe, amqp_uri, vhost, wait):
    state, start = probe
    publish_groups(amqp_uri, [[{"n": 1}, {"n": 2}]])
    start()
    wait(lambda: vhost.count(DEAD) == 1, timeout=20, message="the array dead-lettered")
    assert state.committed == []
    assert [reason for reason, _ in dead_letters(amqp_uri)] == ["invalid_schema"]


class MixedProbeService:
    """A batch consumer beside a one-at-a-time consumer of another queue, as intake has (the
    portal's queue in batches, review's events one at a time)."""
    name = "mixedprobe"

    @consume_json_batches(PORTAL_SUBMISSIONS_QUEUE, reader=read_probe, batch_size=25)
    def handle(self, values):
        PROBE.handle(values)

    @consume_json("intake.inbox", reader=read_probe)
    def handle_one(self, value):
        PROBE.handle([value])


def test_a_batch_consumer_beside_a_single_one_has_its_own_channel_and_acks_each_batch_at_once(
        amqp_uri, vhost, wait, monkeypatch):
    """nameko's consumers of one extension share a channel, where a multiple ack would settle
    the other consumer's deliveries too; batch consumers have a queue consumer of their own,
    so a service's only batch consumer acknowledges a batch in one frame."""
    acks = []
    original = RawQueueConsumer.ack_messages

    def recording(self, messages, *, multiple=False, **kwargs):
        acks.append((type(self).__name__, len(messages), multiple))
        return original(self, messages, multiple=multiple, **kwargs)

    monkeypatch.setattr(RawQueueConsumer, "ack_messages", recording)
    for _state, start in probing(amqp_uri, Probe(), MixedProbeService):
        container = start()
        publish(amqp_uri, [{"n": i} for i in range(60)])
        with Connection(amqp_uri) as conn:
            Producer(conn.channel()).publish(json.dumps({"n": 1000}).encode(), exchange="",
                                             routing_key="intake.inbox",
                                             content_type="application/json",
                                             content_encoding="utf-8", delivery_mode=2)
        wait(lambda: len(PROBE.committed) == 61, timeout=20, message="all 61 handled")
        wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0
             and vhost.count("intake.inbox") == 0, timeout=10, message="all acked")
        consumers = {e.method_name: type(e.queue_consumer).__name__
                     for e in container.entrypoints if hasattr(e, "queue_consumer")}
        assert consumers == {"handle": "BatchQueueConsumer", "handle_one": "RawQueueConsumer"}
        assert sorted(PROBE.committed) == list(range(60)) + [1000]
        batch_acks = [a for a in acks if a[0] == "BatchQueueConsumer"]
        assert sum(n for _name, n, _multiple in batch_acks) == 60
        assert all(multiple for _name, _n, multiple in batch_acks)


class HoldingProbe(Probe):
    """Holds the first batch it gets (as a slow transaction would) until the test lets go."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.hold = True

    def handle(self, values: list[dict]) -> None:
        import eventlet
        self.batches.append([v["n"] for v in values])
        while self.hold:
            self.holding = True
            eventlet.sleep(0.05)
        self.committed.extend(v["n"] for v in values)


def test_a_bad_message_settled_early_does_not_acknowledge_its_unprocessed_batch_mates(
        amqp_uri, vhost, wait):
    """A bad message is dead-lettered (and acknowledged) while its batch is read, before the
    batch is processed. Its acknowledgement must not cover the batch's earlier messages: a
    multiple ack would, and a crash before the batch commits then lost them (found by
    tests/e2e/test_faults.py: 79 applications acknowledged, never stored, when intake was
    killed just after dead-lettering a malformed one)."""
    for state, start in probing(amqp_uri, HoldingProbe(), BatchProbeService):
        publish(amqp_uri, [{"n": i} for i in range(10)] + [b"not json"])
        container = start()
        wait(lambda: state.holding, timeout=20, message="the batch is being processed")
        assert state.batches == [list(range(10))]
        wait(lambda: vhost.count(DEAD) == 1, timeout=10, message="the bad one dead-lettered")
        container.kill()  # a crash before the batch committed: nothing of it was processed
        wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 10, timeout=20,
             message="the ten unprocessed messages back in the queue")
        state.hold = False
        start()
        wait(lambda: len(state.committed) == 10, timeout=20, message="all ten handled")
        assert state.committed == list(range(10))
        wait(lambda: vhost.count(PORTAL_SUBMISSIONS_QUEUE) == 0, timeout=10, message="acked")
        assert [reason for reason, _ in dead_letters(amqp_uri)] == ["not_json"]
