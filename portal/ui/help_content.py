"""The texts of 帮助与支持: how to report a problem, and short how-tos for the pages a role has.

The how-tos are keyed by page key and named by the page's title in the navigation
(``portal.ui.navigation.PAGES``), so that a how-to never names a page the role does not have, nor
a page by another name than the one in the sidebar.
"""

from __future__ import annotations

from collections.abc import Callable

from portal.auth.actor import Actor
from portal.auth.policy import Action, may
from portal.auth.roles import Duty, Level
from portal.ui.navigation import PAGES, page_keys_for

REPORT_GUIDE = """\
遇到问题时，请**先联系离您最近的一级**技术支持（上表第一行）：幼儿园先找县级，县级找市级，依次向上（§23：逐级开展技术支持服务）。
本级解决不了的，由本级的技术支持人员向上一级反映，您不必重复报告。

报告问题时请写明：

1. **哪个页面**：左侧菜单中的页面名称，例如“幼儿信息”；
2. **什么时间**：出现问题的日期和大致时间（精确到分钟更好）；
3. **您的用户名**：例如 demo-clerk。**切勿告诉任何人您的密码或动态口令**，技术支持人员不会向您索要；
4. **操作步骤**：您依次点了什么、填了什么，期望看到什么，实际看到了什么；
5. **页面截图**：包含页面上的提示信息（截图前请遮住幼儿的证件号码等个人信息）。

忘记密码：请联系上一级系统管理员签发临时密码。账户被锁定：等锁定时间结束后再试，或请安全管理员解除锁定。
"""

HowTo = str | Callable[[Actor], str]


def _review_queue(actor: Actor) -> str:
    if actor.level is Level.INSTITUTION:
        return "本园的关键信息变更申请在这里审核：核对证明材料后通过或驳回（驳回须写明理由）。"
    if actor.level is Level.TOWNSHIP:
        return "本乡镇幼儿园提交、需由乡镇中心园办理的申请在这里：逐条核对后通过或驳回（驳回须写明理由）。"
    return (
        "本级待审核的各类申请都在这一个队列里（机构信息、幼儿信息、离园、转园等）：打开申请核对变更内容和证明材料，"
        "通过或驳回（驳回须写明理由）；临近或超过期限的请优先处理。"
    )


def _bulletins(actor: Actor) -> str:
    if actor.duty is Duty.LEADER and actor.level in (Level.PROVINCE, Level.CITY, Level.COUNTY):
        return "选择日期，生成并发布本地区的进度通报（Excel 和 PDF），下级地区和幼儿园即可查看。"
    return "查看上级发布的进度通报，下载 Excel 或 PDF 文件。"


def _notices(actor: Actor) -> str:
    reading = "未读的通知排在最前面，点“阅读”即记为已读；附件可直接下载。"
    if may(actor, Action.PUBLISH_NOTICE):
        return (
            "在“发布通知”中填写标题、正文，可附 PDF、图片、Word、Excel 或 WPS 文件，发给本地区各下级；"
            "在“本单位已发布”中查看各级已读、未读的人数和名单，必要时撤回。" + reading
        )
    return reading


def _help(actor: Actor) -> str:
    if may(actor, Action.MANAGE_SUPPORT):
        return (
            "系统管理员在本页设置本级的技术支持联系方式（单位、联系人、电话、邮箱、服务时间），本地区各级用户都能看到。"
        )
    return "查看各级技术支持联系方式和报告问题的方法。"


def _projects(actor: Actor) -> str:
    if actor.level is Level.MINISTRY:
        return "录入各省的中央资金，查看各级学前教育项目。"
    return "登记本级的学前教育项目（资金来源、年度、金额、资助的幼儿园），每月 25 日前更新进展，由上一级审核。"


