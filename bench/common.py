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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc), or 0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def written_bytes(pid: int) -> float:
    """Bytes a process has caused to be written to storage so far (/proc/<pid>/io), or 0."""
    try:
        with open(f"/proc/{pid}/io") as handle:
            for line in handle:
                if line.startswith("write_bytes:"):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0.0


def pids_named(name: str) -> list[int]:
    """Pids of the processes whose command name is ``name`` (e.g. beam.smp, postgres)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() == name:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU seconds used by named groups of processes between ``start()`` and ``stop()``: where a
    run's time went (services, broker, database, the load generator itself). With
    ``read=written_bytes``, the bytes they wrote to storage instead."""

    def __init__(self, groups: dict[str, list[int] | str], read=cpu_seconds) -> None:
        self.groups = groups
        self.read = read
        self.used: dict[str, float] = {}

    def _pids(self, spec: list[int] | str) -> list[int]:
        return pids_named(spec) if isinstance(spec, str) else spec

    def _read(self) -> dict[str, dict[int, float]]:
        return {g: {p: self.read(p) for p in self._pids(spec)} for g, spec in self.groups.items()}

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.used = {g: sum(v - self._before[g].get(p, 0.0) for p, v in after[g].items())
                     for g in after}
        return self.used


def queue_message_counts(amqp_uri: str) -> dict[str, int]:
    """Messages routed to the vhost's queues and delivered from them so far (the management
    API's counters, which it refreshes every few seconds): what the broker did, per copy."""
    vhost = amqp_uri.rsplit("/", 1)[1]
    queues = requests.get(f"{MGMT}/api/queues/{vhost}", auth=AUTH, timeout=10).json()
    stats = [q.get("message_stats", {}) for q in queues if q["name"] != "bench.raw"]
    return {"routed": sum(s.get("publish", 0) for s in stats),
            "delivered": sum(s.get("deliver_get", 0) for s in stats)}


def batch_sizes(metrics_urls: dict[str, str]) -> dict[str, tuple[float, float]]:
    """queue -> (runs, envelopes) that its batch consumer has handled so far, read from each
    service's /metrics (``zhicheng_consumer_batch_size``)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, tuple[float, float]] = {}
    for url in metrics_urls.values():
        text = requests.get(url, timeout=10).text
        for family in text_string_to_metric_families(text):
            if family.name != "zhicheng_consumer_batch_size":
                continue
            for sample in family.samples:
                queue = sample.labels.get("queue")
                runs, envelopes = out.get(queue, (0.0, 0.0))
                if sample.name.endswith("_count"):
                    runs += sample.value
                elif sample.name.endswith("_sum"):
                    envelopes += sample.value
                out[queue] = (runs, envelopes)
    return out


def disk_writes() -> tuple[int, int]:
    """(bytes written, ms the disks were busy) so far, over the machine's whole disks (those in
    /sys/block: partitions would count the same writes twice), memory-backed ones left out."""
    disks = {name for name in os.listdir("/sys/block")
             if not name.startswith(("loop", "ram", "zram"))}
    written = busy = 0
    with open("/proc/diskstats") as stats:
        for line in stats:
            parts = line.split()
            if parts[2] in disks:
                written += int(parts[9]) * 512
                busy += int(parts[12])
    return written, busy
