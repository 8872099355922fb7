"""Helpers shared by the browser journeys."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page


def choose(page: Page, box: Locator, option: str) -> None:
    """Pick an option of a select box. The list can fail to open on the first click (the page's
    cookie component rerunning): then it is clicked again; typing filters it."""
    from playwright.sync_api import expect

    for _attempt in range(3):
        box.click()
        try:
            expect(page.get_by_role("option").first).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
    box.press_sequentially(option)
    page.get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option)
