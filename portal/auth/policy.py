"""The policy: may this actor do this to this object, and which rows may it see.

Two faces of one rule set:
- ``may`` / ``require`` answer for one object (a row, or None for "this kind of thing at all");
- ``scope_filter`` turns an actor into a SQL condition that every query applies.

Scope by level: the ministry sees everything; a province, city or county sees the rows whose
``province_code`` / ``city_code`` / ``county_code`` is theirs; a township central kindergarten
sees the institutions (and their users) of its township; an institution sees itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, true

from portal.auth.actor import Actor
from portal.auth.roles import BUREAU_LEVELS, Duty, Level, level_rank


class Action(StrEnum):
    VIEW_INSTITUTION = "view_institution"
    EDIT_INSTITUTION = "edit_institution"
    VIEW_USER = "view_user"
    MANAGE_USER = "manage_user"
    UNLOCK_ACCOUNT = "unlock_account"
    VIEW_AUDIT = "view_audit"
    IMPORT_REGIONS = "import_regions"
    REGISTER_INSTITUTION = "register_institution"
    REVIEW = "review"
    DESIGN_FORM = "design_form"
    VIEW_CHILDREN = "view_children"
    MANAGE_CHILDREN = "manage_children"
    REVEAL_PERSONAL = "reveal_personal"
    ARBITRATE = "arbitrate"
    RESET_PASSWORD = "reset_password"
    VIEW_GRANTS = "view_grants"
    APPROVE_LOAN = "approve_loan"
    MANAGE_POLICY = "manage_policy"
    REVOKE_GRANT = "revoke_grant"
    VIEW_PROJECTS = "view_projects"
    MANAGE_PROJECT = "manage_project"
    RECORD_CENTRAL_FUNDS = "record_central_funds"
    COMPUTE_FUNDING = "compute_funding"
    PUBLISH_NOTICE = "publish_notice"
    MANAGE_SUPPORT = "manage_support"


ACTION_LABELS: dict[Action, str] = {
    Action.VIEW_INSTITUTION: "查看机构",
    Action.EDIT_INSTITUTION: "修改机构信息",
    Action.VIEW_USER: "查看用户",
    Action.MANAGE_USER: "管理用户",
    Action.UNLOCK_ACCOUNT: "解除账户锁定",
    Action.VIEW_AUDIT: "查看审计日志",
    Action.IMPORT_REGIONS: "导入行政区划",
    Action.REGISTER_INSTITUTION: "登记新机构",
    Action.REVIEW: "审核申请",
    Action.DESIGN_FORM: "设计监管表单",
    Action.VIEW_CHILDREN: "查看幼儿信息",
    Action.MANAGE_CHILDREN: "填报幼儿信息",
    Action.REVEAL_PERSONAL: "查看完整证件号码",
    Action.ARBITRATE: "仲裁问题学籍",
    Action.RESET_PASSWORD: "重置密码",
    Action.VIEW_GRANTS: "查看授权登记",
    Action.APPROVE_LOAN: "审批密码借用",
    Action.MANAGE_POLICY: "设置安全策略",
    Action.REVOKE_GRANT: "撤销授权",
    Action.VIEW_PROJECTS: "查看学前教育项目",
    Action.MANAGE_PROJECT: "填报学前教育项目",
    Action.RECORD_CENTRAL_FUNDS: "填报中央资金",
    Action.COMPUTE_FUNDING: "测算经费",
    Action.PUBLISH_NOTICE: "发布通知公告",
    Action.MANAGE_SUPPORT: "设置技术支持联系方式",
}


class PermissionDenied(PermissionError):
    """The actor may not do this. The message is Chinese and safe to show."""

    def __init__(self, action: Action, reason: str = "") -> None:
        self.action = action
        message = f"无权{ACTION_LABELS[action]}"
        super().__init__(f"{message}：{reason}" if reason else f"{message}。")


# Duties allowed per action, before the scope check.
_DUTIES: dict[Action, frozenset[Duty]] = {
    Action.VIEW_INSTITUTION: frozenset({Duty.ENTRY, Duty.REVIEWER, Duty.LEADER, Duty.SYSADMIN}),
    Action.EDIT_INSTITUTION: frozenset({Duty.ENTRY}),
    Action.VIEW_USER: frozenset({Duty.SYSADMIN, Duty.SECADMIN}),
    Action.MANAGE_USER: frozenset({Duty.SYSADMIN}),
    Action.UNLOCK_ACCOUNT: frozenset({Duty.SECADMIN}),
    Action.VIEW_AUDIT: frozenset({Duty.AUDITOR}),
    Action.IMPORT_REGIONS: frozenset({Duty.SYSADMIN}),
    Action.REGISTER_INSTITUTION: frozenset({Duty.SYSADMIN}),
    Action.REVIEW: frozenset({Duty.REVIEWER}),
    Action.DESIGN_FORM: frozenset({Duty.SYSADMIN}),
    Action.VIEW_CHILDREN: frozenset({Duty.ENTRY, Duty.REVIEWER, Duty.LEADER}),
    Action.MANAGE_CHILDREN: frozenset({Duty.ENTRY}),
    # Seeing a full number: the institution's clerk for its own children, reviewers in their scope.
    Action.REVEAL_PERSONAL: frozenset({Duty.ENTRY, Duty.REVIEWER}),
    Action.ARBITRATE: frozenset({Duty.REVIEWER}),
    # A forgotten password is reset by the administrator one level up (Notice 四.2).
    Action.RESET_PASSWORD: frozenset({Duty.SYSADMIN}),
    # The register of grants: kept by the system administrators, watched by the security ones.
    Action.VIEW_GRANTS: frozenset({Duty.SYSADMIN, Duty.SECADMIN}),
    # Lending a password needs the security administrator's prior approval (§18.3).
    Action.APPROVE_LOAN: frozenset({Duty.SECADMIN}),
    # The password policy: the security administrator of the deployment's top level.
    Action.MANAGE_POLICY: frozenset({Duty.SECADMIN}),
    # The security administrator watches the grants and takes back one given wrongly.
    Action.REVOKE_GRANT: frozenset({Duty.SECADMIN}),
    # Projects (§15): a bureau's reviewers and finance staff record their own level's projects and
    # update them monthly; leaders read them. The level above reviews them in its queue (REVIEW).
    Action.VIEW_PROJECTS: frozenset({Duty.REVIEWER, Duty.FINANCE, Duty.LEADER}),
    Action.MANAGE_PROJECT: frozenset({Duty.REVIEWER, Duty.FINANCE}),
    # The ministry records each province's central funds (§15).
    Action.RECORD_CENTRAL_FUNDS: frozenset({Duty.REVIEWER, Duty.FINANCE}),
    # The funding that follows the student numbers (R4.2): computed by a bureau's finance staff.
    Action.COMPUTE_FUNDING: frozenset({Duty.FINANCE}),
    # Notices go down from a bureau (R7.1): its leaders, reviewers and system administrators.
    Action.PUBLISH_NOTICE: frozenset({Duty.LEADER, Duty.REVIEWER, Duty.SYSADMIN}),
    # Each level's support contacts are set by that level's system administrator (§23).
    Action.MANAGE_SUPPORT: frozenset({Duty.SYSADMIN}),
}


def _codes_of(obj: Any) -> dict[str, Any]:
    """The scope-relevant attributes of a row (an institution's own id counts as institution)."""
    from portal.data.models import Institution

    institution_id = obj.id if isinstance(obj, Institution) else getattr(obj, "institution_id", None)
    return {
        "province_code": getattr(obj, "province_code", None),
        "city_code": getattr(obj, "city_code", None),
        "county_code": getattr(obj, "county_code", None),
        "township_code": getattr(obj, "township_code", None),
        "institution_id": institution_id,
    }


def in_scope(actor: Actor, obj: Any) -> bool:
    """Is this row inside the actor's region or institution?"""
    codes = _codes_of(obj)
    match actor.level:
        case Level.MINISTRY:
            return True
        case Level.PROVINCE:
            return codes["province_code"] is not None and codes["province_code"] == actor.province_code
        case Level.CITY:
            return codes["city_code"] is not None and codes["city_code"] == actor.city_code
        case Level.COUNTY:
            return codes["county_code"] is not None and codes["county_code"] == actor.county_code
        case Level.TOWNSHIP:
            return codes["township_code"] is not None and codes["township_code"] == actor.township_code
        case Level.INSTITUTION:
            return codes["institution_id"] is not None and codes["institution_id"] == actor.institution_id
    return False


def scope_filter(actor: Actor, model: Any) -> ColumnElement[bool]:
    """The SQL condition selecting the rows of ``model`` that the actor may see."""
    from portal.data.models import Institution

    def column(name: str) -> Any:
        return getattr(model, name, None)

    match actor.level:
        case Level.MINISTRY:
            return true()
        case Level.PROVINCE:
            col, value = column("province_code"), actor.province_code
        case Level.CITY:
            col, value = column("city_code"), actor.city_code
        case Level.COUNTY:
            col, value = column("county_code"), actor.county_code
        case Level.TOWNSHIP:
            col, value = column("township_code"), actor.township_code
        case Level.INSTITUTION:
            col = model.id if model is Institution else column("institution_id")
            value = actor.institution_id
        case _:
            return false()
    if col is None or value is None:
        return false()
    return col == value


def _may_manage_level(actor: Actor, target_level: Level) -> bool:
    """Administrators manage their own level and the level directly below (§18.1)."""
    actor_rank, target_rank = level_rank(actor.level), level_rank(target_level)
    if actor.level is Level.COUNTY:
        # Below a county bureau sit both township central kindergartens and institutions.
        return target_level in (Level.COUNTY, Level.TOWNSHIP, Level.INSTITUTION)
    return target_rank in (actor_rank, actor_rank + 1)


def _is_level_directly_above(actor_level: Level, target_level: Level) -> bool:
    """Is the actor's level the one directly above the target's? Below a county sit both the
    township central kindergartens and the institutions."""
    if actor_level is Level.COUNTY:
        return target_level in (Level.TOWNSHIP, Level.INSTITUTION)
    return level_rank(target_level) == level_rank(actor_level) + 1


def may(actor: Actor, action: Action, obj: Any = None) -> bool:
    """May ``actor`` do ``action`` to ``obj`` (or to this kind of object, when ``obj`` is None)?"""
    if actor.is_system:
        return True
    if actor.duty not in _DUTIES[action]:
        # Everyone may look at their own account.
        return action is Action.VIEW_USER and obj is not None and getattr(obj, "id", None) == actor.user_id
    if action is Action.IMPORT_REGIONS:
        return actor.level in (Level.MINISTRY, Level.PROVINCE)
    if action in (Action.EDIT_INSTITUTION, Action.MANAGE_CHILDREN) and actor.level is not Level.INSTITUTION:
        return False
    if action is Action.REVEAL_PERSONAL and actor.level not in (
        Level.INSTITUTION,
        Level.COUNTY,
        Level.CITY,
        Level.PROVINCE,
    ):
        return False
    if action is Action.ARBITRATE and actor.level not in (Level.PROVINCE, Level.CITY, Level.COUNTY):
        return False
    if action is Action.MANAGE_POLICY and actor.level not in (Level.MINISTRY, Level.PROVINCE):
        return False
    if action is Action.REGISTER_INSTITUTION and actor.level not in BUREAU_LEVELS:
        return False
    if action is Action.DESIGN_FORM and actor.level not in (Level.PROVINCE, Level.CITY, Level.COUNTY):
        return False
    if (
        action in (Action.VIEW_PROJECTS, Action.MANAGE_PROJECT, Action.PUBLISH_NOTICE, Action.MANAGE_SUPPORT)
        and actor.level not in BUREAU_LEVELS
    ):
        return False
    if action is Action.RECORD_CENTRAL_FUNDS and actor.level is not Level.MINISTRY:
        return False
    if action is Action.COMPUTE_FUNDING and actor.level not in (Level.PROVINCE, Level.CITY, Level.COUNTY):
        return False
    if obj is None:
        return True
    if not in_scope(actor, obj):
        return False
    if action is Action.MANAGE_USER:
        target_level = Level(obj.level)
        if not _may_manage_level(actor, target_level):
            return False
        # Nobody manages their own account through the admin screens.
        return obj.id != actor.user_id
    if action is Action.RESET_PASSWORD:
        return _is_level_directly_above(actor.level, Level(obj.level))
    if action is Action.REVOKE_GRANT:
        return obj.id != actor.user_id and level_rank(Level(obj.level)) >= level_rank(actor.level)
    if action is Action.APPROVE_LOAN:
        # ``obj`` is the owner's account: of the approver's own level or below, never their own.
        return obj.id != actor.user_id and level_rank(Level(obj.level)) >= level_rank(actor.level)
    return True


def require(actor: Actor, action: Action, obj: Any = None) -> None:
    """Raise PermissionDenied unless ``may(actor, action, obj)``."""
    if not may(actor, action, obj):
        reason = "" if obj is None or in_scope(actor, obj) else "对象不在您的管辖范围内。"
        raise PermissionDenied(action, reason)
