"""The batch consumer against the real broker: batches form from what is waiting, every message
is handled once, a refused message is dead-lettered alone, a failing dependency requeues."""
import json

import pytest
from kombu import Connection, Producer, Queue
from nameko.containers import ServiceContainer

from shared.errors import InvalidInput
from shared.messaging import PORTAL_SUBMISSIONS_QUEUE, consume_json_batches, declare_topology

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
    global PROBE
    PROBE = Probe()
    with Connection(amqp_uri) as conn:
        declare_topology(conn.channel())
    containers = []

    def start():
        container = ServiceContainer(BatchProbeService, {"AMQP_URI": amqp_uri, "max_workers": 4})
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
