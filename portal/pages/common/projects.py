"""学前教育项目 (§15, §16): the ministry records each province's central funds; a province, city or
county bureau records its own projects, submits them to the level above, enters their monthly
progress once approved, and reads the projects of the levels below it."""

import pandas as pd
import streamlit as st

from portal.auth.policy import Action, may
from portal.auth.roles import Level
from portal.services import projects
from portal.services.workflow import local_today
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.projects import central_funds_frame, money, pct, progress_frame, projects_frame
from portal.ui.text import md

FLASH = "projects_flash"
SEEN = "projects_seen_versions"  # the versions the user saw on the last run (optimistic checks)

actor = require_page("projects")
page_header("学前教育项目", actor)
show_flash(FLASH)
today = local_today()
settings = get_settings()
seen: dict[str, int] = dict(st.session_state.get(SEEN, {}))
shown: dict[str, int] = {}


def project_form(key: str, defaults: projects.ProjectDetail | None, button: str) -> projects.ProjectInput | None:
    """The project's fields; the input when the button was pressed."""
    sources = projects.allowed_sources(actor.level)
    row = defaults.row if defaults else None
    with st.form(key):
        name = st.text_input("项目名称", value=row.name if row else "", max_chars=200, key=f"{key}_name")
        left, mid, right = st.columns(3)
        source_keys = list(sources)
        source = left.selectbox(
            "资金来源",
            source_keys,
            index=source_keys.index(row.source) if row and row.source in source_keys else 0,
            format_func=sources.get,
            key=f"{key}_source",
        )
        year = mid.number_input(
            "年度", min_value=2000, max_value=2100, value=row.year if row else today.year, step=1, key=f"{key}_year"
        )
        amount = right.text_input(
            "安排金额（元）", value=str(row.amount) if row else "", placeholder="如 1250000.00", key=f"{key}_amount"
        )
        purpose = st.text_area("项目用途", value=defaults.purpose if defaults else "", key=f"{key}_purpose")
        institutions = st.text_area(
            "资助机构（机构标识码，每行一个或用逗号分隔；需写明分配金额时写作“机构标识码:金额”）",
            value=defaults.institutions_text if defaults else "",
            placeholder="4101220001:1200000\n4101220004",
            key=f"{key}_institutions",
        )
        if st.form_submit_button(button, type="primary", icon=":material/save:"):
            return projects.ProjectInput(
                name=name,
                source=str(source),
                year=int(year),
                amount=amount,
                purpose=purpose,
                institutions=institutions,
            )
    return None


