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


def test_progress_rates_rank_by_review_rate_with_the_target_line() -> None:
    from portal.services.progress import ProgressRow
    from portal.ui.charts import numbered_against_statistics, progress_rates

    rows = [
        ProgressRow("410100", "郑州市", 1997, 1228, 1072, 368270, 277198, 0),
        ProgressRow("419001", "济源市", 242, 206, 206, 30901, 31660, 0),
    ]
    figure = progress_rates(rows, "地市", 100)
    reported, reviewed = figure.data
    assert list(reviewed.x) == ["济源市", "郑州市"]
    assert list(reviewed.y) == [85.12, 53.68] and list(reported.y) == [85.12, 61.49]
    assert figure.layout.shapes[0].y0 == 100
    numbered = numbered_against_statistics(rows, "地市")
    assert list(numbered.data[1].customdata) == [75.27, 102.46]  # above 100% as it is
    assert list(numbered.data[0].x) == ["郑州市", "济源市"]


def test_the_trend_has_one_point_per_month_snapshot() -> None:
    from datetime import UTC, datetime

    from portal.services.snapshots import SnapshotRow
    from portal.ui.charts import progress_trend

    taken = datetime(2026, 10, 30, 16, tzinfo=UTC)
    rows = [
        SnapshotRow("2026-09", "410100", 10, 4, 2, 50, 0, 100, 2026, taken, False),
        SnapshotRow("2026-10", "410100", 10, 8, 6, 120, 0, 100, 2026, taken, False),
    ]
    figure = progress_trend(rows, "郑州市")
    reported, reviewed, numbered = figure.data
    assert list(reported.x) == ["2026-09", "2026-10"]
    assert (list(reported.y), list(reviewed.y), list(numbered.y)) == ([40.0, 80.0], [20.0, 60.0], [50.0, 120.0])
    assert figure.layout.title.text == "郑州市月末进度趋势"
