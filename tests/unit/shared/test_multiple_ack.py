"""RawQueueConsumer.ack_messages with ``multiple``: one frame covers every delivery of the
channel up to its tag, so it must never reach past a delivery that is still open."""
from shared.messaging import RawQueueConsumer


class Channel:
    def __init__(self) -> None:
        self.connection = object()
        self.frames: list[tuple[int, bool]] = []


class Delivery:
    """The part of kombu's Message that acknowledging uses."""

    def __init__(self, channel: Channel, tag: int) -> None:
        self.channel, self.delivery_tag, self._state = channel, tag, "RECEIVED"

    @property
    def acknowledged(self) -> bool:
        return self._state in ("ACK", "REJECTED", "REQUEUED")

    def ack(self, multiple: bool = False) -> None:
        assert not self.acknowledged, f"tag {self.delivery_tag} acknowledged twice"
        self.channel.frames.append((self.delivery_tag, multiple))
        self._state = "ACK"


def consumer() -> RawQueueConsumer:
    return RawQueueConsumer.__new__(RawQueueConsumer)  # ack_messages needs no container


def test_a_run_with_nothing_open_below_it_is_one_multiple_frame():
    channel = Channel()
    batch = [Delivery(channel, tag) for tag in range(1, 6)]
    consumer().ack_messages(batch, multiple=True, unsettled=batch)
    assert channel.frames == [(5, True)]
    assert all(d.acknowledged for d in batch)


def test_a_delivery_above_an_open_one_is_acknowledged_alone():
    channel = Channel()
    batch = [Delivery(channel, tag) for tag in range(1, 12)]
    bad = batch[-1]  # dead-lettered while the batch is read, before 1-10 are processed
    consumer().ack_messages([bad], multiple=True, unsettled=batch)
    assert channel.frames == [(11, False)]
    assert [d.delivery_tag for d in batch if d.acknowledged] == [11]
    consumer().ack_messages(batch[:10], multiple=True, unsettled=batch)  # the batch committed
    assert channel.frames == [(11, False), (10, True)]


def test_the_run_below_the_lowest_open_delivery_goes_in_one_frame_the_rest_one_by_one():
    channel = Channel()
    batch = [Delivery(channel, tag) for tag in range(1, 8)]
    settled_now = [batch[0], batch[1], batch[4], batch[6]]  # 3, 4 and 6 still open
    consumer().ack_messages(settled_now, multiple=True, unsettled=batch)
    assert channel.frames == [(2, True), (5, False), (7, False)]


def test_open_deliveries_of_another_channel_do_not_hold_a_run_back():
    old, new = Channel(), Channel()  # e.g. before and after a reconnection
    stale = Delivery(old, 1)
    batch = [Delivery(new, tag) for tag in range(1, 4)]
    consumer().ack_messages(batch, multiple=True, unsettled=[stale, *batch])
    assert new.frames == [(3, True)] and old.frames == []


def test_without_multiple_each_is_acknowledged_alone_and_a_lost_channel_is_skipped():
    channel, lost = Channel(), Channel()
    lost.connection = None  # the broker redelivers what was on it
    batch = [Delivery(channel, 1), Delivery(channel, 2), Delivery(lost, 1)]
    consumer().ack_messages(batch)
    assert channel.frames == [(1, False), (2, False)] and lost.frames == []
