"""Working days on China's official calendar (shared/workdays.py)."""
from datetime import date, datetime, timedelta, timezone

import pytest

from shared.clock import CHINA
from shared.workdays import (
    CalendarOutOfRange,
    add_working_days,
    first_working_day_on_or_after,
    holiday_name,
    is_working_day,
    publicity_window,
    supported_years,
    working_days_between,
    working_days_window_end,
)

pytestmark = pytest.mark.unit


def test_national_day_2023_holidays_are_not_working_days():
    # Mid-Autumn Festival 09-29 joined to National Day: 09-29 .. 10-06 off
    for day in range(29, 31):
        assert not is_working_day(date(2023, 9, day))
    for day in range(1, 7):
        assert not is_working_day(date(2023, 10, day))


def test_make_up_saturday_and_sunday_after_national_day_2023_are_working_days():
    assert date(2023, 10, 7).weekday() == 5 and date(2023, 10, 8).weekday() == 6
    assert is_working_day(date(2023, 10, 7))
    assert is_working_day(date(2023, 10, 8))
    assert holiday_name(date(2023, 10, 7)) == "National Day"


def test_ordinary_weekend_is_not_a_working_day_and_weekday_is():
    assert not is_working_day(date(2023, 10, 14))
    assert not is_working_day(date(2023, 10, 15))
    assert is_working_day(date(2023, 10, 16))
    assert holiday_name(date(2023, 10, 16)) is None


def test_adding_one_working_day_before_the_holiday_lands_on_the_make_up_saturday():
    assert add_working_days(date(2023, 9, 28), 1) == date(2023, 10, 7)
    assert add_working_days(date(2023, 9, 28), 2) == date(2023, 10, 8)
    assert add_working_days(date(2023, 9, 28), 3) == date(2023, 10, 9)


def test_adding_zero_working_days_returns_the_same_day_and_negative_counts_back():
    assert add_working_days(date(2023, 10, 3), 0) == date(2023, 10, 3)
    assert add_working_days(date(2023, 10, 7), -1) == date(2023, 9, 28)


def test_five_working_day_window_across_national_day_2023_counts_the_make_up_weekend():
    # Wed 09-27, Thu 09-28, Sat 10-07 (调休), Sun 10-08 (调休), Mon 10-09
    window = publicity_window(date(2023, 9, 27), 5)
    assert window.first_working_day == date(2023, 9, 27)
    assert window.last_day == date(2023, 10, 9)
    assert working_days_between(window.starts_on, window.last_day) == 5


def test_window_announced_during_the_holiday_starts_counting_on_the_make_up_saturday():
    window = publicity_window(date(2023, 10, 2), 5)
    assert window.first_working_day == date(2023, 10, 7)
    assert window.last_day == date(2023, 10, 11)


def test_window_closes_at_midnight_after_its_last_day_in_china_time():
    window = publicity_window(date(2023, 9, 27), 5)
    assert window.closes_at == datetime(2023, 10, 10, 0, 0, tzinfo=CHINA)
    assert window.opens_at == datetime(2023, 9, 27, 0, 0, tzinfo=CHINA)
    last_minute = datetime(2023, 10, 9, 23, 59, 59, tzinfo=CHINA)
    assert window.is_open(last_minute) and not window.has_ended(last_minute)
    assert window.has_ended(window.closes_at) and not window.is_open(window.closes_at)
    assert not window.is_open(window.opens_at - timedelta(seconds=1))


def test_window_compares_instants_in_any_zone():
    window = publicity_window(date(2023, 9, 27), 5)
    # 2023-10-09T16:00Z is 2023-10-10T00:00 in Shanghai: closed
    assert window.has_ended(datetime(2023, 10, 9, 16, 0, tzinfo=timezone.utc))
    assert not window.has_ended(datetime(2023, 10, 9, 15, 59, tzinfo=timezone.utc))


def test_a_moment_is_read_as_its_china_date():
    # 2023-10-06T17:00Z is 10-07 01:00 in Shanghai: the make-up Saturday
    assert is_working_day(datetime(2023, 10, 6, 17, 0, tzinfo=timezone.utc))
    assert not is_working_day(datetime(2023, 10, 6, 15, 0, tzinfo=timezone.utc))


def test_window_end_of_one_working_day_on_a_working_day_is_that_day():
    assert working_days_window_end(date(2023, 10, 9), 1) == date(2023, 10, 9)
    assert first_working_day_on_or_after(date(2023, 10, 1)) == date(2023, 10, 7)


def test_window_of_zero_working_days_is_refused():
    with pytest.raises(ValueError):
        working_days_window_end(date(2023, 10, 9), 0)


def test_working_days_between_is_zero_when_end_precedes_start():
    assert working_days_between(date(2023, 10, 9), date(2023, 10, 8)) == 0


def test_dates_beyond_the_calendar_data_raise_a_clear_error():
    first, last = supported_years()
    beyond = date(last + 1, 1, 5)
    with pytest.raises(CalendarOutOfRange) as caught:
        is_working_day(beyond)
    assert str(last) in caught.value.message and caught.value.code == "calendar_out_of_range"
    assert caught.value.details["last_year"] == last
    with pytest.raises(CalendarOutOfRange):
        is_working_day(date(first - 1, 6, 1))


def test_counting_into_a_year_without_data_raises_instead_of_guessing():
    _, last = supported_years()
    with pytest.raises(CalendarOutOfRange):
        add_working_days(date(last, 12, 20), 30)
    with pytest.raises(CalendarOutOfRange):
        publicity_window(date(last, 12, 30), 5)
