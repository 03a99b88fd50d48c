"""大中专毕业生职称初定 (二(三)): the level a graduate is determined at, without a committee.

The qualifying table lives in ``initial_determination.yaml`` (data, not code). Pure domain.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

TABLE_FILE = Path(__file__).parent / "initial_determination.yaml"
TITLES_FILE = Path(__file__).parent / "titles.yaml"


@dataclass(frozen=True)
class TableRow:
    education: str
    min_work_years: float
    level: str
    min_years_after_degree: float = 0


@dataclass(frozen=True)
class DeterminationTable:
    levels: tuple[str, ...]
    level_zh: Mapping[str, str]
    education_order: tuple[str, ...]
    rows: tuple[TableRow, ...]
    mismatch_extra_years: float
    mismatch_ownership: str
    mismatch_industry: str
    mismatch_excluded_industries: frozenset[str]
    series_titles: Mapping[str, Mapping[str, str]]
    exam_only: Mapping[str, frozenset[str]]

    def level_rank(self, level: str | None) -> int:
        return self.levels.index(level) if level in self.levels else -1

    def education_rank(self, education: str | None) -> int:
        return self.education_order.index(education) if education in self.education_order else -1

    def title_for(self, series: str, level: str) -> str | None:
        return (self.series_titles.get(series) or {}).get(level)

    def series_of_title(self, title: str) -> str | None:
        for series, titles in self.series_titles.items():
            if title in titles.values():
                return series
        return None


def table_from_dict(data: Mapping[str, Any]) -> DeterminationTable:
    levels = tuple(lv["code"] for lv in data["levels"])
    rows = tuple(TableRow(education=r["education"], min_work_years=float(r["min_work_years"]),
                          level=r["level"],
                          min_years_after_degree=float(r.get("min_years_after_degree", 0)))
                 for r in data["table"])
    for r in rows:
        if r.level not in levels:
            raise ValueError(f"table row for {r.education}: unknown level {r.level}")
    mm = data["mismatched_major"]
    exam_only = {e["specialty"]: frozenset(e["levels"]) for e in data.get("exam_only_specialties", [])}
    series = {k: {lv: v for lv, v in titles.items() if lv in levels}
              for k, titles in data.get("series_titles", {}).items()}
    return DeterminationTable(
        levels=levels, level_zh={lv["code"]: lv["zh"] for lv in data["levels"]},
        education_order=tuple(e["code"] for e in data["education"]), rows=rows,
        mismatch_extra_years=float(mm["extra_work_years"]), mismatch_ownership=mm["ownership"],
        mismatch_industry=mm["industry"],
        mismatch_excluded_industries=frozenset(mm.get("excluded_industries", ())),
        series_titles=series, exam_only=exam_only)


@lru_cache(maxsize=None)
def default_table() -> DeterminationTable:
    with open(TABLE_FILE, encoding="utf-8") as fh:
        return table_from_dict(yaml.safe_load(fh))


@lru_cache(maxsize=None)
def title_levels() -> Mapping[str, str]:
    with open(TITLES_FILE, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    out: dict[str, str] = {}
    for level, names in data["levels"].items():
        for name in names:
            out[name] = level
    return out


def level_of_title(title: str | None) -> str | None:
    if not title:
        return None
    return title_levels().get(title)


def years_between(start: date, end: date) -> float:
    return max(0.0, (end - start).days / 365.25)


@dataclass(frozen=True)
class Entitlement:
    """What the table grants: the level, and the years that were required for it."""

    level: str | None
    required_years: float | None
    mismatch_extra_years: float
    reason: str | None = None


def mismatch_allowed(table: DeterminationTable, ownership: str, industry: str) -> bool:
    """民营工业企业中专业不对口的大中专毕业生 (construction, water, transport, commerce excluded)."""
    return (ownership == table.mismatch_ownership and industry == table.mismatch_industry
            and industry not in table.mismatch_excluded_industries)


def entitled_level(table: DeterminationTable, *, education: str, work_years: float,
                   graduated_on: date, today: date, major_matches: bool,
                   ownership: str, industry: str) -> Entitlement:
    """The highest level the table grants for this education and work, or why none.

    A major that does not match the specialty is accepted only in a private industrial enterprise,
    with one more year of professional work (二(三)).
    """
    extra = 0.0
    if not major_matches:
        if not mismatch_allowed(table, ownership, industry):
            return Entitlement(None, None, 0.0, reason="major_mismatch")
        extra = table.mismatch_extra_years
    years_after = min(work_years, years_between(graduated_on, today))
    best: TableRow | None = None
    shortest: float | None = None
    for row in table.rows:
        if row.education != education:
            continue
        need = row.min_work_years + extra
        shortest = need if shortest is None else min(shortest, need)
        if work_years + 1e-9 >= need and years_after + 1e-9 >= row.min_years_after_degree:
            if best is None or table.level_rank(row.level) > table.level_rank(best.level):
                best = row
    if best is None:
        if shortest is None:
            return Entitlement(None, None, extra, reason="education_not_in_table")
        return Entitlement(None, shortest, extra, reason="not_enough_work_years")
    return Entitlement(best.level, best.min_work_years + extra, extra)
