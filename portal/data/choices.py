"""Closed lists of values used by the tables (labels are Chinese because they are the values)."""

from __future__ import annotations

from enum import StrEnum

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


class DocumentType(StrEnum):
    """A child's identity document (§28 of the Rules)."""

    RESIDENT_ID = "居民身份证"
    HK_MACAO_PERMIT = "港澳居民来往内地通行证"
    TAIWAN_PERMIT = "台湾居民来往大陆通行证"
    HMT_RESIDENCE = "港澳台居民居住证"
    FOREIGN_PERMANENT = "外国人永久居留身份证"
    PASSPORT = "护照"
    NONE = "无证件"
