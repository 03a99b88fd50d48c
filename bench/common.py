"""Helpers for benchmarks: throw-away vhosts, percentiles, and ratio reports.

Benchmarks print results as ratios against a baseline measured in the same run on the same
machine, never as absolute pass/fail thresholds.
"""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import uuid
from typing import Iterator
from urllib.parse import quote

import requests

MGMT = os.environ.get("ZHICHENG_TEST_RABBIT_MGMT", "http://127.0.0.1:15672")
AUTH = ("guest", "guest")


@contextlib.contextmanager
def scratch_vhost(prefix: str = "zhicheng-bench") -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    requests.put(f"{MGMT}/api/vhosts/{name}", auth=AUTH, timeout=10).raise_for_status()
    requests.put(f"{MGMT}/api/permissions/{name}/guest", auth=AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{quote(name, safe='')}"
    finally:
        requests.delete(f"{MGMT}/api/vhosts/{name}", auth=AUTH, timeout=10)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99),
            "mean": statistics.fmean(values) if values else float("nan")}


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as handle:
            mem = f", {int(handle.readline().split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"
