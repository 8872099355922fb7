"""Closed lists of values used by the tables (labels are Chinese because they are the values)."""

from __future__ import annotations

INSTITUTION_KINDS: tuple[str, ...] = ("独立设置幼儿园", "附设幼儿班", "学前班")
OWNERSHIPS: tuple[str, ...] = ("公办", "民办")
URBAN_RURAL_CLASSES: tuple[str, ...] = (
    "主城区",
    "城乡结合区",
    "镇中心区",
    "镇乡结合区",
    "特殊区域",
    "乡中心区",
    "村庄",
)
RURAL_CLASSES: frozenset[str] = frozenset({"镇乡结合区", "乡中心区", "村庄"})
REGION_LEVELS: tuple[str, ...] = ("province", "city", "county", "township")
REGION_LEVEL_LABELS: dict[str, str] = {
    "province": "省级",
    "city": "地市级",
    "county": "县级",
    "township": "乡镇",
}