HOWTOS: dict[str, HowTo] = {
    "kindergarten_registry": (
        "分基本信息、办园条件、园舍情况三部分填写本园信息，"
        "可先保存草稿，填完后提交审核；审核状态和驳回意见在同一页查看，"
        "修改后再次提交。"
    ),
    "kindergarten_classes": "录入幼儿前，先按学年建好班级；还有幼儿的班级不能删除。",
    "kindergarten_children": (
        "录入幼儿：新增幼儿，填写证件、户籍、监护人等信息并保存；"
        "核对无误后提交县级教育行政部门审核，审核通过后生成学籍号。"
        "被驳回的记录修改后再次提交。"
    ),
    "kindergarten_import": (
        "批量录入：下载 Excel 模板，按班级或全园填写后上传；"
        "有错误的行会标注原因，改正后再次导入。导入的幼儿还需在“幼儿信息”中提交审核。"
    ),
    "kindergarten_cycle": "调班、7 月毕业（含给小学的名单）、8 月升班，以及离园、意外离园的申报都在这里办理。",
    "kindergarten_problems": (
        "处理问题学籍：全省查重发现某幼儿已在其他园登记时，"
        "记录出现在这里。可以删除本园记录，修改后重新提交，"
        "或上传户口簿等佐证材料，等待教育行政部门仲裁。"
    ),
    "kindergarten_key_changes": (
        "已有学籍号的幼儿要改姓名、性别、出生日期或证件：登记监护人的申请并上传证明材料，由本园审核员在审核队列中审核。"
    ),
    "kindergarten_transfers": (
        "转园：由转入园凭幼儿的学籍号和姓名发起，转出园同意后，转入园把幼儿编入班级即完成；跨县转园还需两县审核。"
    ),
    "kindergarten_supervision": "填写教育行政部门发布的监管表单。",
    "review_queue": _review_queue,
    "arbitration": (
        "两所幼儿园登记了同一名幼儿时，对照双方记录和佐证材料作出仲裁（保留一方、"
        "保留另一方或认定为两名不同幼儿），决定立即生效并留痕。"
        "县内的由县级仲裁，跨县的由市级，跨市的由省级。"
    ),
    "transfers": "查看一方在本地区的转园，超期未办的排在前面；县级的转园审核在“审核队列”中办理。",
    "children": (
        "按状态和幼儿园查看本地区的幼儿（证件号码打码显示）；审核员写明理由后可查看完整证件号码，查看记入审计日志。"
    ),
    "bureau_progress": "查看各下级地区和幼儿园的录入、审核和学籍号获取进度，可逐级下钻到幼儿园、筛选和排名。",
    "bulletins": _bulletins,
    "projects": _projects,
    "project_dashboard": "对比各地区项目资金的下达与支出和进度，进展落后的排在前面。",
    "funding": (
        "经费测算：按设定的标准和基准日，依据审核通过、有学籍号的幼儿测算各园及各县市的经费，"
        "测算结果冻结保存，可导出 Excel 交财务使用。"
    ),
    "institutions": "查看和筛选管辖范围内的幼儿园。",
    "admin_users": "为本级和下一级开设账户、修改角色、停用或启用账户；下一级用户忘记密码时，为其签发临时密码。",
    "admin_grants": "每一次授予、变更、撤销角色都登记在这里，供上级备案、查阅和导出。",
    "admin_forms": "设计监管表单，发布给本地区的幼儿园，跟踪填报率，下载填报结果。",
    "admin_townships": "用 CSV 文件导入县区的乡镇。",
    "admin_baseline": "导入各县的教育统计基数（进度看板的分母），或更正单个数字。",
    "admin_locks": "登录失败次数过多被锁定的账户列在这里，安全管理员核实身份后可解除锁定。",
    "admin_loans": "审批用户借用密码的申请（借给谁、为什么、到何时）；借用结束后须修改密码。",
    "admin_policy": (
        "在等级保护三级允许的范围内设置密码长度与复杂度、使用期限、"
        "临时密码有效期、账户闲置停用、密码借用期限和是否全员使用动态口令。"
    ),
    "admin_audit": "按时间、用户、操作筛选审计日志并导出，核验审计链是否完整。",
    "notices": _notices,
    "help": _help,
    "account": "修改密码、绑定动态口令，申请借用密码。",
}


def howtos_for(actor: Actor) -> list[tuple[str, str]]:
    """(page title, how-to) for the pages the actor's role has, in the sidebar's order."""
    found: list[tuple[str, str]] = []
    for key in page_keys_for(actor):
        howto = HOWTOS.get(key)
        if howto is None or key not in PAGES:
            continue
        found.append((PAGES[key].title, howto(actor) if callable(howto) else howto))
    return found
