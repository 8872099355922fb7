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
