"""Levels, duties and the roles they make.

A role is a level (where the user sits: ministry ... institution) and a duty (what they do there).
The three administrators of level-3 protection (system, security, audit) are duties of their own,
kept apart so that no one account can both act and erase the trace of acting (R6.5).
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    MINISTRY = "ministry"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"  # a township central kindergarten (乡镇中心园) guiding its township
    INSTITUTION = "institution"


class Duty(StrEnum):
    ENTRY = "entry"  # 数据填报
    REVIEWER = "reviewer"  # 审核
    LEADER = "leader"  # 领导 / 查看
    SYSADMIN = "sysadmin"  # 系统管理员: accounts and settings
    SECADMIN = "secadmin"  # 安全管理员: policy, grants, locks
    AUDITOR = "auditor"  # 审计管理员: reads and exports the audit log
    FINANCE = "finance"  # 财务: computes the funding that follows the student numbers (R4.2)


LEVEL_LABELS: dict[Level, str] = {
    Level.MINISTRY: "教育部",
    Level.PROVINCE: "省级",
    Level.CITY: "地市级",
    Level.COUNTY: "县级",
    Level.TOWNSHIP: "乡镇中心园",
    Level.INSTITUTION: "幼儿园",
}

DUTY_LABELS: dict[Duty, str] = {
    Duty.ENTRY: "数据填报员",
    Duty.REVIEWER: "审核员",
    Duty.LEADER: "领导（查看）",
    Duty.SYSADMIN: "系统管理员",
    Duty.SECADMIN: "安全管理员",
    Duty.AUDITOR: "审计管理员",
    Duty.FINANCE: "财务人员",
}

# Levels above another, highest first. A township central kindergarten sits between county and
# institution; it is an institution itself, with a guiding role over its township.
LEVEL_ORDER: tuple[Level, ...] = (
    Level.MINISTRY,
    Level.PROVINCE,
    Level.CITY,
    Level.COUNTY,
    Level.TOWNSHIP,
    Level.INSTITUTION,
)

BUREAU_LEVELS: frozenset[Level] = frozenset({Level.MINISTRY, Level.PROVINCE, Level.CITY, Level.COUNTY})
ADMIN_DUTIES: frozenset[Duty] = frozenset({Duty.SYSADMIN, Duty.SECADMIN, Duty.AUDITOR})

# Which duties exist at which level.
DUTIES_BY_LEVEL: dict[Level, frozenset[Duty]] = {
    Level.MINISTRY: frozenset({Duty.LEADER, Duty.REVIEWER, Duty.SYSADMIN, Duty.SECADMIN, Duty.AUDITOR, Duty.FINANCE}),
    Level.PROVINCE: frozenset({Duty.LEADER, Duty.REVIEWER, Duty.SYSADMIN, Duty.SECADMIN, Duty.AUDITOR, Duty.FINANCE}),
    Level.CITY: frozenset({Duty.LEADER, Duty.REVIEWER, Duty.SYSADMIN, Duty.SECADMIN, Duty.AUDITOR, Duty.FINANCE}),
    Level.COUNTY: frozenset({Duty.LEADER, Duty.REVIEWER, Duty.SYSADMIN, Duty.SECADMIN, Duty.AUDITOR, Duty.FINANCE}),
    Level.TOWNSHIP: frozenset({Duty.REVIEWER, Duty.ENTRY}),
    Level.INSTITUTION: frozenset({Duty.ENTRY, Duty.REVIEWER, Duty.LEADER}),
}


def level_rank(level: Level) -> int:
    """0 for the ministry, growing downwards."""
    return LEVEL_ORDER.index(level)


def role_label(level: Level, duty: Duty) -> str:
    """The role as the screens name it, e.g. 县级审核员."""
    return f"{LEVEL_LABELS[level]}{DUTY_LABELS[duty]}"


def is_valid_role(level: Level, duty: Duty) -> bool:
    return duty in DUTIES_BY_LEVEL[level]
