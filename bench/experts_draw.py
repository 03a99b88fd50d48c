"""Benchmark (not a test): a verifiable draw of 11 + 4 reserves from a pool of 10,000 experts whose
docket has applicants from 500 employers that conflict with part of the pool.

Measured per draw, over 1,000 draws:
- ``draw``: the whole use case in the domain — eligibility with every exclusion reason (回避, term,
  pool, specialty), opening the committed round (sorted-list hash, commitment digest), two parties'
  commitments and reveals, seed and selection;
- ``select``: only the seeded selection over the eligible list;
- baselines from the same run: ``random.sample`` of 15 over the same eligible list, and a plain
  employer filter + ``random.sample`` over the 10,000 (what an unverifiable draw would cost).

Run: ``/work/main/.venv/bin/python bench/experts_draw.py [--draws 1000]``.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from services.experts import draw, pool  # noqa: E402
from services.experts.pool import (DocketApplicant, Expert, ExpertSource, MeetingDocket,  # noqa: E402
                                   TitleLevel)

POOL_SIZE = 10_000
EMPLOYERS = 2_000
CONFLICTING_EMPLOYERS = 500
PANEL, RESERVES = 11, 4
PARTIES = ("bureau_supervisor", "committee_office")


def build_pool(rng: random.Random) -> tuple[list[Expert], MeetingDocket]:
    specialties = ["机电制造", "系统集成", "生产制造", "技术服务", "设计开发"]
    experts = []
    for i in range(POOL_SIZE):
        experts.append(Expert(
            expert_id=f"E{i:06d}", identity_number="330604197001010011", name="专家",
            employer=f"单位{rng.randrange(EMPLOYERS):05d}",
            specialties=frozenset(rng.sample(specialties, 2)), title="高级工程师",
            title_level=TitleLevel.SENIOR, source=ExpertSource.ENTERPRISE,
            committees=frozenset({"C-JIDIAN"}), term_start=date(2023, 1, 1),
            term_end=date(2025, 12, 31)))
    applicants = tuple(DocketApplicant(f"A{j:04d}", f"单位{j:05d}")
                       for j in range(CONFLICTING_EMPLOYERS))
    docket = MeetingDocket("C-JIDIAN", "M1", date(2023, 11, 20), frozenset({"机电制造", "系统集成"}),
                           applicants=applicants)
    return experts, docket


def one_draw(experts: list[Expert], docket: MeetingDocket, i: int) -> draw.DrawResult:
    elig = pool.assess_eligibility(experts, docket)
    rnd = draw.open_round(round_id=f"R{i}", committee_id="C-JIDIAN", meeting_id="M1",
                          meeting_date="2023-11-20", panel_size=PANEL, reserves=RESERVES,
                          eligible=elig.eligible, exclusions=elig.exclusions, parties=PARTIES,
                          opened_at="2023-11-01T09:00:00+08:00")
    secrets = {p: hashlib.sha256(f"{p}/{i}".encode()).hexdigest() for p in PARTIES}
    for p in PARTIES:
        rnd.commit(p, draw.party_commitment(rnd.digest, p, secrets[p]), at="t1")
    for p in PARTIES:
        rnd.reveal(p, secrets[p], at="t2")
    return rnd.finalize(at="t3")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return p50, p99


def timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(20231120)
    experts, docket = build_pool(rng)
    elig = pool.assess_eligibility(experts, docket)
    eligible = list(elig.eligible)
    conflicting = {pool.normalize_unit(a.employer) for a in docket.applicants}
    print(machine())
    print(f"pool {POOL_SIZE} experts, {len(eligible)} eligible, {len(elig.exclusions)} excluded "
          f"({CONFLICTING_EMPLOYERS} conflicting employers); draw {PANEL}+{RESERVES}; "
          f"{args.draws} draws")

    base_rng = random.Random(1)
    results = {
        "baseline random.sample(eligible, 15)":
            timed(lambda i: base_rng.sample(eligible, PANEL + RESERVES), args.draws),
        "baseline employer filter + random.sample":
            timed(lambda i: base_rng.sample(
                [e.expert_id for e in experts if pool.normalize_unit(e.employer) not in conflicting],
                PANEL + RESERVES), args.draws),
        "select only (seeded, rejection sampling)":
            timed(lambda i: draw.select(hashlib.sha256(str(i).encode()).digest(), eligible,
                                        PANEL + RESERVES), args.draws),
        "full verifiable draw (eligibility+commit+reveal+select)":
            timed(lambda i: one_draw(experts, docket, i), args.draws),
    }
    base50, base99 = percentiles(results["baseline random.sample(eligible, 15)"])
    filt50, filt99 = percentiles(results["baseline employer filter + random.sample"])
    print(f"{'case':58} {'p50 ms':>9} {'p99 ms':>9} {'p50 ×sample':>12} {'p50 ×filter':>12}")
    for name, samples in results.items():
        p50, p99 = percentiles(samples)
        print(f"{name:58} {p50 * 1e3:9.3f} {p99 * 1e3:9.3f} {p50 / base50:12.1f} "
              f"{p50 / filt50:12.2f}")


if __name__ == "__main__":
    main()
