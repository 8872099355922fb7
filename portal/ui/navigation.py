"""The page set of each role. One table decides which screens a role has; the entrypoint builds
``st.navigation`` from it and every page's guard checks it again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from portal.auth.actor import Actor
from portal.auth.roles import BUREAU_LEVELS, Duty, Level
from portal.settings import get_settings


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
        PageSpec("bureau_progress", "portal/pages/bureau/progress.py", "进度看板", ":material/monitoring:", "progress"),
        PageSpec("township_home", "portal/pages/township/home.py", "工作台", ":material/dashboard:", "home"),
        PageSpec("kindergarten_home", "portal/pages/kindergarten/home.py", "本园概况", ":material/school:", "home"),
        PageSpec(
            "kindergarten_registry",
            "portal/pages/kindergarten/registry.py",
            "信息填报",
            ":material/edit_note:",
            "registry",
        ),
        PageSpec(
            "kindergarten_classes", "portal/pages/kindergarten/classes.py", "班级管理", ":material/groups:", "classes"
        ),
        PageSpec(
            "kindergarten_children",
            "portal/pages/kindergarten/children.py",
            "幼儿信息",
            ":material/child_care:",
            "children",
        ),
        PageSpec(
            "kindergarten_cycle", "portal/pages/kindergarten/cycle.py", "学年工作", ":material/event_repeat:", "cycle"
        ),
        PageSpec(
            "kindergarten_import",
            "portal/pages/kindergarten/child_import.py",
            "批量导入",
            ":material/upload_file:",
            "import",
        ),
        PageSpec(
            "kindergarten_problems",
            "portal/pages/kindergarten/problems.py",
            "问题学籍",
            ":material/report:",
            "problems",
        ),
        PageSpec(
            "kindergarten_key_changes",
            "portal/pages/kindergarten/key_changes.py",
            "关键信息变更",
            ":material/badge:",
            "key_changes",
        ),
        PageSpec(
            "kindergarten_transfers",
            "portal/pages/kindergarten/transfers.py",
            "转园",
            ":material/swap_horiz:",
            "transfers",
        ),
        PageSpec(
            "kindergarten_supervision",
            "portal/pages/kindergarten/supervision.py",
            "监管信息",
            ":material/assignment:",
            "supervision",
        ),
        PageSpec("admin_forms", "portal/pages/admin/forms.py", "监管表单", ":material/dynamic_form:", "forms"),
        PageSpec("review_queue", "portal/pages/common/review_queue.py", "审核队列", ":material/fact_check:", "queue"),
        PageSpec(
            "institutions", "portal/pages/common/institutions.py", "机构名录", ":material/list_alt:", "institutions"
        ),
        PageSpec("children", "portal/pages/common/children.py", "幼儿信息", ":material/child_care:", "children"),
        PageSpec("bulletins", "portal/pages/common/bulletins.py", "通报", ":material/campaign:", "bulletins"),
        PageSpec("transfers", "portal/pages/common/transfers.py", "转园监管", ":material/swap_horiz:", "transfers"),
        PageSpec(
            "arbitration", "portal/pages/common/arbitration.py", "问题学籍仲裁", ":material/gavel:", "arbitration"
        ),
        PageSpec("admin_home", "portal/pages/admin/home.py", "工作台", ":material/dashboard:", "home"),
        PageSpec("admin_users", "portal/pages/admin/users.py", "用户账户", ":material/group:", "users"),
        PageSpec(
            "admin_townships", "portal/pages/admin/townships.py", "乡镇导入", ":material/upload_file:", "townships"
        ),
        PageSpec("admin_baseline", "portal/pages/admin/baseline.py", "统计基数", ":material/table_chart:", "baseline"),
        PageSpec("admin_locks", "portal/pages/admin/locks.py", "账户锁定", ":material/lock:", "locks"),
        PageSpec("admin_audit", "portal/pages/admin/audit_log.py", "审计日志", ":material/policy:", "audit"),
        PageSpec("admin_grants", "portal/pages/admin/grants.py", "授权登记", ":material/assignment_ind:", "grants"),
        PageSpec("admin_policy", "portal/pages/admin/policy.py", "安全策略", ":material/shield_lock:", "policy"),
        PageSpec("admin_loans", "portal/pages/admin/loans.py", "密码借用审批", ":material/key:", "loans"),
        PageSpec(
            "projects", "portal/pages/common/projects.py", "学前教育项目", ":material/account_balance:", "projects"
        ),
        PageSpec(
            "project_dashboard",
            "portal/pages/bureau/project_dashboard.py",
            "项目进展看板",
            ":material/query_stats:",
            "project_dashboard",
        ),
        PageSpec("national_dashboard", "portal/pages/bureau/national.py", "全国汇总", ":material/public:", "national"),
        PageSpec("funding", "portal/pages/finance/funding.py", "经费测算", ":material/payments:", "funding"),
        PageSpec("notices", "portal/pages/common/notices.py", "通知公告", ":material/notifications:", "notices"),
        PageSpec("help", "portal/pages/common/help.py", "帮助与支持", ":material/help:", "help"),
        PageSpec("account", "portal/pages/common/account.py", "我的账户", ":material/manage_accounts:", "account"),
    )
}


def page_keys_for(actor: Actor) -> list[str]:
    """The keys of the pages this actor's role has, the home page first; every role ends with the
    notice board, help and 我的账户."""
    return [*_role_page_keys(actor), "notices", "help", "account"]


def _national_ministry(actor: Actor) -> bool:
    """A ministry user of the national deployment, which imports the provinces' packages."""
    return actor.level is Level.MINISTRY and get_settings().deployment == "national"