def show_detail(detail: projects.ProjectDetail) -> None:
    """A project's fields, funded institutions and progress (with the evidence to download)."""
    row = detail.row
    st.markdown(f"**{md(row.name)}** · {row.state_label}")
    st.caption(
        f"{md(row.region_name)}{row.level_label}项目 · {row.year} 年 · 资金来源：{row.source_label} · "
        f"安排金额 {money(row.amount)} 元"
    )
    if detail.purpose:
        st.markdown(md(detail.purpose))
    if row.state == "returned" and row.return_reason:
        st.warning(f"驳回理由：{md(row.return_reason)}", icon=":material/undo:")
    if detail.institutions:
        st.dataframe(
            pd.DataFrame(
                [
                    {"机构标识码": i.code, "机构名称": i.name, "分配金额(元)": money(i.amount)}
                    for i in detail.institutions
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("未指定资助机构。")
    if row.state == "approved":
        st.caption(
            f"累计支出 {money(row.spent)} 元（{pct(row.spent_pct)}）· 进度 {pct(row.percent)} · {row.update_status}"
        )
    if detail.progress:
        st.dataframe(progress_frame(detail.progress), hide_index=True, width="stretch")
        for entry in detail.progress:
            if entry.has_evidence:
                st.download_button(
                    f"{entry.month} 佐证材料：{md(entry.evidence_name)}",
                    data=lambda month=entry.month: projects.read_progress_evidence(actor, row.id, month).data,
                    file_name=entry.evidence_name,
                    key=f"project_evidence_{row.id}_{entry.month}",
                    icon=":material/download:",
                )


def below_tab() -> None:
    rows = projects.list_projects(actor, below=True)
    if not rows:
        st.info("辖区内下级教育行政部门还没有提交项目。", icon=":material/info:")
        return
    st.dataframe(projects_frame(rows, with_region=True), hide_index=True, width="stretch")
    labels = {r.id: f"{r.id} · {r.region_name} · {r.name}（{r.state_label}）" for r in rows}
    picked = st.selectbox("查看项目", list(labels), format_func=labels.get, key="project_below_pick")
    if picked is not None:
        show_detail(projects.project_detail(actor, picked))


if actor.level is Level.MINISTRY:
    funds_tab, projects_tab = st.tabs(["中央资金", "各地项目"])
    with funds_tab, service_errors():
        st.caption("教育部录入各省（区、市）每年度的中央财政学前教育资金；各省教育行政部门可查看本省的记录。")
        funds = projects.list_central_funds(actor)
        for fund in funds:
            shown[f"fund:{fund.province_code}:{fund.year}"] = fund.version
        if funds:
            st.dataframe(central_funds_frame(funds), hide_index=True, width="stretch")
        else:
            st.info("还没有录入中央资金。", icon=":material/info:")
        if may(actor, Action.RECORD_CENTRAL_FUNDS):
            provinces = projects.province_choices(actor)
            with st.form("central_fund"):
                st.markdown("**录入或修改中央资金**（同一省份同一年度只有一条记录，再次录入即修改）")
                left, mid, right = st.columns(3)
                province = left.selectbox("省份", list(provinces), format_func=provinces.get, key="fund_province")
                year = mid.number_input(
                    "年度", min_value=2000, max_value=2100, value=today.year, step=1, key="fund_year"
                )
                amount = right.text_input("中央资金金额（元）", placeholder="如 128000000.00", key="fund_amount")
                note = st.text_input("备注", max_chars=500, key="fund_note")
                if st.form_submit_button("保存", type="primary", icon=":material/save:"):
                    with service_errors():
                        saved = projects.record_central_fund(
                            actor,
                            province_code=str(province or ""),
                            year=int(year),
                            amount=amount,
                            note=note,
                            version=seen.get(f"fund:{province}:{int(year)}"),
                        )
                        flash_and_rerun(
                            FLASH, f"已保存{saved.province_name} {saved.year} 年中央资金：{money(saved.amount)} 元。"
                        )
    with projects_tab, service_errors():
        below_tab()
else:
    own_tab, new_tab, lower_tab = st.tabs(["本级项目", "新建项目", "下级项目"])
    manage = may(actor, Action.MANAGE_PROJECT)
    with own_tab, service_errors():
        rows = projects.list_projects(actor)
        for r in rows:
            shown[f"project:{r.id}"] = r.version
        if not rows:
            st.info("还没有本级项目。" + ("请在“新建项目”中录入。" if manage else ""), icon=":material/info:")
        else:
            st.caption(
                f"审核通过的项目每月 {settings.monthly_update_day} 日前更新进展（累计支出、进度、说明和佐证材料），"
                "月末自动保存快照。"
            )
            st.dataframe(projects_frame(rows), hide_index=True, width="stretch")
            labels = {r.id: f"{r.id} · {r.name}（{r.state_label}）" for r in rows}
            picked = st.selectbox("选择项目", list(labels), format_func=labels.get, key="project_pick")
            detail = projects.project_detail(actor, picked) if picked is not None else None
            if detail is not None:
                show_detail(detail)
                row = detail.row
                version = seen.get(f"project:{row.id}")
                if detail.may_manage and row.state in projects.EDITABLE:
                    data = project_form(f"project_edit_{row.id}", detail, "保存修改")
                    if data is not None:
                        with service_errors():
                            projects.save_project(actor, data, project_id=row.id, version=version)
                            flash_and_rerun(FLASH, f"项目“{data.name.strip()}”已保存。")
                    left, right, _ = st.columns([1, 1, 3])
                    if left.button("提交审核", key="project_submit", type="primary", icon=":material/send:"):
                        with service_errors():
                            projects.submit_project(actor, row.id, version=version)
                            flash_and_rerun(FLASH, f"项目“{row.name}”已提交上级审核。")
                    if row.state == "saved" and right.button(
                        "删除项目", key="project_delete", icon=":material/delete:"
                    ):
                        with service_errors():
                            projects.delete_project(actor, row.id, version=version)
                            flash_and_rerun(FLASH, f"项目“{row.name}”已删除。")
                if detail.may_manage and row.state == "approved":
                    month = today.strftime("%Y-%m")
                    with st.form(f"project_progress_{row.id}", clear_on_submit=True):
                        st.markdown(f"**{month} 月度进展**（本月再次填报将替换本月数据）")
                        left, right = st.columns(2)
                        spent = left.text_input(
                            "累计支出金额（元）", placeholder=str(row.spent), key=f"progress_spent_{row.id}"
                        )
                        percent = right.text_input(
                            "项目进度（%，0–100）", placeholder=str(row.percent), key=f"progress_percent_{row.id}"
                        )
                        notes = st.text_area("进展说明", key=f"progress_notes_{row.id}")
                        upload = st.file_uploader("佐证材料（可选）", key=f"progress_file_{row.id}")
                        if st.form_submit_button("保存本月进展", type="primary", icon=":material/save:"):
                            with service_errors():
                                file = (upload.name, upload.getvalue()) if upload is not None else None
                                entry = projects.update_progress(
                                    actor, row.id, spent=spent, percent=percent, notes=notes, evidence_file=file
                                )
                                flash_and_rerun(
                                    FLASH,
                                    f"已保存“{row.name}”{entry.month} 进展：累计支出 {money(entry.spent)} 元，"
                                    f"进度 {pct(entry.percent)}。",
                                )
    with new_tab:
        if manage:
            data = project_form("project_new", None, "保存项目")
            if data is not None:
                with service_errors():
                    project_id = projects.save_project(actor, data)
                    flash_and_rerun(
                        FLASH, f"项目“{data.name.strip()}”已保存（编号 {project_id}），可在“本级项目”中提交审核。"
                    )
        else:
            st.info("您的角色只能查看项目。", icon=":material/visibility:")
    with lower_tab, service_errors():
        if actor.level is Level.COUNTY:
            st.info("县级是项目填报的最低一级，没有下级项目。", icon=":material/info:")
        else:
            below_tab()

st.session_state[SEEN] = shown
