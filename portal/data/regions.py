"""Region reference data: the GB/T 2260 division codes shipped by the ``cpca`` package.

cpca's ``adcodes.csv`` holds 12-digit codes (the 6-digit GB/T 2260 code padded with zeros) with
names and coordinates for every province, city and county. We keep the 6-digit code and:
- skip the placeholder rows "市辖区" under an ordinary city and "省直辖县级行政区划";
- make each county-level unit directly under a province (xx90yy, e.g. 济源 419001) a city-level
  unit of its own, as the seed's progress table counts 济源 among Henan's 18;
- keep the municipalities' "市辖区"/"县" rows as their city level, named after the municipality.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class RegionRecord:
    code: str
    name: str
    level: str
    parent_code: str | None
    province_code: str
    city_code: str | None
    county_code: str | None
    longitude: float | None
    latitude: float | None


def _float(value: str) -> float | None:
    value = (value or "").strip()
    return float(value) if value else None


def _read_cpca_rows() -> list[tuple[str, str, float | None, float | None]]:
    text = resources.files("cpca.resources").joinpath("adcodes.csv").read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(text.splitlines()):
        code = row["adcode"].strip()[:6]
        if len(code) == 6 and code.isdigit():
            rows.append((code, row["name"].strip(), _float(row["longitude"]), _float(row["latitude"])))
    return rows


def is_direct_county_level_unit(code: str) -> bool:
    """xx90yy: a county-level unit administered directly by its province (济源, 仙桃 ...)."""
    return code[2:4] == "90" and code[4:] != "00"


def cpca_regions(province_codes: Iterable[str] | None = None) -> Iterator[RegionRecord]:
    """Province, city and county records from cpca, parents before children."""
    wanted = set(province_codes) if province_codes is not None else None
    rows = sorted(_read_cpca_rows())
    names = {code: name for code, name, _, _ in rows}
    for code, name, lon, lat in rows:
        province = code[:2]
        if wanted is not None and province not in wanted:
            continue
        if code[2:] == "0000":
            yield RegionRecord(code, name, "province", None, province, None, None, lon, lat)
        elif code[4:] == "00":
            if code[2:4] == "90" or name.endswith("直辖县级行政区划"):
                continue
            if name in ("市辖区", "县"):  # a municipality's city level
                province_name = names.get(province + "0000", "")
                name = province_name if name == "市辖区" else f"{province_name}（县）"
            yield RegionRecord(code, name, "city", province + "0000", province, code, None, lon, lat)
        else:
            if name == "市辖区":
                continue
            if is_direct_county_level_unit(code):
                # A city-level unit of its own; it is also the county of its institutions.
                yield RegionRecord(code, name, "city", province + "0000", province, code, code, lon, lat)
                continue
            city = code[:4] + "00"
            if city not in names:
                continue
            yield RegionRecord(code, name, "county", city, province, city, code, lon, lat)
