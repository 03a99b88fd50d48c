"""The broker alone: kombu publishing persistent messages with publisher confirms to one queue
while a second connection consumes them. The baseline the platform's throughput is a ratio of.

    python -m bench.broker_raw [--messages 5000]
"""
from __future__ import annotations

import argparse
import threading
import time

from kombu import Connection, Producer, Queue

from bench.common import machine, scratch_vhost


def application_body() -> bytes:
    """The body the broker carries: one of the simulated portal's applications, as the portal
    publishes it (about 1.4 KiB), so the baseline moves messages of the platform's size."""
    from shared.simulation.portal import ApplicationFactory, portal_message

    return portal_message(ApplicationFactory(seed=1, prefix="R").valid("R22"))


BODY = application_body()


def raw_rate(amqp_uri: str, messages: int = 5000) -> float:
    """Messages per second through the broker, publish-with-confirm to consume-with-ack."""
    queue = Queue("bench.raw", durable=True)
    with Connection(amqp_uri) as setup:
        queue(setup.default_channel).declare()
        queue(setup.default_channel).purge()
    done = threading.Event()
    received = 0

    def consume() -> None:
        nonlocal received
        with Connection(amqp_uri) as conn:
            def on_message(body, message):
                nonlocal received
                message.ack()
                received += 1
                if received >= messages:
                    done.set()
            with conn.Consumer(queue, callbacks=[on_message], accept=["json", "application/json"]) as c:
                c.qos(prefetch_count=100)
                while not done.is_set():
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        continue
                    except Exception:
                        if done.is_set():
                            break
                        raise

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.3)
    start = time.perf_counter()
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        for _ in range(messages):
            producer.publish(BODY, routing_key=queue.name, delivery_mode=2,
                             content_type="application/json", content_encoding="utf-8")
    done.wait(120)
    elapsed = time.perf_counter() - start
    consumer.join(5)
    return received / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    with scratch_vhost() as uri:
        rate = raw_rate(uri, args.messages)
    print(f"machine: {machine()}")
    print(f"broker alone (confirmed persistent publish -> consume+ack): {rate:,.0f} msg/s")


if __name__ == "__main__":
    main()
