"""An injectable clock (时钟).

Publicity windows, deadlines and terms are computed from a :class:`Clock`, never from
``datetime.now()`` directly, so tests and demos can set the time. All times are timezone-aware and
the bureau's local zone is Asia/Shanghai (UTC+8): a deadline "end of September" means the end of
that day in China.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def ensure_aware(moment: datetime) -> datetime:
    """A naive datetime is read as China time."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CHINA)
    return moment


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant (a date alone means its start in China time)."""
    text = text.strip()
    if len(text) == 10:
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=CHINA)
    return ensure_aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


class Clock:
    """Real time unless set. ``set``/``advance``/``reset`` move it (tests, demos).

    Its setting is one ``(fixed, offset)`` pair replaced whole, so ``now()`` (called for every
    event) reads it without a lock; the moves that read and replace it take the lock."""

    def __init__(self, fixed: datetime | None = None, offset: timedelta | None = None) -> None:
        self._lock = threading.Lock()
        self._state: tuple[datetime | None, timedelta] = (
            ensure_aware(fixed) if fixed is not None else None, offset or timedelta(0))

    def now(self) -> datetime:
        fixed, offset = self._state
        if fixed is not None:
            return fixed.astimezone(CHINA)
        return (datetime.now(timezone.utc) + offset).astimezone(CHINA)

    def today(self) -> date:
        return self.now().date()

    @property
    def mode(self) -> str:
        fixed, offset = self._state
        if fixed is not None:
            return "fixed"
        return "offset" if offset else "real"

    def set(self, moment: datetime, *, frozen: bool = True) -> None:
        """Set the time. ``frozen``: stays at that instant; otherwise runs on from it."""
        moment = ensure_aware(moment)
        with self._lock:
            if frozen:
                self._state = (moment, timedelta(0))
            else:
                self._state = (None, moment - datetime.now(timezone.utc))

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            fixed, offset = self._state
            self._state = (fixed + delta, offset) if fixed is not None else (None, offset + delta)

    def reset(self) -> None:
        with self._lock:
            self._state = (None, timedelta(0))

    def describe(self) -> dict[str, str]:
        return {"now": self.now().isoformat(), "mode": self.mode}


def clock_from_setting(setting: str | None) -> Clock:
    """``ZHICHENG_CLOCK``: empty = real time; ``2023-09-01T09:00:00+08:00`` = fixed there;
    ``running:2023-09-01T09:00:00+08:00`` = starts there and runs on."""
    if not setting:
        return Clock()
    if setting.startswith("running:"):
        c = Clock()
        c.set(parse_instant(setting[len("running:"):]), frozen=False)
        return c
    return Clock(fixed=parse_instant(setting))
