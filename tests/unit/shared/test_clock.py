from datetime import datetime, timedelta, timezone

import pytest

from shared.clock import CHINA, Clock, clock_from_setting, parse_instant


def test_real_clock_follows_real_time_in_china():
    now = Clock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(hours=8)
    assert abs(now - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_fixed_clock_stays_until_advanced():
    c = Clock(fixed=datetime(2023, 9, 30, 23, 59, tzinfo=CHINA))
    assert c.now() == c.now() == datetime(2023, 9, 30, 23, 59, tzinfo=CHINA)
    c.advance(timedelta(minutes=2))
    assert c.today().isoformat() == "2023-10-01"


def test_running_clock_moves_on_from_where_it_was_set():
    c = Clock()
    c.set(datetime(2023, 9, 1, 9, 0, tzinfo=CHINA), frozen=False)
    first = c.now()
    assert first.date().isoformat() == "2023-09-01" and c.mode == "offset"
    assert c.now() >= first


def test_reset_returns_to_real_time():
    c = Clock(fixed=datetime(2023, 1, 1, tzinfo=CHINA))
    c.reset()
    assert c.now().year >= 2026 and c.mode == "real"


def test_naive_times_are_read_as_china_time():
    assert parse_instant("2023-09-01T09:00:00").utcoffset() == timedelta(hours=8)
    assert parse_instant("2023-09-01") == datetime(2023, 9, 1, tzinfo=CHINA)
    assert parse_instant("2023-09-01T01:00:00Z") == datetime(2023, 9, 1, 9, tzinfo=CHINA)


def test_setting_fixes_or_starts_the_clock():
    assert clock_from_setting("2023-09-01T09:00:00+08:00").mode == "fixed"
    assert clock_from_setting("running:2023-09-01T09:00:00+08:00").mode == "offset"
    assert clock_from_setting(None).mode == "real"
    with pytest.raises(ValueError):
        clock_from_setting("next tuesday")
