"""The page set of each role. One table decides which screens a role has; the entrypoint builds
``st.navigation`` from it and every page's guard checks it again."""

from __future__ import annotations

from dataclasses import dataclass

from portal.auth.actor import Actor
from portal.auth.roles import BUREAU_LEVELS, Duty, Level


@dataclass(frozen=True)
class PageSpec:
    key: str
    path: str  # relative to the repository root, where streamlit_app.py sits
    title: str
    icon: str
    url_path: str


PAGES: dict[str, PageSpec] = {
    spec.key: spec
    for spec in (
        PageSpec("bureau_home", "portal/pages/bureau/home.py", "工作台", ":material/dashboard:", "home"),
        PageSpec("township_home", "portal/pages/township/home.py", "工作台", ":material/dashboard:", "home"),
        PageSpec("kindergarten_home", "portal/pages/kindergarten/home.py", "本园概况", ":material/school:", "home"),
        PageSpec(
            "institutions", "portal/pages/common/institutions.py", "机构名录", ":material/list_alt:", "institutions"
        ),
        PageSpec("admin_home", "portal/pages/admin/home.py", "工作台", ":material/dashboard:", "home"),
        PageSpec("admin_users", "portal/pages/admin/users.py", "用户账户", ":material/group:", "users"),
        PageSpec(
            "admin_townships", "portal/pages/admin/townships.py", "乡镇导入", ":material/upload_file:", "townships"
        ),
        PageSpec("admin_locks", "portal/pages/admin/locks.py", "账户锁定", ":material/lock:", "locks"),
        PageSpec("admin_audit", "portal/pages/admin/audit_log.py", "审计日志", ":material/policy:", "audit"),
    )
}


def page_keys_for(actor: Actor) -> list[str]:
    """The keys of the pages this actor's role has, the home page first."""
    if actor.duty is Duty.SYSADMIN:
        keys = ["admin_home", "admin_users", "institutions"]
        if actor.level in (Level.MINISTRY, Level.PROVINCE):
            keys.append("admin_townships")
        return keys
    if actor.duty is Duty.SECADMIN:
        return ["admin_home", "admin_locks", "admin_users"]
    if actor.duty is Duty.AUDITOR:
        return ["admin_home", "admin_audit"]
    if actor.level in BUREAU_LEVELS:
        return ["bureau_home", "institutions"]
    if actor.level is Level.TOWNSHIP:
        return ["township_home", "institutions"]
    return ["kindergarten_home"]


def page_titles_for(actor: Actor) -> list[str]:
    return [PAGES[key].title for key in page_keys_for(actor)]
