"""附件2 of the Henan notice: institutions' information and children's records per city-level unit
on 7 April 2017 (各地学前教育机构信息上报及审核情况统计表，截止2017年4月7日), as data.

The rows keep the notice's order (ranked by the share of children with a student number) and its
figures; the percentages are the notice's own, to two decimals, as printed. The province-governed
counties (省直管县) are counted in their former city (备注 1); 济源 is a city-level unit of its own.
The total row of the notice is ``TOTAL``.
"""

from __future__ import annotations

from dataclasses import dataclass

AS_OF = "2017-04-07"
BASELINE_YEAR = 2017


@dataclass(frozen=True)
class CityFigures:
    rank: int  # 序号
    code: str  # GB/T 2260 code of the city-level unit
    name: str  # 地市
    institutions: int  # 系统内学前机构总数（个）
    reported: int  # 机构基本信息已上报数（个）
    reported_pct: str  # 占比, as printed
    reviewed: int  # 机构基本信息已被审核数（个）
    reviewed_pct: str  # 占比
    baseline: int  # 教育统计在园幼儿数（人）
    numbered: int  # 已录入系统并获得学籍的幼儿数（个）
    numbered_pct: str  # 占比


CITIES: tuple[CityFigures, ...] = (
    CityFigures(1, "419001", "济源市", 242, 206, "85.12%", 206, "85.12%", 30901, 31660, "102.46%"),
    CityFigures(2, "411000", "许昌市", 1303, 1070, "82.12%", 1057, "81.12%", 200175, 174871, "87.36%"),
    CityFigures(3, "411200", "三门峡市", 449, 359, "79.96%", 355, "79.06%", 73967, 64477, "87.17%"),
    CityFigures(4, "411700", "驻马店市", 3149, 2333, "74.09%", 2316, "73.55%", 322739, 253440, "78.53%"),
    CityFigures(5, "410100", "郑州市", 1997, 1228, "61.49%", 1072, "53.68%", 368270, 277198, "75.27%"),
    CityFigures(6, "410600", "鹤壁市", 555, 360, "64.86%", 350, "63.06%", 63613, 46607, "73.27%"),
    CityFigures(7, "410500", "安阳市", 2691, 1493, "55.48%", 1463, "54.37%", 247115, 175551, "71.04%"),
    CityFigures(8, "411600", "周口市", 4938, 2899, "58.71%", 2880, "58.32%", 404438, 270881, "66.98%"),
    CityFigures(9, "410700", "新乡市", 2392, 1449, "60.58%", 1416, "59.20%", 263662, 176412, "66.91%"),
    CityFigures(10, "410800", "焦作市", 1068, 578, "54.12%", 566, "53.00%", 130131, 84644, "65.05%"),
    CityFigures(11, "410200", "开封市", 1775, 979, "55.15%", 955, "53.80%", 191326, 112852, "58.98%"),
    CityFigures(12, "411300", "南阳市", 5110, 2855, "55.87%", 2788, "54.56%", 428181, 230383, "53.81%"),
    CityFigures(13, "411100", "漯河市", 878, 591, "67.31%", 580, "66.06%", 97762, 52016, "53.21%"),
    CityFigures(14, "410400", "平顶山市", 1899, 1169, "61.56%", 860, "45.29%", 223870, 116073, "51.85%"),
    CityFigures(15, "410900", "濮阳市", 1230, 579, "47.07%", 518, "42.11%", 152077, 78186, "51.41%"),
    CityFigures(16, "410300", "洛阳市", 2126, 977, "45.95%", 949, "44.64%", 262728, 131913, "50.21%"),
    CityFigures(17, "411500", "信阳市", 3303, 1558, "47.17%", 1548, "46.87%", 271195, 121142, "44.67%"),
    CityFigures(18, "411400", "商丘市", 3026, 1287, "42.53%", 1163, "38.43%", 354688, 147656, "41.63%"),
)

# 合计 (总计): 38131 institutions, 21970 reported (57.62%), 21042 reviewed (55.18%), 4086838 children in
# the statistics, 2545962 with a student number (the notice prints no percentage for it: 62.30%).
TOTAL = CityFigures(0, "410000", "总计", 38131, 21970, "57.62%", 21042, "55.18%", 4086838, 2545962, "")

BY_CODE: dict[str, CityFigures] = {c.code: c for c in CITIES}
