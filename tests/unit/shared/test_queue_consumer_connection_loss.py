"""Regression (found by tests/e2e/test_faults.py): a worker acknowledging its message while the
broker restarts got ConnectionResetError from the socket; nameko ignores only amqp's
ConnectionError, so the error escaped the worker thread and killed the service container."""
import pytest
from amqp.exceptions import RecoverableConnectionError

from shared.messaging import RawQueueConsumer


class BrokenMessage:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.channel = type("Channel", (), {"connection": object()})()
        self.calls = 0

    def ack(self) -> None:
        self.calls += 1
        raise self.error

    requeue = ack


@pytest.mark.parametrize("error", [ConnectionResetError(104, "Connection reset by peer"),
                                   BrokenPipeError(32, "Broken pipe"),
                                   RecoverableConnectionError("connection already closed")])
def test_acknowledging_on_a_lost_connection_leaves_the_message_to_redelivery(error):
    message = BrokenMessage(error)
    RawQueueConsumer().ack_message(message)
    assert message.calls == 1


@pytest.mark.parametrize("error", [ConnectionResetError(104, "Connection reset by peer"),
                                   RecoverableConnectionError("connection already closed")])
def test_requeueing_on_a_lost_connection_leaves_the_message_to_redelivery(error):
    message = BrokenMessage(error)
    RawQueueConsumer().requeue_message(message)
    assert message.calls == 1


def test_other_errors_still_surface():
    with pytest.raises(ValueError):
        RawQueueConsumer().ack_message(BrokenMessage(ValueError("bug")))