def _role_page_keys(actor: Actor) -> list[str]:
    if actor.duty is Duty.SYSADMIN:
        keys = ["admin_home", "admin_users", "admin_grants", "institutions"]
        if actor.level in (Level.PROVINCE, Level.CITY, Level.COUNTY):
            keys.append("admin_forms")
        if actor.level in (Level.MINISTRY, Level.PROVINCE):
            keys.append("admin_townships")
        if actor.level is Level.PROVINCE:
            keys.append("admin_baseline")
        if _national_ministry(actor):
            keys.append("national_dashboard")
        return keys
    if actor.duty is Duty.SECADMIN:
        policy = ["admin_policy"] if actor.level in (Level.MINISTRY, Level.PROVINCE) else []
        return ["admin_home", "admin_locks", "admin_loans", *policy, "admin_grants", "admin_users"]
    if actor.duty is Duty.AUDITOR:
        return ["admin_home", "admin_audit"]
    if actor.duty is Duty.FINANCE:
        # The ministry's finance staff record the central funds; the bureaus' compute the funding.
        funding = [] if actor.level is Level.MINISTRY else ["funding"]
        return [*funding, "projects", "project_dashboard"]
    queue = ["review_queue"] if actor.duty is Duty.REVIEWER else []
    # Children's records: bureaus and the township read them (reviewers and leaders); the
    # reviewers of a county, city or province bureau arbitrate problem records between institutions.
    children = ["children"] if actor.duty in (Duty.REVIEWER, Duty.LEADER) else []
    if actor.level in BUREAU_LEVELS:
        arbitration = (
            ["arbitration"]
            if actor.duty is Duty.REVIEWER and actor.level in (Level.PROVINCE, Level.CITY, Level.COUNTY)
            else []
        )
        # Transfers touch the counties on both sides; the ministry has no part in them.
        transfers = ["transfers"] if children and actor.level is not Level.MINISTRY else []
        # The progress dashboard: the province, city and county bureaus' reviewers and leaders.
        dashboard = ["bureau_progress"] if transfers else []
        bulletins = ["bulletins"] if transfers else []
        # Projects (§15): every bureau's reviewers record them, its leaders watch the dashboard.
        projects = ["projects"] if actor.duty is Duty.REVIEWER else []
        projects.append("project_dashboard")
        # The ministry's national deployment: the provinces' exchange packages (R8.5).
        national = (
            ["national_dashboard"]
            if actor.level is Level.MINISTRY
            and actor.duty is not Duty.FINANCE
            and get_settings().deployment == "national"
            else []
        )
        return [
            "bureau_home",
            *national,
            *dashboard,
            *bulletins,
            *queue,
            *children,
            *transfers,
            *arbitration,
            *projects,
            "institutions",
        ]
    if actor.level is Level.TOWNSHIP:
        return ["township_home", *queue, *children, "bulletins", "institutions"]
    if actor.duty is Duty.ENTRY:
        return [
            "kindergarten_home",
            "kindergarten_registry",
            "kindergarten_classes",
            "kindergarten_children",
            "kindergarten_cycle",
            "kindergarten_import",
            "kindergarten_problems",
            "kindergarten_key_changes",
            "kindergarten_transfers",
            "kindergarten_supervision",
            "bulletins",
        ]
    # An institution's reviewer decides its own requests (key-information changes) in the queue.
    return ["kindergarten_home", *queue, "bulletins"]


def url_paths() -> list[str]:
    """Every page address of the portal, each once."""
    return list(dict.fromkeys(spec.url_path for spec in PAGES.values()))


def build_pages(actor: Actor | None, login_page: Callable[[], None]) -> list[st.Page]:
    """The pages for ``st.navigation``.

    Logged out: the login page, also answering (hidden) at every address of the portal, so that a
    deep link shows the login form and, after login, the page asked for if the role has it.
    Logged in: the role's pages, and a hidden "no permission" page at every other address.
    """
    if actor is None:
        pages = [st.Page(login_page, title="登录", icon=":material/login:", url_path="login", default=True)]
        pages += [st.Page(login_page, title="登录", url_path=path, visibility="hidden") for path in url_paths()]
        return pages
    keys = page_keys_for(actor)
    home = PAGES[keys[0]]

    def no_permission_page() -> None:
        st.error("您没有访问此页面的权限。", icon=":material/block:")
        st.page_link(home.path, label=f"返回{home.title}", icon=home.icon)

    pages = []
    for index, key in enumerate(keys):
        spec = PAGES[key]
        pages.append(st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=index == 0))
    own = {PAGES[key].url_path for key in keys}
    pages += [
        st.Page(no_permission_page, title=NO_PERMISSION_TITLE, url_path=path, visibility="hidden")
        for path in url_paths()
        if path not in own
    ]
    return pages


NO_PERMISSION_TITLE = "无权访问"
