"""Chart builders are plain functions: test the figures, not the screen."""

from __future__ import annotations

from portal.services.overview import SubRegionRow
from portal.ui.charts import institutions_by_region


def test_institutions_by_region_orders_largest_first() -> None:
    rows = [
        SubRegionRow("410102", "中原区", 2, 0, 1),
        SubRegionRow("410122", "中牟县", 5, 2, 3),
        SubRegionRow("410105", "金水区", 2, 0, 0),
    ]
    figure = institutions_by_region(rows, "县区")
    bar = figure.data[0]
    assert list(bar.y) == ["中牟县", "中原区", "金水区"]
    assert list(bar.x) == [5, 2, 2]
    assert figure.layout.title.text == "各县区系统内学前教育机构数"


def test_empty_rows_give_an_empty_chart() -> None:
    figure = institutions_by_region([], "乡镇")
    assert list(figure.data[0].x) == []
