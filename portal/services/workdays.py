"""Working days on the official Chinese calendar (holidays and make-up working weekends).

The ``chinese-calendar`` package knows the State Council's arrangements year by year. Past the
years it knows, Monday to Friday count as working days, and ``is_official`` says so.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar


def is_official(day: date) -> bool:
    """Does the official calendar cover this day's year?"""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5  # the stated fallback: Monday to Friday


def add_working_days(start: date, days: int) -> date:
    """The day by which ``days`` working days after ``start`` have passed (``start`` not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_workday(current):
            remaining -= 1
    return current


def working_days_left(today: date, due: date) -> int:
    """Working days from ``today`` to ``due``: positive while time is left, negative when overdue."""
    if due >= today:
        return sum(1 for i in range(1, (due - today).days + 1) if is_workday(today + timedelta(days=i)))
    return -sum(1 for i in range(0, (today - due).days) if is_workday(due + timedelta(days=i + 1)))
