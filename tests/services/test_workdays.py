"""Deadlines in working days on the official calendar."""

from __future__ import annotations

from datetime import date

from portal.services.workdays import add_working_days, is_official, is_workday, working_days_left


def test_national_day_holiday_is_skipped() -> None:
    # 2026: 1-7 October off. Five working days from Wednesday 30 September end on 12 October?
    # 8 Oct (Thu), 9 Oct (Fri), 10 Oct (Sat, a make-up working day), 12 Oct (Mon), 13 Oct (Tue).
    assert add_working_days(date(2026, 9, 30), 5) == date(2026, 10, 13)


def test_make_up_saturday_counts() -> None:
    assert not is_workday(date(2026, 10, 3))
    assert is_workday(date(2026, 10, 10))  # Saturday, worked in lieu of the holiday
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)


def test_ordinary_weekend() -> None:
    assert add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Friday -> Monday
    assert add_working_days(date(2026, 11, 27), 0) == date(2026, 11, 27)


def test_fallback_beyond_the_known_years_is_monday_to_friday() -> None:
    assert not is_official(date(2031, 1, 6))
    assert add_working_days(date(2031, 1, 3), 1) == date(2031, 1, 6)  # Friday -> Monday
    assert is_workday(date(2031, 1, 1))  # a holiday the fallback does not know


def test_days_left_and_overdue() -> None:
    assert working_days_left(date(2026, 9, 30), date(2026, 10, 13)) == 5
    assert working_days_left(date(2026, 10, 13), date(2026, 10, 13)) == 0
    assert working_days_left(date(2026, 10, 14), date(2026, 10, 13)) == -1
    assert working_days_left(date(2026, 10, 19), date(2026, 10, 13)) == -4  # 14, 15, 16, 19
